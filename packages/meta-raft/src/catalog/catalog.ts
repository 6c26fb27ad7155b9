/**
 * The metadata catalog: the state machine Cairn's Raft group replicates. Pure, synchronous and
 * deterministic, like the Raft core: no I/O, no clock (every timestamp arrives inside the
 * command), no randomness, no async. Every replica that applies the same commands holds the same
 * state and returns the same results.
 *
 * `apply` returns the records its command changed, which the driver writes in the same batch as
 * the applied index; `records()` is the full state for a snapshot, and `fromRecords` (or a
 * `CatalogLoader` fed batch by batch) rebuilds it after a restart or an InstallSnapshot.
 */
import { formatZodError, type Rule, type SegmentRecord, type WorkerRecord } from '@cairn/shared';
import { COORDINATOR_CONFIG_KEY, CoordinatorConfigStore } from './coordinator-config.js';
import type { CoordinatorConfig } from './coordinator-config.js';
import { assert } from '../core/assert.js';
import { catalogCommandSchema, catalogLimits, type KvRangeRequest, type ParsedCommand } from './commands.js';
import { Assignments } from './assignments.js';
import { KvStore } from './kv.js';
import { KV_REVISION_KEY, PREFIX } from './keys.js';
import { fail, type Assignment, type CatalogStats, type CommandResult, type DatasourceSummary, type KeyValue, type OvershadowNear, type SegmentBrief, type SegmentQuery } from './results.js';
import { RuleStore } from './rule-store.js';
import { SegmentCatalog } from './segments.js';
import { WorkerStore } from './workers.js';
import { WriteSet, type RecordWrite } from './writes.js';

/**
 * Settings every replica must share (they shape the state). Only tests change them.
 */
export interface CatalogOptions {
  /** How many ingestion ids are remembered for idempotent publishes (default 100,000). */
  readonly ingestionsRememberedMax?: number;
}

export class Catalog {
  private readonly segmentCatalog: SegmentCatalog;
  private readonly ruleStore = new RuleStore();
  private readonly workerStore = new WorkerStore();
  private readonly assignmentStore: Assignments;
  private readonly kv = new KvStore();
  private readonly coordinator = new CoordinatorConfigStore();
  private lastIndex = 0;
  /** Counts changes to the set of segments (publish, mark, delete): a cache key for readers. Not persisted. */
  segmentsRevision = 0;

  constructor(options: CatalogOptions = {}) {
    this.segmentCatalog = new SegmentCatalog(options.ingestionsRememberedMax ?? catalogLimits.ingestionsRememberedMax);
    this.assignmentStore = new Assignments(this.segmentCatalog.table, this.workerStore);
  }

  /**
   * Applies one committed command (already decoded from JSON). A bad command is not an error of
   * the state machine: it is validated, and its failure is the result, with no change and no
   * writes. Throws only if an internal invariant breaks (then the process must stop).
   */
  apply(command: unknown, at: { index: number; term: number }): { result: CommandResult; writes: RecordWrite[] } {
    assert(at.index > this.lastIndex, `entry ${at.index} applied after entry ${this.lastIndex}`);
    this.lastIndex = at.index;
    const parsed = catalogCommandSchema.safeParse(command);
    if (!parsed.success) return { result: fail('INVALID', formatZodError(parsed.error)), writes: [] };
    const writes = new WriteSet();
    const result = this.dispatch(parsed.data, writes);
    assert(result.ok || writes.size === 0, `a failed ${parsed.data.type} wrote ${writes.size} records`);
    const t = parsed.data.type;
    if (writes.size > 0 && (t === 'publishSegments' || t === 'markSegments' || t === 'deleteDatasource')) this.segmentsRevision++;
    return { result, writes: writes.list() };
  }

