/**
 * The sequential specification of one key: a register that starts absent (`null`) and
 * supports read, write and compare-and-set. Values compare with `===`.
 */

import { show, type Operation, type RegisterValue } from './history.js';
import type { Model } from './model.js';

export const registerModel: Model<RegisterValue> = {
  initial: null,

  step(state, op) {
    const input = op.input;
    switch (input.kind) {
      case 'read':
        // Only `ok` reads reach the search (an `info` read constrains nothing).
        return op.output === state ? state : undefined;
      case 'write':
        return input.value;
      case 'cas':
        // A cas that reaches the search succeeded (`ok`) or may have (`info`); a failed
        // comparison is a `fail`, which has no effect and is dropped beforehand.
        return state === input.from ? input.to : undefined;
    }
  },

  equal: (a, b) => a === b,

  hash(state) {
    // Tag the type so that 1 and '1' (equal as text) usually land in different buckets.
    const text = state === null ? 'n' : typeof state === 'number' ? `#${state}` : `s${state}`;
    return fnv1a(text);
  },

  show,
};

/** Whether `op` needs the search at all: failed ops had no effect and info reads say nothing. */
export function constrainsRegister(op: Operation): boolean {
  if (op.status === 'fail') return false;
  if (op.status === 'info' && op.input.kind === 'read') return false;
  return true;
}

/**
 * Drops `info` writes and compare-and-sets whose written value nothing ever needs: no `ok` read
 * returns it and no kept cas compares against it. Such an operation can only move the register
 * to a value no later operation may observe, so a linearization with it has one without it;
 * dropping it is sound, and it removes the bulk of the search on histories with many timeouts
 * (each unknown operation otherwise doubles the configurations to explore).
 */
export function pruneUnobservedInfo(ops: readonly Operation[]): Operation[] {
  const needed = new Set<RegisterValue>();
  for (const op of ops) {
    if (op.status !== 'ok') continue;
    if (op.input.kind === 'read') needed.add(op.output ?? null);
    else if (op.input.kind === 'cas') needed.add(op.input.from);
  }
  const kept = new Set<Operation>(ops.filter((op) => op.status === 'ok'));
  // A kept info cas needs its `from` value in turn: grow to a fixpoint.
  for (let grew = true; grew; ) {
    grew = false;
    for (const op of ops) {
      if (kept.has(op) || op.status !== 'info') continue;
      const written = op.input.kind === 'write' ? op.input.value : op.input.kind === 'cas' ? op.input.to : undefined;
      if (written === undefined || !needed.has(written)) continue;
      kept.add(op);
      if (op.input.kind === 'cas') needed.add(op.input.from);
      grew = true;
    }
  }
  return ops.filter((op) => kept.has(op));
}

/** 32-bit FNV-1a over UTF-16 code units: cheap, deterministic, good enough for buckets. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
