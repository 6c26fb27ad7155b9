/**
 * What the planner reads and what it decides. Plain data: the driver builds a `PlannerInput`
 * from the catalog (segments, rules, workers, assignments) and from the workers' heartbeats
 * (liveness, loaded segments, load queues, query counts), and commits a `Plan`'s decisions as
 * one `setAssignments` command.
 */
import type { Rule, SegmentRecord, WorkerState } from '@cairn/shared';
import type { PlannerConfig } from './config.js';

/** The fields of a used segment the planner needs; a `SegmentRecord` is one. */
export type PlannerSegment = Pick<SegmentRecord, 'id' | 'dataSource' | 'start' | 'end' | 'version' | 'partition' | 'partitions' | 'size'>;

/** A registered worker as the catalog knows it, with what its latest heartbeat reported. */
export interface PlannerWorker {
  readonly id: string;
  readonly tier: string;
  /** Datacenter (availability zone). */
  readonly dc: string;
  readonly capacityBytes: number;
  readonly state: WorkerState;
  /** Epoch ms of the last heartbeat this leader received; null when it has received none. */
  readonly lastHeartbeatAt: number | null;
  /** Segment ids the worker reports loaded (serving). */
  readonly loaded: ReadonlySet<string>;
  /** Segment ids the worker reports it is still loading. */
  readonly loadQueue: ReadonlySet<string>;
  /** Queries per segment id over the last window, as the worker reports them. */
  readonly queryCounts: ReadonlyMap<string, number>;
}

/** What both forms of the planner's input share. */
export interface PlannerInputBase {
  /** Epoch ms: rules with periods and liveness are evaluated at this instant. */
  readonly now: number;
  /** Every used segment (overshadowed ones included), each id once. */
  readonly segments: readonly PlannerSegment[];
  /**
   * Ids of the used segments that the timeline overshadows. When omitted the planner computes
   * them with `overshadowedIds` (a second or so at a million segments); the catalog keeps them
   * per datasource already, so the driver should pass them.
   */
  readonly overshadowed?: ReadonlySet<string>;
  /** Rules per datasource, as `Catalog.allRules()` returns them (a `_default` key is ignored). */
  readonly rules: Readonly<Record<string, readonly Rule[]>>;
  /** The cluster default rules, tried after a datasource's own. */
  readonly defaultRules: readonly Rule[];
  /** Every registered worker, each id once. */
  readonly workers: readonly PlannerWorker[];
  /**
   * Workers the driver considers down, with the epoch ms they went down. A worker is also down
   * when its last heartbeat is older than `heartbeatTimeoutMs`; it went down then
   * (`lastHeartbeatAt + heartbeatTimeoutMs`) unless this map says otherwise. A worker with no
   * heartbeat and no entry here is down with its grace period not yet started: the driver must
   * record when it first saw it so, or its assignments are kept for ever.
   */
  readonly downSince?: ReadonlyMap<string, number>;
  readonly config?: Partial<PlannerConfig>;
}

/**
 * The input with the committed assignments as a map: the simple form (tests, small clusters).
 * The planner joins it with the workers' loaded sets itself, one lookup per segment and one per
 * replica: about a second at a million segments, so a driver at that scale passes a
 * `JoinedPlannerInput` instead.
 */
export interface PlannerInput extends PlannerInputBase {
  /**
   * Committed assignments: segment id -> worker ids. May name unused segments. Names only
   * registered workers, as the catalog guarantees; a replica on an unknown worker counts for
   * nothing and is never named in a decision (the catalog would refuse the whole command).
   */
  readonly assignments: ReadonlyMap<string, readonly string[]>;
}

/**
 * The input with the committed assignments already joined with the workers' loaded sets. An
 * input carrying both forms is planned from `joined`.
 */
export interface JoinedPlannerInput extends PlannerInputBase {
  readonly joined: JoinedAssignments;
}

/** A holder code for a worker that is not in the input's `workers`: it counts for nothing. */
export const UNKNOWN_HOLDER = -1;

/**
 * The committed assignments joined with the workers' reports, per segment, so that the pass over
 * every segment walks arrays instead of hashing a million distinct ids (`join.ts` keeps one
 * incrementally; the planner builds one itself from a `PlannerInput`).
 */
