/**
 * The version a metadata leader stamps on each heartbeat answer: the term it led in, then a count
 * of the answers it computed. Workers apply only an answer newer than every one they have seen
 * (two may be on the way at once); leaders read the version a worker last applied back from its
 * beat. Both sides order versions with this one function.
 */
export type AnswerVersion = readonly [term: number, seq: number];

/** Whether answer version `a` is newer than `b` (a higher term, or the same term and a later answer). */
export function newerVersion(a: AnswerVersion, b: AnswerVersion | null): boolean {
  return b === null || a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}
