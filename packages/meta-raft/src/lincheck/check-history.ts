/**
 * Checks a whole key-value history: each key is an independent register, and a history is
 * linearizable exactly when the sub-history of every key is (linearizability is local, so
 * this "P-compositional" split is sound and shrinks the search from a product to a sum).
 */

import { describeOperation, show, type Operation, type RegisterValue } from './history.js';
import { searchLinearization, type SearchOptions } from './check.js';
import { constrainsRegister, pruneUnobservedInfo, registerModel } from './register-model.js';

export type Verdict = 'linearizable' | 'violation' | 'unknown';

export interface KeyStats {
  readonly key: string;
  /** Operations searched on this key (after dropping `fail` ops, `info` reads and unobserved `info` writes). */
  readonly operations: number;
  /** Search steps spent on this key. */
  readonly steps: number;
}

export interface LinearizableKey extends KeyStats {
  readonly ok: true;
  readonly verdict: 'linearizable';
}

/** Why a key is not linearizable, small enough to read. */
export interface ViolationKey extends KeyStats {
  readonly ok: false;
  readonly verdict: 'violation';
  /** One paragraph for humans, built from the fields below. */
  readonly reason: string;
  /** Length of the longest linearizable prefix the search found. */
  readonly prefixLength: number;
  /** Its last few operations, in the order they took effect. */
  readonly prefixTail: readonly Operation[];
  /** The register after that prefix. */
  readonly valueAfterPrefix: RegisterValue;
  /** The `ok` operation that returns first after the prefix; it cannot be fitted in. */
  readonly stuck: Operation;
  /** The operations that could come next (the first few); none can take effect there. */
  readonly candidates: readonly Operation[];
  /** How many candidates there were in all. */
  readonly candidateCount: number;
}

export interface UnknownKey extends KeyStats {
  readonly ok: false;
  readonly verdict: 'unknown';
  readonly reason: string;
}

export type KeyResult = LinearizableKey | ViolationKey | UnknownKey;

/**
 * `ok: true` when every key is linearizable. Otherwise the fields of the first key with a
 * violation (or, failing that, the first key whose search ran out of steps), so a caller can
 * `if (!result.ok) fail(result.reason)`. `keys` holds every key's result, in order of first
 * appearance in the history.
 */
export type HistoryResult = (
  | { readonly ok: true; readonly verdict: 'linearizable' }
  | ViolationKey
  | UnknownKey
) & { readonly keys: readonly KeyResult[] };

export interface CheckOptions extends SearchOptions {
  /** Applies per key: each key gets its own budget of `maxSteps`. */
  readonly maxSteps?: number;
}

const PREFIX_TAIL = 5;
const CANDIDATES_SHOWN = 8;

/** Checks every key of `history` independently; see {@link HistoryResult}. */
export function checkHistory(history: readonly Operation[], options: CheckOptions = {}): HistoryResult {
  const keys = [...partitionByKey(history)].map(([key, ops]) => checkKey(key, ops, options));
  const worst =
    keys.find((result) => result.verdict === 'violation') ??
    keys.find((result) => result.verdict === 'unknown');
  return worst === undefined ? { ok: true, verdict: 'linearizable', keys } : { ...worst, keys };
}

/** Groups operations by key, keeping keys in order of first appearance. */
export function partitionByKey(history: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    let ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, (ops = []));
    ops.push(op);
  }
  return byKey;
}

/** Checks the operations of one key (all of `ops` are taken to be on `key`). */
export function checkKey(key: string, ops: readonly Operation[], options: SearchOptions = {}): KeyResult {
  const outcome = searchLinearization(pruneUnobservedInfo(ops.filter(constrainsRegister)), registerModel, options);
  const stats = { key, operations: outcome.operations, steps: outcome.steps };
  switch (outcome.verdict) {
    case 'linearizable':
      return { ok: true, verdict: 'linearizable', ...stats };
    case 'unknown':
      return {
        ok: false,
        verdict: 'unknown',
        ...stats,
        reason:
          `key ${JSON.stringify(key)}: gave up after ${outcome.steps} steps ` +
          `(${outcome.operations} operations; longest linearizable prefix found: ${outcome.prefix.length})`,
      };
    case 'violation': {
      const prefixTail = outcome.prefix.slice(-PREFIX_TAIL);
      const candidates = outcome.candidates.slice(0, CANDIDATES_SHOWN);
      const more = outcome.candidates.length - candidates.length;
      const reason =
        `key ${JSON.stringify(key)}: not linearizable. ` +
        `The longest linearizable prefix found has ${outcome.prefix.length} of ${outcome.operations} operations` +
        (prefixTail.length > 0 ? `, ending ${prefixTail.map(describeOperation).join('; ')},` : '') +
        ` and leaves the register at ${show(outcome.stateAfterPrefix)}. ` +
        `${describeOperation(outcome.stuck)} must take effect before it returns, ` +
        (outcome.candidates.length === 1
          ? `and is the only operation that could come next, but it cannot take effect on ${show(outcome.stateAfterPrefix)}.`
          : `yet none of the ${outcome.candidates.length} operations that could come next can take effect on ` +
            `${show(outcome.stateAfterPrefix)}: ${candidates.map(describeOperation).join('; ')}` +
            (more > 0 ? `; and ${more} more.` : '.'));
      return {
        ok: false,
        verdict: 'violation',
        ...stats,
        reason,
        prefixLength: outcome.prefix.length,
        prefixTail,
        valueAfterPrefix: outcome.stateAfterPrefix,
        stuck: outcome.stuck,
        candidates,
        candidateCount: outcome.candidates.length,
      };
    }
  }
}