export interface JoinedAssignments {
  /** The ids of the input's `workers`, in that order: what a holder code's worker number means (checked). */
  readonly workerIds: readonly string[];
  /**
   * Per segment, in the order of `segments`: its committed holders, in the committed order, each
   * coded `2 * k + loaded` (k: the worker's position in `workers`; loaded: 1 when that worker
   * reports the segment loaded, whatever its health) or `UNKNOWN_HOLDER`. undefined: unassigned.
   */
  readonly holders: readonly (readonly number[] | undefined)[];
  /** Assignments of ids not in `segments` (unused segments): id -> worker ids, none empty. */
  readonly unused: ReadonlyMap<string, readonly string[]>;
}

export type AssignReason =
  /** The segment had no replica on a live worker. */
  | 'unavailable'
  /** Fewer replicas on a tier than its rule wants. */
  | 'under-replicated'
  /** A replacement for a replica on a decommissioning worker. */
  | 'decommission'
  /** An extra replica for a hot segment. */
  | 'hot'
  /** A balancing move: the old replica is dropped as surplus once this one is loaded. */
  | 'balance';

export type UnassignReason =
  /** The segment is not used (marked unused, or its datasource deleted). */
  | 'drop-unused'
  | 'drop-overshadowed'
  /** A drop rule matched, or no rule did, or the load rule names no replicas. */
  | 'drop-rule'
  /** More replicas on a tier than wanted (a finished move, a cooled hot segment, a lower rule count). */
  | 'surplus'
  /** A replica on a tier the matching load rule does not name. */
  | 'drop-tier'
  /** The decommissioning worker's copy, now that its replacement is loaded. */
  | 'decommission'
  /** The worker has been down longer than the grace period. */
  | 'worker-gone';

export interface Assign {
  readonly segmentId: string;
  readonly workerId: string;
  readonly reason: AssignReason;
}

export interface Unassign {
  readonly segmentId: string;
  readonly workerId: string;
  readonly reason: UnassignReason;
}

export type WorkerHealth = 'live' | 'grace' | 'gone';

export interface WorkerStats {
  readonly id: string;
  readonly tier: string;
  readonly health: WorkerHealth;
  readonly state: WorkerState;
  /** Segments assigned once this plan is applied. */
  readonly segments: number;
  /** Bytes of the used segments assigned once this plan is applied. */
  readonly bytes: number;
  /** Segments it will have queued to load once this plan is applied (see `loadQueueMax`). */
  readonly loadQueue: number;
  /** Assignments this cycle gave it. */
  readonly loads: number;
  /** Decommissioning and assigned nothing once this plan is applied: safe to stop. */
  readonly drained: boolean;
}

export interface PlanStats {
  /** Used segments in the input. */
  readonly segments: number;
  readonly overshadowed: number;
  /** Used, not overshadowed, wanted by a rule, and loaded on no live worker (before this cycle). */
  readonly unavailable: number;
  /** Available, but with fewer live loaded replicas on some tier than its rule wants (before this cycle). */
  readonly underReplicated: number;
  /** Segments whose query count earns extra replicas. */
  readonly hot: number;
  /** Median of the non-zero per-segment query counts (0 when there are none). */
  readonly queryCountMedian: number;
  /** Assignments this cycle (moves included). */
  readonly loads: number;
  /** Removals this cycle. */
  readonly drops: number;
  /** Balancing moves started this cycle. */
  readonly moves: number;
  readonly assignsByReason: Readonly<Partial<Record<AssignReason, number>>>;
  readonly unassignsByReason: Readonly<Partial<Record<UnassignReason, number>>>;
  /** Unavailable segments that no worker could take this cycle (queues full, no capacity, no worker). */
  readonly unavailableUnplaced: number;
  /** Replicas wanted but not created this cycle (throttle, queues, capacity, no eligible worker). */
  readonly replicasDeferred: number;
  /** Whether `changesMax` cut this cycle's decisions short. */
  readonly truncated: boolean;
  /** Per worker, sorted by id. */
  readonly workers: readonly WorkerStats[];
  /** Ids of drained decommissioning workers, sorted. */
  readonly drained: readonly string[];
}

export interface Plan {
  /** Sorted by segment id, then worker id. */
  readonly assign: readonly Assign[];
  /** Sorted by segment id, then worker id. */
  readonly unassign: readonly Unassign[];
  readonly stats: PlanStats;
}