  private dispatch(c: ParsedCommand, writes: WriteSet): CommandResult {
    switch (c.type) {
      case 'createDatasource':
        return this.segmentCatalog.createDatasource(c, writes);
      case 'deleteDatasource':
        return this.segmentCatalog.deleteDatasource(c, writes);
      case 'publishSegments':
        return this.segmentCatalog.publish(c, writes);
      case 'markSegments':
        return this.segmentCatalog.mark(c, writes);
      case 'setRules':
        return this.ruleStore.set(c, writes);
      case 'registerWorker':
        return this.workerStore.register(c.worker, c.at, writes);
      case 'removeWorker': {
        if (this.workerStore.get(c.id) === null) return fail('NOT_FOUND', `worker ${c.id} is not registered`);
        const unassigned = this.assignmentStore.removeWorker(c.id, writes);
        this.workerStore.remove(c.id, writes);
        return { ok: true, unassigned };
      }
      case 'setWorkerState':
        return this.workerStore.setState(c, writes);
      case 'setAssignments':
        return this.assignmentStore.apply(c, writes);
      case 'kvPut':
        return this.kv.put(c, writes);
      case 'kvDeleteRange':
        return this.kv.deleteRange(c, writes);
      case 'kvTxn':
        return this.kv.txn(c, writes);
      case 'setCoordinatorConfig':
        return this.coordinator.set(c, writes);
    }
  }

  // -- queries: pure reads of the live state ----------------------------------------------------

  /** Every datasource by name, with counts over its segments and the time span of its used ones. */
  datasources(): DatasourceSummary[] {
    return this.segmentCatalog.datasourceSummaries();
  }

  /**
   * Segments overlapping `interval`, in datasource then timeline order. By default only the
   * visible ones (used, not overshadowed); `includeOvershadowed` and `includeUnused` widen that.
   * Throws a TypeError on a malformed interval. Listing a whole large datasource builds one
   * record object per segment (about 1 s and a few hundred MB for 500,000): prefer an interval.
   */
  segments(query: SegmentQuery = {}): SegmentRecord[] {
    return this.segmentCatalog.segments(query);
  }

  segment(id: string): SegmentRecord | null {
    return this.segmentCatalog.segment(id);
  }

  // -- a cheap view of the used segments, for a reader that keeps one up to date (the coordinator)

  /**
   * How many segments the catalog has ever held. Segments are never removed and a publish only
   * adds, so the segments published since a reader last looked are `segmentBriefs(then, now)`.
   */
  segmentSlots(): number {
    return this.segmentCatalog.table.count;
  }

  /**
   * Counts the commands that changed whether existing segments are used (markSegments,
   * deleteDatasource): changes a view that only follows publishes must rebuild for. Not persisted.
   */
  usedRevision(): number {
    return this.segmentCatalog.usedRevision;
  }

  /**
   * Every used segment as a brief (overshadowed ones included) and the ids of the overshadowed
   * ones: the coordinator's input, at a small part of the memory and time of `segments()` twice.
   */
  usedSegmentBriefs(): { segments: SegmentBrief[]; overshadowed: Set<string> } {
    return this.segmentCatalog.usedBriefs();
  }

  /** The used segments among those published into slots [from, to) (see `segmentSlots`), in publish order. */
  segmentBriefs(from: number, to: number): SegmentBrief[] {
    return this.segmentCatalog.briefs(from, to);
  }

  /**
   * The used segments of `dataSource` overlapping `interval` and whether each is overshadowed,
   * at a cost in proportion to the segments near the interval, not the datasource: after a
   * publish, only segments overlapping what it added can have changed.
   */
  overshadowedNear(dataSource: string, interval: { start: number; end: number }): OvershadowNear {
    return this.segmentCatalog.overshadowedNear(dataSource, interval);
  }

  /** A datasource's own rules ([] when it has none; `_default` gives the default rules). */
  rules(dataSource: string): readonly Rule[] {
    return this.ruleStore.rules(dataSource);
  }

  defaultRules(): readonly Rule[] {
    return this.ruleStore.defaultRules();
  }

  /** All rule lists by datasource, `_default` included. */
  allRules(): Record<string, readonly Rule[]> {
    return this.ruleStore.all();
  }

  workers(): WorkerRecord[] {
    return this.workerStore.list();
  }

  worker(id: string): WorkerRecord | null {
    return this.workerStore.get(id);
  }

  /** Segment-to-workers assignments, sorted by segment id, optionally for one segment or one worker. */
  assignments(query: { segmentId?: string; workerId?: string } = {}): Assignment[] {
    return this.assignmentStore.query(query);
  }

  /**
   * Every assignment as (segment id, worker ids), unsorted: for a reader that takes them all
   * (the coordinator's join) without the sort `assignments()` pays. Do not apply commands while
   * iterating.
   */
  assignmentEntries(): Iterable<readonly [string, readonly string[]]> {
    return this.assignmentStore.entries();
  }

