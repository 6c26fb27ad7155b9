/**
 * Datasources and their segments: creating and deleting datasources, publishing segments
 * (atomic and idempotent per ingestion id), marking them used or unused, and the read queries.
 *
 * Every handler validates the whole command before it changes anything, so a failed command
 * leaves no trace; the catalog asserts that a failure wrote nothing.
 */
import {
  canonicalJson,
  parseInterval,
  segmentId,
  type Interval,
  type ParsedSegmentInput,
  type SegmentRecord,
} from '@cairn/shared';
import { assert } from '../core/assert.js';
import { catalogLimits, type ParsedCommandOf } from './commands.js';
import { DatasourceIndex } from './datasource-index.js';
import { IngestionLog } from './ingestions.js';
import { byCodeUnits, Interner, PREFIX } from './keys.js';
import { fail, type CommandFailure, type CommandResult, type DatasourceSummary, type OvershadowNear, type PublishOk, type SegmentBrief, type SegmentQuery } from './results.js';
import { SchemaTable } from './schemas.js';
import { SegmentTable, SlotBrief } from './segment-table.js';
import type { WriteSet } from './writes.js';

/** What must match for a republished segment to count as identical (the id covers the rest). */
interface Description {
  readonly checksum: string;
  readonly partitions: number;
  readonly size: number;
  readonly rows: number;
  readonly location: string;
  /** Canonical JSON. */
  readonly schema: string;
}

/**
 * The first field in which `had` and `got` differ, phrased for an error message, or null when
 * they are identical. The checksum decides first; equal content with other metadata is a
 * conflict too, since one of the two descriptions is wrong.
 */
function difference(had: Description, got: Description): string | null {
  if (had.checksum !== got.checksum) return `checksum ${had.checksum}, not ${got.checksum}`;
  for (const field of ['partitions', 'size', 'rows', 'location'] as const) {
    if (had[field] !== got[field]) return `${field} ${JSON.stringify(had[field])}, not ${JSON.stringify(got[field])}`;
  }
  return had.schema === got.schema ? null : 'another schema';
}

/** A segment of a publish that passed validation and is new. */
interface Prepared {
  readonly input: ParsedSegmentInput;
  readonly id: string;
  readonly canonicalSchema: string;
}

export class SegmentCatalog {
  readonly table = new SegmentTable();
  readonly schemas = new SchemaTable();
  private readonly datasources = new Map<string, DatasourceIndex>();
  private readonly strings = new Interner();
  readonly ingestions: IngestionLog;
  /** Counts commands that changed the used flag of existing segments (mark, deleteDatasource). */
  usedRevision = 0;

  constructor(ingestionsRememberedMax: number) {
    this.ingestions = new IngestionLog(ingestionsRememberedMax);
  }

  get datasourceCount(): number {
    return this.datasources.size;
  }

  // -- commands --------------------------------------------------------------------------------

  createDatasource(c: ParsedCommandOf<'createDatasource'>, writes: WriteSet): CommandResult {
    if (this.datasources.has(c.name)) return fail('ALREADY_EXISTS', `datasource ${c.name} already exists`);
    if (this.datasources.size >= catalogLimits.datasourcesMax) return fail('LIMIT_EXCEEDED', `the catalog holds ${catalogLimits.datasourcesMax} datasources already`);
    this.addDatasource(c.name, c.at, writes);
    return { ok: true };
  }

  private addDatasource(name: string, at: number, writes: WriteSet): DatasourceIndex {
    const ds = new DatasourceIndex(this.strings.intern(name), at);
    this.datasources.set(ds.name, ds);
    writes.put(PREFIX.datasource + ds.name, JSON.stringify({ c: at }));
    return ds;
  }

  /** Marks every segment of the datasource unused (Druid's "delete" is a soft delete); the datasource stays. */
  deleteDatasource(c: ParsedCommandOf<'deleteDatasource'>, writes: WriteSet): CommandResult {
    const ds = this.datasources.get(c.name);
    if (ds === undefined) return fail('NOT_FOUND', `datasource ${c.name} does not exist`);
    return { ok: true, changed: this.setUsed(ds, ds.slots.filter((s) => this.table.used(s)), false, writes) };
  }

