/**
 * Interned segment schemas. All the segments of a datasource usually share one schema, so it is
 * stored once (as a frozen object and as a `sch/{n}` record) and segments refer to it by
 * number. Equality is deep equality, decided on canonical JSON (keys sorted). Schemas are never
 * removed, because segments are never removed.
 */
import { deepFreeze, type SegmentSchema } from '@cairn/shared';
import { assert } from '../core/assert.js';
import { byCodeUnits, PREFIX } from './keys.js';
import type { WriteSet } from './writes.js';

export class SchemaTable {
  private readonly byNumber = new Map<number, SegmentSchema>();
  private readonly numberByCanonical = new Map<string, number>();
  private readonly canonicalByNumber = new Map<number, string>();
  private nextNumber = 0;

  get size(): number {
    return this.byNumber.size;
  }

  get(n: number): SegmentSchema {
    const schema = this.byNumber.get(n);
    assert(schema !== undefined, `segment refers to unknown schema ${n}`);
    return schema;
  }

  /** The canonical JSON of schema `n`. */
  canonical(n: number): string {
    const text = this.canonicalByNumber.get(n);
    assert(text !== undefined, `unknown schema ${n}`);
    return text;
  }

  has(n: number): boolean {
    return this.byNumber.has(n);
  }

  /** The number of the schema whose canonical JSON is `canonical`, adding (and writing) it when new. */
  intern(canonical: string, writes: WriteSet): number {
    const known = this.numberByCanonical.get(canonical);
    if (known !== undefined) return known;
    const n = this.nextNumber++;
    this.add(n, canonical);
    writes.put(`${PREFIX.schema}${n}`, canonical);
    return n;
  }

  private add(n: number, canonical: string): void {
    this.byNumber.set(n, deepFreeze(JSON.parse(canonical) as SegmentSchema));
    this.numberByCanonical.set(canonical, n);
    this.canonicalByNumber.set(n, canonical);
    if (n >= this.nextNumber) this.nextNumber = n + 1;
  }

  /** Restores one `sch/` record. */
  load(key: string, value: string): void {
    const n = Number(key.slice(PREFIX.schema.length));
    assert(Number.isInteger(n) && n >= 0 && !this.byNumber.has(n), `bad schema record ${key}`);
    this.add(n, value);
  }

  *records(): Generator<[string, string]> {
    const out: [string, string][] = [];
    for (const [canonical, n] of this.numberByCanonical) out.push([`${PREFIX.schema}${n}`, canonical]);
    yield* out.sort((a, b) => byCodeUnits(a[0], b[0]));
  }
}
