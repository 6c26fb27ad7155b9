/**
 * The record key layout. Every record is a (key, value) string pair; keys sort as bytes (all of
 * them are ASCII), and `records()` yields them in that order: the prefixes below are listed in
 * sort order.
 *
 * | key                    | value                                                          |
 * | ---------------------- | -------------------------------------------------------------- |
 * | `asg/{segmentId}`      | JSON array of worker ids, sorted                               |
 * | `ds/{name}`            | `{"c":createdAt}`                                              |
 * | `ing/{ingestionId}`    | `{"q":publishSeq,"r":originalResult}`                          |
 * | `kv/{hex key}`         | `{"c":createRevision,"m":modRevision,"v":version,"d":hexValue}`|
 * | `kvrev`                | the store revision, a decimal number (absent means 1)          |
 * | `rule/{dataSource}`    | canonical JSON array of rules (`rule/_default`: the defaults)  |
 * | `sch/{n}`              | canonical JSON of an interned segment schema                   |
 * | `seg/{segmentId}`      | compact JSON, see segment-table.ts                             |
 * | `wrk/{workerId}`       | JSON worker record                                             |
 */
export const PREFIX = {
  assignment: 'asg/',
  datasource: 'ds/',
  ingestion: 'ing/',
  kv: 'kv/',
  rules: 'rule/',
  schema: 'sch/',
  segment: 'seg/',
  worker: 'wrk/',
} as const;
export const KV_REVISION_KEY = 'kvrev';

/**
 * Lowercase hex of a latin1 (byte) string; hex order is byte order. Through Buffer: building the
 * string a character at a time left a cons string per character (about 10 KB of garbage for a
 * 256-byte value, on every node for every put).
 */
export function latin1ToHex(s: string): string {
  return Buffer.from(s, 'latin1').toString('hex');
}

export function hexToLatin1(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

/** Sorts strings by UTF-16 code units, which for the ASCII keys here is byte order. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One shared copy of each repeated string (datasource names, versions, ingestion ids), so a
 * million segments hold a million pointers rather than a million copies.
 */
export class Interner {
  private readonly strings = new Map<string, string>();

  intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    this.strings.set(s, s);
    return s;
  }
}
