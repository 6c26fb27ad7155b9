/**
 * Builders for planner inputs in tests (the planner's own and its driver's): segments, workers
 * and rules with sensible defaults. Every worker built here is live at `NOW` unless told
 * otherwise.
 */
import { DEFAULT_TIER, ruleSchema, segmentId, type Rule, type RuleInput, type SegmentInput, type WorkerInput } from '@cairn/shared';
import type { PlannerConfig } from './config.js';
import type { PlannerInput, PlannerSegment, PlannerWorker } from './types.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** 2020-06-15T00:00:00Z. */
export const NOW = 1_592_179_200_000;

/** A rule from its JSON shape, with the schema's defaults filled in. */
export function rule(r: RuleInput): Rule {
  return ruleSchema.parse(r);
}

/** `loadForever` with `replicants` on each named tier (the default tier when none is named). */
export function loadForever(replicants: number, ...tiers: string[]): Rule {
  const tieredReplicants: Record<string, number> = {};
  for (const t of tiers.length > 0 ? tiers : [DEFAULT_TIER]) tieredReplicants[t] = replicants;
  return rule({ type: 'loadForever', tieredReplicants });
}

/**
 * A segment to publish through the catalog: one day of `dataSource`, day `d` of a run of days
 * whose day 0 starts `daysBack` days before `NOW`.
 */
export function segmentInput(dataSource: string, d: number, opts: { version?: string; daysBack?: number } = {}): SegmentInput {
  const { version = 'v1', daysBack = 40 } = opts;
  return {
    dataSource,
    start: NOW - (daysBack - d) * DAY_MS,
    end: NOW - (daysBack - 1 - d) * DAY_MS,
    version,
    partition: 0,
    partitions: 1,
    size: 1_000,
    rows: 1,
    schema: {},
    checksum: '0'.repeat(64),
    location: `${dataSource}/${d}/${version}`,
  };
}

/** A worker to register through the catalog. */
export function workerInput(id: string, dc: string): WorkerInput {
  return { id, url: `http://${id}:8080`, dc, capacityBytes: 1e9, version: '0.1.0' };
}

export interface SegmentsSpec {
  readonly dataSources?: readonly string[];
  /** Consecutive intervals per datasource, newest ending at `end`. */
  readonly count: number;
  readonly intervalMs?: number;
  readonly end?: number;
  readonly version?: string;
  readonly size?: number;
  readonly partitions?: number;
}

/** Segments of each datasource over consecutive intervals, every partition of each. */
export function makeSegments(spec: SegmentsSpec): PlannerSegment[] {
  const { count, intervalMs = HOUR_MS, end = NOW, version = 'v1', size = 1_000, partitions = 1 } = spec;
  const out: PlannerSegment[] = [];
  for (const dataSource of spec.dataSources ?? ['events']) {
    for (let i = 0; i < count; i++) {
      const start = end - (count - i) * intervalMs;
      for (let partition = 0; partition < partitions; partition++) {
        const s = { dataSource, start, end: start + intervalMs, version, partition, partitions, size };
        out.push({ id: segmentId(s), ...s });
      }
    }
  }
  return out;
}

export interface WorkerSpec {
  readonly tier?: string;
  readonly dc?: string;
  readonly capacityBytes?: number;
  readonly state?: PlannerWorker['state'];
  readonly lastHeartbeatAt?: number | null;
  readonly loaded?: Iterable<string>;
  readonly loadQueue?: Iterable<string>;
  readonly queryCounts?: Iterable<[string, number]>;
}

export function makeWorker(id: string, spec: WorkerSpec = {}): PlannerWorker {
  return {
    id,
    tier: spec.tier ?? DEFAULT_TIER,
    dc: spec.dc ?? 'dc1',
    capacityBytes: spec.capacityBytes ?? 1e12,
    state: spec.state ?? 'active',
    lastHeartbeatAt: spec.lastHeartbeatAt === undefined ? NOW : spec.lastHeartbeatAt,
    loaded: new Set(spec.loaded ?? []),
    loadQueue: new Set(spec.loadQueue ?? []),
    queryCounts: new Map(spec.queryCounts ?? []),
  };
}

/** Workers w1..wn, in datacenters dc1..dcK round-robin. */
export function makeWorkers(n: number, spec: WorkerSpec & { dcs?: number } = {}): PlannerWorker[] {
  const dcs = spec.dcs ?? 1;
  return Array.from({ length: n }, (_, i) => makeWorker(`w${i + 1}`, { dc: `dc${(i % dcs) + 1}`, ...spec }));
}

export function makeInput(parts: Partial<PlannerInput> & { config?: Partial<PlannerConfig> }): PlannerInput {
  return {
    now: NOW,
    segments: [],
    rules: {},
    defaultRules: [loadForever(2)],
    workers: [],
    assignments: new Map(),
    ...parts,
  };
}

/**
 * The same input with every assignment loaded on its (live) worker: the state a cluster reaches
 * once the workers catch up.
 */
export function allLoaded(input: PlannerInput): PlannerInput {
  const per = new Map<string, string[]>();
  for (const [id, ws] of input.assignments) for (const w of ws) (per.get(w) ?? per.set(w, []).get(w)!).push(id);
  return { ...input, workers: input.workers.map((w) => ({ ...w, loaded: new Set(per.get(w.id) ?? []), loadQueue: new Set<string>() })) };
}

/** Replicas per worker id in an assignment map. */
export function countByWorker(assignments: ReadonlyMap<string, readonly string[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const ws of assignments.values()) for (const w of ws) out.set(w, (out.get(w) ?? 0) + 1);
  return out;
}
