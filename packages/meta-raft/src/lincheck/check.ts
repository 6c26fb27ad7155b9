/**
 * The search for a linearization of one independent object (one key), after Wing & Gong as
 * improved by Lowe ("Testing for linearizability", 2017).
 *
 * Every call and every return is an entry in a doubly linked list ordered by time. The search
 * walks the list from its head: an operation whose call comes before the first remaining
 * return may take effect next, so it tries each in turn; if the model accepts one, it is
 * lifted out of the list (call and return entries), pushed on an undo stack, and the walk
 * restarts at the head. Reaching a return means the operation that returns there should have
 * taken effect already: undo the last choice and try the next candidate after it. Lowe's
 * improvement is to remember each configuration reached, (set of operations taken effect,
 * model state), and never explore one twice; that turns the exponential search into one that
 * is fast on real histories.
 *
 * Operations with an unknown outcome (`info`) have a call entry but no return entry: nothing
 * ever forces them to take effect, and the search succeeds once every `ok` operation has,
 * whatever remains of the `info` ones.
 *
 * Ties: entries are ordered by time, and at equal times every call comes before every return.
 * So a call at the same instant as a return is concurrent with it (either order is allowed);
 * only a call strictly after a return is ordered after it. Producers that want two operations
 * ordered should give them strictly increasing times. This choice can hide a real violation
 * on a coarse clock but never reports a false one.
 *
 * Deterministic: no clocks, no randomness; work is bounded by `maxSteps` (one step is one
 * visit to a list entry), beyond which the verdict is `unknown`.
 */

import type { Operation } from './history.js';
import type { Model } from './model.js';

export const DEFAULT_MAX_STEPS = 5_000_000;

export interface SearchOptions {
  /** Steps allowed before giving up with `unknown`. Default {@link DEFAULT_MAX_STEPS}. */
  readonly maxSteps?: number;
}

/** Where the search got to: the longest sequence of operations that took effect consistently. */
export interface SearchProgress<S> {
  readonly steps: number;
  /** Operations searched: the input minus `fail` ones. */
  readonly operations: number;
  /** The longest linearizable prefix found, in linearization order. */
  readonly prefix: readonly Operation[];
  /** The model state after `prefix`. */
  readonly stateAfterPrefix: S;
}

export type SearchOutcome<S> =
  | {
      readonly verdict: 'linearizable';
      readonly steps: number;
      readonly operations: number;
      /** A witness: the order in which the operations took effect (unused `info` ones omitted). */
      readonly linearization: readonly Operation[];
    }
  | (SearchProgress<S> & {
      readonly verdict: 'violation';
      /**
       * The `ok` operation that returns first among those not in `prefix`: it must take
       * effect after `prefix` and before it returns, and nothing allowed there could.
       */
      readonly stuck: Operation;
      /**
       * The operations that could take effect right after `prefix` (called before `stuck`
       * returns, `stuck` included); the model rejects each of them in `stateAfterPrefix`.
       */
      readonly candidates: readonly Operation[];
    })
  | (SearchProgress<S> & { readonly verdict: 'unknown' });

/**
 * Decides whether `ops` (all on one independent object) are linearizable with respect to
 * `model`. `fail` operations are ignored; `info` ones may take effect at any time after their
 * call, or never. Throws RangeError on malformed times.
 */
