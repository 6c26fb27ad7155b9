/**
 * What the search needs to know about the object under test: a sequential specification.
 * Kept separate from the register so the search can be read (and tested) without it.
 */

import type { Operation } from './history.js';

export interface Model<S> {
  /** The state before any operation. */
  readonly initial: S;
  /**
   * The state after `op` takes effect in `state`, or `undefined` if `op` could not have
   * produced its recorded outcome there. `S` must therefore not include `undefined`.
   */
  step(state: S, op: Operation): S | undefined;
  /** Whether two states are the same, for memoizing visited configurations. */
  equal(a: S, b: S): boolean;
  /** A hash consistent with `equal`. */
  hash(state: S): number;
  /** For failure reports. */
  show(state: S): string;
}
