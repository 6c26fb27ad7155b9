/**
 * An invariant of the algorithm does not hold: the node is in a state it must never be in.
 * Assertions stay on in production (TigerBeetle's rule): stopping beats continuing wrongly.
 */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