  publish(c: ParsedCommandOf<'publishSegments'>, writes: WriteSet): CommandResult {
    const original = this.ingestions.get(c.ingestionId);
    if (original !== undefined) return { ...original, replayed: true };

    const prepared = this.preparePublish(c.segments);
    if (!Array.isArray(prepared)) return prepared;
    const fresh = prepared;
    const unchanged = c.segments.length - fresh.length;
    if (this.table.count + fresh.length > catalogLimits.segmentsMax) {
      return fail('LIMIT_EXCEEDED', `publishing ${fresh.length} segments would exceed ${catalogLimits.segmentsMax} segments`);
    }
    const newNames = new Set(fresh.map((p) => p.input.dataSource).filter((n) => !this.datasources.has(n)));
    if (this.datasources.size + newNames.size > catalogLimits.datasourcesMax) {
      return fail('LIMIT_EXCEEDED', `publishing would exceed ${catalogLimits.datasourcesMax} datasources`);
    }

    // Validated: from here on nothing fails.
    const ingestionId = this.strings.intern(c.ingestionId);
    const added = new Map<DatasourceIndex, number[]>();
    for (const p of fresh) {
      const s = p.input;
      const ds = this.datasources.get(s.dataSource) ?? this.addDatasource(s.dataSource, c.at, writes);
      const slot = this.table.add({
        id: p.id,
        dataSource: ds.name,
        start: s.start,
        end: s.end,
        version: this.strings.intern(s.version),
        partition: s.partition,
        partitions: s.partitions,
        size: s.size,
        rows: s.rows,
        schema: this.schemas.intern(p.canonicalSchema, writes),
        checksum: s.checksum,
        location: s.location,
        used: true,
        ingestionId,
        publishedAt: c.at,
      });
      writes.put(PREFIX.segment + p.id, this.table.encode(slot));
      let list = added.get(ds);
      if (list === undefined) added.set(ds, (list = []));
      list.push(slot);
    }
    for (const [ds, slots] of added) ds.insert(this.table, slots);
    const result: PublishOk = { ok: true, replayed: false, published: fresh.length, unchanged };
    this.ingestions.remember(ingestionId, result, writes);
    return result;
  }