  /** etcd's Range at the current revision. Throws a TypeError on a malformed request. */
  kvRange(request: KvRangeRequest): { revision: number; kvs: KeyValue[]; count: number; more: boolean } {
    return this.kv.rangeQuery(request);
  }

  kvRevision(): number {
    return this.kv.revision;
  }

  /** The coordinator's stored settings (unset keys: the planner's defaults). */
  coordinatorConfig(): CoordinatorConfig {
    return this.coordinator.get();
  }

  stats(): CatalogStats {
    const s = this.segmentCatalog;
    return {
      datasources: s.datasourceCount,
      segments: s.table.count,
      usedSegments: s.usedCount(),
      schemas: s.schemas.size,
      ingestions: s.ingestions.size,
      ruleSets: this.ruleStore.size,
      workers: this.workerStore.size,
      assignedSegments: this.assignmentStore.segments,
      assignments: this.assignmentStore.pairs,
      kvKeys: this.kv.size,
      kvRevision: this.kv.revision,
    };
  }

  // -- persistence -----------------------------------------------------------------------------

  /**
   * Every persisted record, sorted by key: the full state, for snapshots. Lazy: values are
   * encoded as they are read, so do not apply commands while iterating.
   */
  *records(): Generator<[key: string, value: string]> {
    yield* this.assignmentStore.records(); // asg/
    yield* this.coordinator.records(); // cfg/
    yield* this.segmentCatalog.datasourceRecords(); // ds/
    yield* this.segmentCatalog.ingestions.records(); // ing/
    yield* this.kv.records(); // kv/, kvrev
    yield* this.ruleStore.records(); // rule/
    yield* this.segmentCatalog.schemas.records(); // sch/
    yield* this.segmentCatalog.segmentRecords(); // seg/
    yield* this.workerStore.records(); // wrk/
  }

  /** Rebuilds the state from records, in any order (LevelDB gives them sorted; so does `records()`). */
  static fromRecords(records: Iterable<[string, string]>, options: CatalogOptions = {}): Catalog {
    const loader = Catalog.loader(options);
    for (const [key, value] of records) loader.add(key, value);
    return loader.finish();
  }

  /**
   * Rebuilds a catalog from records fed one at a time, so a driver can stream them from disk in
   * batches without holding them all: `add` each record, then `finish` once. A record that does
   * not parse is an invariant violation (the disk or the snapshot is corrupt).
   */
  static loader(options: CatalogOptions = {}): CatalogLoader {
    let catalog: Catalog | null = new Catalog(options);
    return {
      add(key, value) {
        assert(catalog !== null, 'CatalogLoader.add after finish');
        try {
          catalog.load(key, value);
        } catch (err) {
          if (err instanceof SyntaxError) assert(false, `catalog record ${key} is not valid JSON: ${err.message}`);
          throw err;
        }
      },
      finish() {
        assert(catalog !== null, 'CatalogLoader.finish called twice');
        const done = catalog;
        catalog = null;
        done.segmentCatalog.finishLoad();
        done.assignmentStore.finishLoad();
        done.kv.finishLoad();
        return done;
      },
    };
  }

  private load(key: string, value: string): void {
    if (key.startsWith(PREFIX.segment)) this.segmentCatalog.loadSegment(key, value);
    else if (key.startsWith(PREFIX.assignment)) this.assignmentStore.load(key, value);
    else if (key.startsWith(PREFIX.datasource)) this.segmentCatalog.loadDatasource(key, value);
    else if (key.startsWith(PREFIX.ingestion)) this.segmentCatalog.ingestions.load(key, value);
    else if (key.startsWith(PREFIX.kv) || key === KV_REVISION_KEY) this.kv.load(key, value);
    else if (key.startsWith(PREFIX.rules)) this.ruleStore.load(key, value);
    else if (key.startsWith(PREFIX.schema)) this.segmentCatalog.schemas.load(key, value);
    else if (key.startsWith(PREFIX.worker)) this.workerStore.load(key, value);
    else if (key === COORDINATOR_CONFIG_KEY) this.coordinator.load(value);
    else assert(false, `unknown catalog record ${key}`);
  }
}

/** See `Catalog.loader`. */
export interface CatalogLoader {
  add(key: string, value: string): void;
  finish(): Catalog;
}