export function searchLinearization<S>(
  ops: readonly Operation[],
  model: Model<S>,
  options: SearchOptions = {},
): SearchOutcome<S> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const live = ops.filter((op) => op.status !== 'fail');
  live.forEach(validate);
  const n = live.length;
  const list = EventList.build(live);

  const words = Math.ceil(n / 32);
  const linearized = new Uint32Array(words);
  const opHash = Uint32Array.from({ length: n }, (_, i) => fmix32(i + 1));
  let linearizedHash = 0;
  const visited = new VisitedSet<S>(words, model);

  // The undo stack: which operation took effect at each depth, and the state before it.
  const stackOp = new Int32Array(n);
  const stackState: S[] = [];
  let depth = 0;
  let state = model.initial;
  let remainingOk = live.reduce((count, op) => count + (op.status === 'ok' ? 1 : 0), 0);

  // The longest prefix so far; `best[0, agree)` is known to equal `stackOp[0, agree)`.
  const best: number[] = [];
  let agree = 0;

  let steps = 0;
  let entry = list.first();
  while (remainingOk > 0) {
    if (steps >= maxSteps) {
      return { verdict: 'unknown', ...progress(live, model, best, steps) };
    }
    steps++;
    const op = list.op[entry];
    if (list.isCall(entry)) {
      const next = model.step(state, live[op]);
      if (next !== undefined) {
        const word = op >>> 5;
        const bit = 1 << (op & 31);
        linearized[word] |= bit;
        const hash = linearizedHash ^ opHash[op];
        if (visited.add(linearized, hash, next)) {
          stackOp[depth] = op;
          stackState[depth] = state;
          depth++;
          if (depth > best.length) {
            best.length = agree;
            for (let i = agree; i < depth; i++) best.push(stackOp[i]);
            agree = depth;
          }
          state = next;
          linearizedHash = hash;
          if (live[op].status === 'ok') remainingOk--;
          list.lift(entry);
          entry = list.first();
          continue;
        }
        linearized[word] &= ~bit;
      }
      entry = list.next[entry];
    } else {
      // A return: the operation returning here has not taken effect, so undo the last choice.
      if (depth === 0) {
        const outcome = progress(live, model, best, steps);
        const { stuck, candidates } = blockedAfter(live, list, best);
        return { verdict: 'violation', ...outcome, stuck, candidates };
      }
      depth--;
      if (agree > depth) agree = depth;
      const undone = stackOp[depth];
      state = stackState[depth];
      linearized[undone >>> 5] &= ~(1 << (undone & 31));
      linearizedHash ^= opHash[undone];
      if (live[undone].status === 'ok') remainingOk++;
      const callEntry = list.callEntry[undone];
      list.unlift(callEntry);
      entry = list.next[callEntry];
    }
  }
  const linearization = Array.from(stackOp.subarray(0, depth), (i) => live[i]);
  return { verdict: 'linearizable', steps, operations: n, linearization };
}

function validate(op: Operation): void {
  if (!Number.isFinite(op.call)) {
    throw new RangeError(`operation call time must be finite: ${JSON.stringify(op)}`);
  }
  if (op.status === 'ok' && !(Number.isFinite(op.ret) && op.ret >= op.call)) {
    throw new RangeError(`ok operation needs a finite ret >= call: ${JSON.stringify(op)}`);
  }
}

/**
 * Calls and returns ordered by time, as a doubly linked list over typed arrays. Entry 0 is the
 * head sentinel; -1 ends the list. Lifting removes an operation's call and return entries and
 * keeps their own links, so undoing in reverse order puts them back exactly.
 */
class EventList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** The operation (index into the searched array) of each entry; -1 for the head. */
  readonly op: Int32Array;
  /** Each operation's call entry and return entry (-1: none, for `info`). Entries are numbered
   * in time order, so comparing two entry numbers compares their times. */
  readonly callEntry: Int32Array;
  readonly returnEntry: Int32Array;

  private constructor(entries: number, operations: number) {
    this.next = new Int32Array(entries + 1).fill(-1);
    this.prev = new Int32Array(entries + 1).fill(-1);
    this.op = new Int32Array(entries + 1).fill(-1);
    this.callEntry = new Int32Array(operations).fill(-1);
    this.returnEntry = new Int32Array(operations).fill(-1);
  }

  static build(ops: readonly Operation[]): EventList {
    const events: { time: number; isCall: boolean; op: number }[] = [];
    ops.forEach((op, i) => {
      events.push({ time: op.call, isCall: true, op: i });
      if (op.status === 'ok') events.push({ time: op.ret, isCall: false, op: i });
    });
    // By time; at equal times calls first (concurrent with the returns), then by input order.
    events.sort(
      (a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op,
    );
    const list = new EventList(events.length, ops.length);
    let previous = 0;
    events.forEach((event, i) => {
      const entry = i + 1;
      list.op[entry] = event.op;
      (event.isCall ? list.callEntry : list.returnEntry)[event.op] = entry;
      list.prev[entry] = previous;
      list.next[previous] = entry;
      previous = entry;
    });
    return list;
  }

  first(): number {
    return this.next[0];
  }

  isCall(entry: number): boolean {
    return this.callEntry[this.op[entry]] === entry;
  }

  lift(callEntry: number): void {
    this.unlink(callEntry);
    const ret = this.returnEntry[this.op[callEntry]];
    if (ret >= 0) this.unlink(ret);
  }

  unlift(callEntry: number): void {
    const ret = this.returnEntry[this.op[callEntry]];
    if (ret >= 0) this.relink(ret);
    this.relink(callEntry);
  }

  private unlink(entry: number): void {
    const prev = this.prev[entry];
    const next = this.next[entry];
    this.next[prev] = next;
    if (next >= 0) this.prev[next] = prev;
  }

  private relink(entry: number): void {
    const prev = this.prev[entry];
    const next = this.next[entry];
    this.next[prev] = entry;
    if (next >= 0) this.prev[next] = entry;
  }
}