  /** Validates every segment of a publish; returns the new ones, or the failure of the whole publish. */
  private preparePublish(segments: readonly ParsedSegmentInput[]): Prepared[] | CommandFailure {
    const fresh: Prepared[] = [];
    const firstById = new Map<string, Description>();
    const partitionsByGroup = new Map<string, number>();
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      const where = `segments[${i}]`;
      if (s.end <= s.start) return fail('INVALID', `${where}: end must be after start`);
      if (s.partition >= s.partitions) return fail('INVALID', `${where}: partition ${s.partition} must be below partitions ${s.partitions}`);
      const id = segmentId(s);
      if (s.id !== undefined && s.id !== id) return fail('INVALID', `${where}.id ${JSON.stringify(s.id)} does not match its fields, which give ${JSON.stringify(id)}`);
      let canonicalSchema: string;
      try {
        canonicalSchema = canonicalJson(s.schema, `${where}.schema`);
      } catch (err) {
        return fail('INVALID', (err as Error).message);
      }
      if (canonicalSchema.length > catalogLimits.schemaCharsMax) {
        return fail('INVALID', `${where}.schema is ${canonicalSchema.length} characters of JSON, more than ${catalogLimits.schemaCharsMax}`);
      }
      const description: Description = { checksum: s.checksum, partitions: s.partitions, size: s.size, rows: s.rows, location: s.location, schema: canonicalSchema };
      const first = firstById.get(id);
      if (first !== undefined) {
        const differs = difference(first, description);
        if (differs !== null) return fail('CONFLICT', `segment ${id} appears twice in the publish, with ${differs}`);
        continue;
      }
      firstById.set(id, description);
      const existing = this.table.slotOf(id);
      if (existing !== undefined) {
        const differs = difference(this.describe(existing), description);
        if (differs !== null) return fail('CONFLICT', `segment ${id} already exists with ${differs}`);
        continue; // identical: left as it is
      }
      // All partitions of one (interval, version) must agree on how many there are, or the
      // group could never be complete (or would be complete too early).
      const group = `${s.dataSource}\u0000${s.start}\u0000${s.end}\u0000${s.version}`;
      const expected = partitionsByGroup.get(group) ?? this.datasources.get(s.dataSource)?.groupPartitions(this.table, s.start, s.end, s.version);
      if (expected !== undefined && expected !== s.partitions) {
        return fail('CONFLICT', `segment ${id} says ${s.partitions} partitions, but its interval and version have ${expected}`);
      }
      partitionsByGroup.set(group, s.partitions);
      fresh.push({ input: s, id, canonicalSchema });
    }
    return fresh;
  }

  private describe(slot: number): Description {
    const t = this.table;
    return {
      checksum: t.checksum(slot),
      partitions: t.partitions(slot),
      size: t.size(slot),
      rows: t.rows(slot),
      location: t.location(slot),
      schema: this.schemas.canonical(t.schema(slot)),
    };
  }

  /**
   * Druid's markUsed / markUnused: by interval (segments wholly inside it) or by ids. As in
   * Druid, markUsed re-enables only segments that the used ones do not overshadow.
   */
  mark(c: ParsedCommandOf<'markSegments'>, writes: WriteSet): CommandResult {
    const ds = this.datasources.get(c.dataSource);
    if (ds === undefined) return fail('NOT_FOUND', `datasource ${c.dataSource} does not exist`);
    const table = this.table;
    const flags = c.used ? ds.overshadowed(table) : null;
    const chosen: number[] = [];
    if (c.segmentIds !== undefined) {
      const slots = new Set<number>();
      for (const id of c.segmentIds) {
        const slot = table.slotOf(id);
        if (slot === undefined || table.dataSource(slot) !== ds.name) return fail('NOT_FOUND', `segment ${id} does not exist in datasource ${ds.name}`);
        slots.add(slot);
      }
      for (const slot of slots) {
        if (table.used(slot) === c.used) continue;
        if (flags !== null && flags[ds.positionOf(table, slot)] === 1) continue;
        chosen.push(slot);
      }
    } else {
      const interval = parseInterval(c.interval!);
      const [lo, hi] = ds.startingWithin(table, interval);
      for (let pos = lo; pos < hi; pos++) {
        const slot = ds.slots[pos]!;
        if (table.used(slot) === c.used || table.end(slot) > interval.end) continue;
        if (flags !== null && flags[pos] === 1) continue;
        chosen.push(slot);
      }
    }
    return { ok: true, changed: this.setUsed(ds, chosen, c.used, writes) };
  }

  private setUsed(ds: DatasourceIndex, slots: readonly number[], used: boolean, writes: WriteSet): number {
    for (const slot of slots) {
      assert(this.table.used(slot) !== used, `segment ${this.table.id(slot)} is already ${used ? 'used' : 'unused'}`);
      this.table.setUsed(slot, used);
      writes.put(PREFIX.segment + this.table.id(slot), this.table.encode(slot));
    }
    if (slots.length > 0) {
      ds.changed();
      this.usedRevision++;
    }
    return slots.length;
  }

  // -- queries ---------------------------------------------------------------------------------

  hasDatasource(name: string): boolean {
    return this.datasources.has(name);
  }

  datasourceSummaries(): DatasourceSummary[] {
    return this.datasourceNames().map((n) => this.datasources.get(n)!.summary(this.table));
  }

  private datasourceNames(): string[] {
    return [...this.datasources.keys()].sort(byCodeUnits);
  }

  /**
   * Segments overlapping `interval` (all when absent), in datasource then timeline order.
   * Visible ones only by default: used and not overshadowed (and, with `completeOnly`, not of an
   * incomplete group).
   */
  segments(q: SegmentQuery = {}): SegmentRecord[] {
    const interval: Interval | null = q.interval === undefined ? null : parseInterval(q.interval);
    const names = q.dataSource === undefined ? this.datasourceNames() : this.datasources.has(q.dataSource) ? [q.dataSource] : [];
    const out: SegmentRecord[] = [];
    const table = this.table;
    for (const name of names) {
      const ds = this.datasources.get(name)!;
      const flags = q.includeOvershadowed ? null : ds.overshadowed(table);
      const incomplete = q.completeOnly ? ds.incomplete(table) : null;
      const [lo, hi] = interval === null ? [0, ds.slots.length] : ds.overlapping(table, interval);
      for (let pos = lo; pos < hi; pos++) {
        const slot = ds.slots[pos]!;
        if (interval !== null && !(table.start(slot) < interval.end && table.end(slot) > interval.start)) continue;
        if (table.used(slot) ? (flags !== null && flags[pos] === 1) || (incomplete !== null && incomplete[pos] === 1) : !q.includeUnused) continue;
        out.push(this.record(slot));
      }
    }
    return out;
  }

  /** Every used segment as a brief, in datasource then timeline order, and the overshadowed ids among them. */
  usedBriefs(): { segments: SegmentBrief[]; overshadowed: Set<string> } {
    const segments: SegmentBrief[] = [];
    const overshadowed = new Set<string>();
    const table = this.table;
    for (const name of this.datasourceNames()) {
      const ds = this.datasources.get(name)!;
      const flags = ds.overshadowed(table);
      for (let pos = 0; pos < ds.slots.length; pos++) {
        const slot = ds.slots[pos]!;
        if (!table.used(slot)) continue;
        const b = this.brief(slot);
        segments.push(b);
        if (flags[pos] === 1) overshadowed.add(b.id);
      }
    }
    return { segments, overshadowed };
  }

  /** Briefs of the used segments in slots [from, to), in slot order (publish order). */
  briefs(from: number, to: number): SegmentBrief[] {
    const out: SegmentBrief[] = [];
    for (let slot = Math.max(0, from); slot < Math.min(to, this.table.count); slot++) if (this.table.used(slot)) out.push(this.brief(slot));
    return out;
  }

  private brief(slot: number): SegmentBrief {
    return new SlotBrief(this.table, slot);
  }

  /** See `Catalog.overshadowedNear`. */
  overshadowedNear(dataSource: string, interval: Interval): OvershadowNear {
    const ds = this.datasources.get(dataSource);
    if (ds === undefined) return { ids: [], flags: new Uint8Array(0) };
    const { slots, flags } = ds.overshadowedNear(this.table, interval);
    return { ids: slots.map((s) => this.table.id(s)), flags };
  }

  segment(id: string): SegmentRecord | null {
    const slot = this.table.slotOf(id);
    return slot === undefined ? null : this.record(slot);
  }

  private record(slot: number): SegmentRecord {
    return this.table.record(slot, (n) => this.schemas.get(n));
  }

  usedCount(): number {
    let n = 0;
    for (let s = 0; s < this.table.count; s++) if (this.table.used(s)) n++;
    return n;
  }

  // -- records ---------------------------------------------------------------------------------

  *datasourceRecords(): Generator<[string, string]> {
    for (const name of this.datasourceNames()) {
      yield [PREFIX.datasource + name, JSON.stringify({ c: this.datasources.get(name)!.createdAt })];
    }
  }

  /** `seg/` records in key order. Sorting a million ids takes about a second; snapshots are rare. */
  *segmentRecords(): Generator<[string, string]> {
    const ids = this.table.allIds().sort(byCodeUnits);
    for (const id of ids) yield [PREFIX.segment + id, this.table.encode(this.table.slotOf(id)!)];
  }

  loadDatasource(key: string, value: string): void {
    const name = this.strings.intern(key.slice(PREFIX.datasource.length));
    const { c } = JSON.parse(value) as { c: number };
    const ds = this.datasources.get(name);
    if (ds === undefined) this.datasources.set(name, new DatasourceIndex(name, c));
    else ds.createdAt = c; // its segments came first
  }

  /** Restores one `seg/` record. Records may come in any order; `finishLoad` restores timeline order. */
  loadSegment(key: string, value: string): void {
    // A sliced string (it keeps the key alive, about 30 bytes per segment more than a flat
    // copy); JS has no cheap way to copy it flat, and re-deriving the id costs a second per million.
    const id = key.slice(PREFIX.segment.length);
    const fields = SegmentTable.decode(id, value, (s) => this.strings.intern(s));
    let ds = this.datasources.get(fields.dataSource);
    if (ds === undefined) this.datasources.set(fields.dataSource, (ds = new DatasourceIndex(fields.dataSource, Number.NaN)));
    ds.slots.push(this.table.add(fields));
  }

  finishLoad(): void {
    this.ingestions.finishLoad();
    for (const ds of this.datasources.values()) {
      assert(!Number.isNaN(ds.createdAt), `segments of datasource ${ds.name} without its ds/ record`);
      ds.sortAfterLoad(this.table);
    }
    for (let s = 0; s < this.table.count; s++) {
      assert(this.schemas.has(this.table.schema(s)), `segment ${this.table.id(s)} refers to a missing schema`);
    }
  }
}
