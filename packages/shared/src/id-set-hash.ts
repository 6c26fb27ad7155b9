/**
 * A short fingerprint of a set of ids (order does not matter), so two processes can tell whether
 * they hold the same set without sending it: a worker's loaded segments, its assignments.
 * Two 32-bit FNV-1a lanes over the sorted ids; not cryptographic.
 */
export function hashIdSet(ids: Iterable<string>): string {
  const sorted = [...ids].sort();
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ sorted.length;
  for (const id of sorted) {
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    a = Math.imul(a ^ 10, 0x01000193);
    b = Math.imul(b ^ 10, 0x5bd1e995);
  }
  return `${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}-${sorted.length}`;
}
