import type { Entry } from '../core/index.js';

/** Log entries in LevelDB: a small binary header before the data; the index is in the key. */

const ENTRY_HEADER = 9;

/** [u8 type][f64 term][data]; the index is in the key. */
export function encodeEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(ENTRY_HEADER + e.data.length);
  out[0] = e.type === 'conf' ? 1 : 0;
  new DataView(out.buffer).setFloat64(1, e.term);
  out.set(e.data, ENTRY_HEADER);
  return out;
}

export function decodeEntry(index: number, bytes: Uint8Array): Entry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    index,
    type: bytes[0] === 1 ? 'conf' : 'normal',
    term: view.getFloat64(1),
    data: bytes.slice(ENTRY_HEADER),
  };
}

/** Log keys sort by index: `l:` and the index as 16 zero-padded digits. */
export function logKey(index: number): string {
  return `l:${String(index).padStart(16, '0')}`;
}
