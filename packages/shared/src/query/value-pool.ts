/**
 * Process-wide integer ids for dimension values, so that merging partials in the process that
 * built them combines rows by integers without hashing a string per dictionary entry.
 *
 * A groupBy on a high-cardinality dimension over 100 segments sends ~50,000 values per segment:
 * interning each partial's dictionary in the merge cost one string-map lookup per entry (~5M
 * lookups, ~90 ns each with the map's cache misses). A segment's dictionary is the same array
 * from one query to the next, so the engine maps it to pool ids once per segment dictionary
 * (`idsOf`, cached by the array's identity) and hands the merge the pool id of every entry of a
 * partial's dictionary (`PooledIds`); the merge then maps pool ids to its own ids through an
 * integer array. The first query over a segment pays the lookups once; later ones none.
 *
 * Bounded: at most `valuePoolValuesMax` values. A full pool is replaced by a fresh one
 * (`currentValuePool`); partials of different pools (or without ids: from the wire, from
 * another process) merge through strings as before, so ids are only ever an optimization.
 */

/** Distinct values one pool holds; then a new pool starts (the old one lives while partials refer to it). */
export const valuePoolValuesMax = 1 << 20;

export class ValuePool {
  /** values[id]; id 0 is null. */
  readonly values: (string | null)[] = [null];
  private readonly ids = new Map<string, number>();
  private readonly byDictionary = new WeakMap<readonly string[], Int32Array>();

  get size(): number {
    return this.values.length;
  }

  /** Whether `extra` more values fit. */
  fits(extra: number): boolean {
    return this.values.length + extra <= valuePoolValuesMax;
  }

  /**
   * Pool ids of a dictionary's entries shifted by one: `[0]` is null's id (0), `[c + 1]` the id
   * of `dictionary[c]` (the engine's code + 1 layout). Computed once per dictionary array; null
   * when the pool cannot take its values.
   */
  idsOf(dictionary: readonly string[]): Int32Array | null {
    let out = this.byDictionary.get(dictionary);
    if (out) return out;
    if (!this.fits(dictionary.length)) return null;
    out = new Int32Array(dictionary.length + 1);
    for (let c = 0; c < dictionary.length; c++) out[c + 1] = this.id(dictionary[c]!);
    this.byDictionary.set(dictionary, out);
    return out;
  }

  /** The id of one value (null is 0). */
  id(v: string | null): number {
    if (v === null) return 0;
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(v, id);
      this.values.push(v);
    }
    return id;
  }
}

let current = new ValuePool();

/** The pool new partials use; a fresh one once it is nearly full (within `room` values). */
export function currentValuePool(room = 0): ValuePool {
  if (!current.fits(room)) current = new ValuePool();
  return current;
}

/**
 * In-memory companion of an aggregate partial with dictionaries: `ids[d][k]` is the pool id of
 * `dicts[d][k]`. Never serialized (a non-enumerable property, see `attachPooledIds`).
 */
export interface PooledIds {
  readonly pool: ValuePool;
  readonly ids: readonly Int32Array[];
}

const POOLED = Symbol('cairn.pooledIds');

/** Attaches pool ids to a partial object without making them part of its JSON or its spread copies. */
export function attachPooledIds<T extends object>(partial: T, pooled: PooledIds): T {
  Object.defineProperty(partial, POOLED, { value: pooled, enumerable: false, configurable: true });
  return partial;
}

/** The pool ids attached to a partial, if any. */
export function pooledIdsOf(partial: object): PooledIds | undefined {
  return (partial as { [POOLED]?: PooledIds })[POOLED];
}
