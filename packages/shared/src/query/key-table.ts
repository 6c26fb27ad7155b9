/**
 * Open addressing with linear probing over integer-valued double keys (below 2^53): the map from
 * a group's composite key to its id, in the engine's per-segment grouping and in the merge. A
 * Map<number, number> boxes its entries; this keeps two typed arrays.
 */
export class KeyTable {
  private keys: Float64Array;
  private ids: Int32Array;
  private size = 0;

  /** Sized so that `expected` keys fit without growing (at least 1024 slots). */
  constructor(expected = 0) {
    let cap = KEY_TABLE_MIN_SLOTS;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Float64Array(cap);
    this.ids = new Int32Array(cap).fill(-1);
  }

  private static hash(key: number): number {
    const lo = key % 4294967296 | 0;
    const hi = Math.floor(key / 4294967296) | 0;
    const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
    return h ^ (h >>> 15);
  }

  /** The id stored for key, or stores `fresh` and returns it. */
  lookup(key: number, fresh: number): number {
    if (this.size * 2 >= this.ids.length) this.rehash();
    const mask = this.ids.length - 1;
    let slot = KeyTable.hash(key) & mask;
    for (;;) {
      const id = this.ids[slot]!;
      if (id < 0) {
        this.keys[slot] = key;
        this.ids[slot] = fresh;
        this.size++;
        return fresh;
      }
      if (this.keys[slot] === key) return id;
      slot = (slot + 1) & mask;
    }
  }

  /** Empties the table; one that grew past 65,536 slots shrinks back, so a big query's table is not kept. */
  clear(): void {
    if (this.ids.length > 1 << 16) {
      this.keys = new Float64Array(KEY_TABLE_MIN_SLOTS);
      this.ids = new Int32Array(KEY_TABLE_MIN_SLOTS).fill(-1);
    } else {
      this.ids.fill(-1);
    }
    this.size = 0;
  }

  private rehash(): void {
    const oldKeys = this.keys;
    const oldIds = this.ids;
    this.keys = new Float64Array(oldIds.length * 2);
    this.ids = new Int32Array(oldIds.length * 2).fill(-1);
    const mask = this.ids.length - 1;
    for (let s = 0; s < oldIds.length; s++) {
      if (oldIds[s]! < 0) continue;
      let slot = KeyTable.hash(oldKeys[s]!) & mask;
      while (this.ids[slot]! >= 0) slot = (slot + 1) & mask;
      this.keys[slot] = oldKeys[s]!;
      this.ids[slot] = oldIds[s]!;
    }
  }
}

const KEY_TABLE_MIN_SLOTS = 1024;