/**
 * The configurations already explored: (set of operations taken effect, model state).
 * Sets are stored packed in one growing arena and chained per hash bucket, so a hard search
 * costs a few words per configuration rather than an object each.
 */
class VisitedSet<S> {
  private readonly buckets = new Map<number, number>();
  private arena: Uint32Array;
  private chain: Int32Array;
  private readonly states: S[] = [];

  constructor(
    private readonly words: number,
    private readonly model: Model<S>,
  ) {
    this.arena = new Uint32Array(Math.max(1, words) * 1024);
    this.chain = new Int32Array(1024);
  }

  /** Records the configuration; false if it was already there. */
  add(bits: Uint32Array, bitsHash: number, state: S): boolean {
    const key = fmix32(bitsHash ^ Math.imul(this.model.hash(state), 0x9e3779b1));
    const head = this.buckets.get(key) ?? -1;
    for (let i = head; i >= 0; i = this.chain[i]) {
      if (this.model.equal(this.states[i], state) && this.sameBits(i, bits)) return false;
    }
    const index = this.states.length;
    this.reserve(index + 1);
    this.arena.set(bits, index * this.words);
    this.chain[index] = head;
    this.states.push(state);
    this.buckets.set(key, index);
    return true;
  }

  private sameBits(index: number, bits: Uint32Array): boolean {
    const base = index * this.words;
    for (let w = 0; w < this.words; w++) {
      if (this.arena[base + w] !== bits[w]) return false;
    }
    return true;
  }

  private reserve(count: number): void {
    if (count <= this.chain.length) return;
    const capacity = this.chain.length * 2;
    const chain = new Int32Array(capacity);
    chain.set(this.chain);
    this.chain = chain;
    const arena = new Uint32Array(Math.max(1, this.words) * capacity);
    arena.set(this.arena);
    this.arena = arena;
  }
}

function progress<S>(
  live: readonly Operation[],
  model: Model<S>,
  best: readonly number[],
  steps: number,
): SearchProgress<S> {
  const prefix = best.map((i) => live[i]);
  let state = model.initial;
  for (const op of prefix) state = model.step(state, op) as S;
  return { steps, operations: live.length, prefix, stateAfterPrefix: state };
}

/** After the longest prefix: the first `ok` return left, and what could have gone before it. */
function blockedAfter(
  live: readonly Operation[],
  list: EventList,
  best: readonly number[],
): { stuck: Operation; candidates: Operation[] } {
  const done = new Set(best);
  let stuck = -1;
  for (let i = 0; i < live.length; i++) {
    if (done.has(i) || live[i].status !== 'ok') continue;
    if (stuck < 0 || list.returnEntry[i] < list.returnEntry[stuck]) stuck = i;
  }
  const deadline = list.returnEntry[stuck];
  const candidates: number[] = [];
  for (let i = 0; i < live.length; i++) {
    if (!done.has(i) && list.callEntry[i] < deadline) candidates.push(i);
  }
  candidates.sort((a, b) => list.callEntry[a] - list.callEntry[b]);
  return { stuck: live[stuck], candidates: candidates.map((i) => live[i]) };
}

/** Murmur3's 32-bit finalizer: spreads consecutive integers over the whole range. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
