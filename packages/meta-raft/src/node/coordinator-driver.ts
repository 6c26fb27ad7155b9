import { firstMatchingRule, hashIdSet, isLoadRule } from '@cairn/shared';
import type { Rule } from '@cairn/shared';
import type { CommandResult } from '../catalog/index.js';
import { AssignmentJoin, plan } from '../coordinator/index.js';
import type { JoinedAssignments, PlannerSegment, PlannerWorker, PlanStats } from '../coordinator/index.js';
import { encodeCommand } from './catalog-machine.js';
import type { CatalogMachine } from './catalog-machine.js';
import type { Logger } from './logger.js';
import { RaftError, type RaftNode } from './raft-node.js';
import { UsedSegments, type SegmentsRefreshLimits } from './used-segments.js';

export type { SegmentsRefreshLimits } from './used-segments.js';

/** A worker's latest heartbeat, as the leader keeps it (in memory only: liveness is not replicated). */
export interface HeartbeatReport {
  readonly loadedHash: string;
  readonly loaded?: readonly string[] | undefined;
  readonly loadQueue: number;
  readonly cacheBytes: number;
  readonly queuedUnits: number;
  readonly queryCounts: Readonly<Record<string, number>>;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly assignmentsHash: string;
  /**
   * The version of the newest answer the worker had applied when it took this report (null if
   * none; absent from workers before it was added): the loaded list is true as of that answer.
   */
  readonly appliedVersion?: readonly [term: number, seq: number] | null | undefined;
}

export interface AssignedSegmentInfo {
  readonly id: string;
  readonly dataSource: string;
  readonly location: string;
  readonly checksum: string;
  readonly size: number;
}

export interface HeartbeatAnswer {
  readonly loadedHash: string | null;
  readonly assignmentsHash: string;
  readonly assignments?: AssignedSegmentInfo[];
  /**
   * When the leader computed this answer: the term it led in, then a count of the answers it
   * computed. A worker may have two answers on the way (a held beat and an early one, see `hold`);
   * it applies only an answer newer than every one it has seen, so a late one never takes it back.
   */
  readonly version: readonly [term: number, seq: number];
}

/** Longest a heartbeat may be held waiting for new assignments (see `hold`): below a follower's relay timeout. */
export const HEARTBEAT_HOLD_MS_MAX = 5000;
/**
 * A worker whose held heartbeat's connection closed before the answer (its process died, so its
 * kernel closed the socket) is down unless it beats again within this long (or heartbeatTimeoutMs,
 * if shorter). A live worker whose connection merely broke sends its beat again at once (the
 * client retries on a network error within tens of milliseconds).
 */
export const CLOSED_BEAT_GRACE_MS = 500;

interface Liveness {
  at: number;
  loaded: Set<string>;
  loadedHash: string | null;
  /** A full loaded list has come from this worker since this node leads (a first beat may bring only a hash). */
  heardList: boolean;
  /** The answer seq the list held is true as of (see `takeList`); -1 when unknown. */
  listSeq: number;
  loadQueue: number;
  cacheBytes: number;
  queuedUnits: number;
  latencyMs: { p50: number; p99: number };
  /** Decayed query counts per segment: a sliding window without keeping the window. */
  queries: Map<string, number>;
}

export interface TimelineSegment {
  readonly id: string;
  readonly dataSource: string;
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  /** How many partitions its (interval, version) has: a client tells a complete group by it. */
  readonly partitions: number;
  readonly size: number;
  /** Live workers that report it loaded: where queries should go. */
  readonly loadedOn: readonly string[];
  /** Workers it is assigned to (loaded or still loading). */
  readonly assignedTo: readonly string[];
}

export interface TimelineWorker {
  readonly id: string;
  readonly url: string;
  readonly tier: string;
  readonly dc: string;
  readonly state: string;
  readonly live: boolean;
}

export interface CoordinatorStatus {
  readonly leader: boolean;
  readonly cycles: number;
  readonly lastCycleAt: number | null;
  readonly lastCycleMs: number | null;
  /** Why the last cycle did not plan, if it did not. */
  readonly waiting: string | null;
  readonly stats: PlanStats | null;
  readonly lastCommit: { readonly loads: number; readonly drops: number; readonly moves: number; readonly ok: boolean; readonly error?: string } | null;
  readonly workers: readonly { readonly id: string; readonly lastHeartbeatAgoMs: number | null; readonly loaded: number; readonly loadQueue: number; readonly cacheBytes: number; readonly queuedUnits: number; readonly latencyMs: { p50: number; p99: number } | null }[];
}

/** The loaded set of a worker that has not reported one: shared, so the join sees no change. */
const NOTHING_LOADED: ReadonlySet<string> = new Set();
const decoder = new TextDecoder();
/** The command types whose entries can change assignments, as they appear in an entry's JSON. */
const SET_ASSIGNMENTS = Buffer.from('"setAssignments"');
const REMOVE_WORKER = Buffer.from('"removeWorker"');

/**
 * After a heartbeat reports loads or drops done, the next cycle starts this soon (so the beats of
 * several workers finishing together share one), and no sooner than this after the last one began.
 */
const SOON_DEBOUNCE_MS = 10;
const SOON_GAP_MS = 50;
/** Per heartbeat (about a second), each segment's count keeps this share: a window of about 20 s. */
const QUERY_DECAY = 0.95;
const DEFAULT_PERIOD_MS = 1000;
/**
 * Listing every used segment again (a new leader, a new catalog, segments marked used or unused)
 * costs a few hundred milliseconds at a million: a listing that took at least `staleMinMs` is
 * done again at most once per `budget` times its cost (see `UsedSegments`). The same budget
 * bounds whole cycles: the next cycle starts no sooner than `budget - 1` times the last one's
 * cost after it, so the coordinator takes at most a `budget`-th of the leader's time, however
 * big the catalog.
 */
const SEGMENTS_REFRESH: SegmentsRefreshLimits = { budget: 10, staleMinMs: 100 };
/** Segments (and assignments) joined per step of a full join: tens of milliseconds each. */
const JOIN_STEP_SEGMENTS = 50_000;

/**
 * How long after a cycle the next starts: a period after the last one started, and no sooner than
 * `budget - 1` times the time the cycle held the event loop (`busyMs`), so that cycles take at
 * most a `budget`-th of the leader's time however costly they grow; at least 10 ms.
 * @example nextCycleDelayMs(1000, 300, 200, 10) === 1800
 */
export function nextCycleDelayMs(periodMs: number, tookMs: number, busyMs: number, budget: number): number {
  return Math.max(10, periodMs - tookMs, (budget - 1) * busyMs);
}

/**
 * The coordinator, running on the Raft leader only. Workers heartbeat to the leader (followers
 * relay), which keeps their liveness and loaded segments in memory; each cycle it builds the
 * planner's input from the catalog and those heartbeats, plans, and commits the decisions as one
 * `setAssignments` command through Raft, so a new leader continues from the committed state with
 * no duplicate or lost assignment. A new leader plans only once every registered worker has
 * heartbeated to it (or the heartbeat timeout has passed), so it never mistakes "not heard yet"
 * for "has nothing loaded".
 */
export class CoordinatorDriver {
  private readonly liveness = new Map<string, Liveness>();
  private readonly downSince = new Map<string, number>();
  private leaderSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly usedSegments: UsedSegments;
  /** Milliseconds of the current cycle spent on the event loop (listing, joining, planning). */
  private busyMs = 0;
  /** The assignments joined with the loaded sets, as of the log entry `applied` (see `joined`). */
  private joinCache: { catalog: object; applied: number; join: AssignmentJoin } | null = null;
  /** Heartbeats held until the worker's assignments change (see `hold`): at most one per worker. */
  private readonly held = new Map<string, { readonly reportedHash: string; readonly release: () => void }>();
  private answerSeq = 0;
  /**
   * The term this driver's leader state (liveness, loaded lists, held beats) belongs to; null
   * while it does not lead. Answers are stamped with it rather than the node's current term: an
   * old leader that answers a held beat after it has adopted its successor's term must not stamp
   * that term with its own (far larger) answer count, or the worker would ignore every answer of
   * the new leader until its count caught up.
   */
  private ledTerm: number | null = null;
  /**
   * Per worker, segments taken from it in this term: id -> the first answer seq that can have told
   * the worker (answers are computed from the catalog when sent). A loaded list the worker took
   * before it applied such an answer may still show the segment (see `takeList`). Entries go once
   * a list as of a later answer is taken; keys are segment ids, so a worker holds at most one per
   * segment.
   */
  private readonly removedAt = new Map<string, Map<string, number>>();
  /** The cycle timer's due time; whether a cycle is running; the earliest the next may start (the budget). */
  private dueAt = 0;
  private running = false;
  private stopped = false;
  private earliestNextAt = 0;
  private lastStartAt = 0;
  private status_: CoordinatorStatus = { leader: false, cycles: 0, lastCycleAt: null, lastCycleMs: null, waiting: null, stats: null, lastCommit: null, workers: [] };
  onCycle: (s: CoordinatorStatus) => void = () => {};

  constructor(
    private readonly node: RaftNode<CatalogMachine>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** How stale the segment list may grow when listing is costly (tests set it). */
    private readonly refresh: SegmentsRefreshLimits = SEGMENTS_REFRESH,
  ) {
    this.usedSegments = new UsedSegments(refresh);
  }

  start(): void {
    this.schedule(DEFAULT_PERIOD_MS);
  }

  /**
   * Starts the leader state afresh when this node leads in another term than the one it was
   * built in: leadership lost and won back between two cycles keeps nothing from before (the
   * interim leader may have moved assignments; its workers' lists must be heard again).
   */
  private enterTerm(): void {
    const term = this.node.core.term;
    if (this.ledTerm === term) return;
    this.leave();
    this.ledTerm = term;
  }

  /** Drops the leader state: held beats are answered first, stamped with the term they belong to. */
  private leave(): void {
    this.releaseAll();
    this.ledTerm = null;
    this.leaderSince = null;
    this.liveness.clear();
    this.downSince.clear();
    this.removedAt.clear();
    this.joinCache = null;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stopped = true;
    this.releaseAll();
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = this.now() + delayMs;
    this.timer = setTimeout(this.run, delayMs);
  }

  private readonly run = async (): Promise<void> => {
    const started = this.now();
    this.running = true;
    this.lastStartAt = started;
    try {
      await this.cycle();
    } catch (err) {
      this.log.error({ err }, 'coordinator cycle failed');
    }
    this.running = false;
    const period = this.node.machine.catalog.coordinatorConfig().periodMs ?? DEFAULT_PERIOD_MS;
    const tookMs = this.now() - started;
    // The budget counts the loop time planning took, not the waits for commits or between join steps.
    const busyMs = this.busyMs;
    this.busyMs = 0;
    this.earliestNextAt = this.now() + nextCycleDelayMs(0, 0, busyMs, this.refresh.budget);
    if (this.timer !== null) this.schedule(this.soonPending ? this.soonDelayMs() : nextCycleDelayMs(period, tookMs, busyMs, this.refresh.budget));
    this.soonPending = false;
  };

  private soonPending = false;

  /** The delay to an early cycle: a short debounce, within the budget and SOON_GAP_MS after the last start. */
  private soonDelayMs(): number {
    const now = this.now();
    return Math.max(SOON_DEBOUNCE_MS, this.earliestNextAt - now, this.lastStartAt + SOON_GAP_MS - now);
  }

  /**
   * Brings the next cycle forward: a worker reported loads or drops done, so segments may be fully
   * replicated now (the status says so a cycle later, not a period later), surplus replicas may go,
   * and a load queue bounded by loadQueueMax can be refilled before it runs dry. The budget still
   * holds: the cycle waits `budget - 1` times the last one's loop time, as after any cycle.
   */
  private cycleSoon(): void {
    if (this.timer === null) return; // stopped, or not started
    if (this.running) {
      this.soonPending = true;
      return;
    }
    const delay = this.soonDelayMs();
    if (this.dueAt - this.now() > delay) this.schedule(delay);
  }

  status(): CoordinatorStatus {
    return this.status_;
  }

  /**
   * A worker drops a segment as soon as it hears it is no longer assigned, but tells us only at
   * its next report. Until then the list we hold would still show it loaded, and a later cycle
   * that gives it back to the same worker would count it as loaded, not queued: the worker would
   * get one load more than `loadQueueMax`. So committed removals leave our copy of the list at
   * once (a new Set: the join notices a list by identity), with its hash: a worker whose list is
   * then the same need not send it, and one whose list differs (loads done meanwhile) sends it
   * and, as a change, brings the next cycle forward.
   */
  private forgetRemoved(changes: Iterable<{ segmentId: string; remove: readonly string[] }>): void {
    const removed = new Map<string, string[]>();
    for (const c of changes) {
      for (const w of c.remove) {
        let ids = removed.get(w);
        if (!ids) removed.set(w, (ids = []));
        ids.push(c.segmentId);
        this.noteRemoved(w, c.segmentId);
      }
    }
    for (const [workerId, ids] of removed) {
      const live = this.liveness.get(workerId);
      if (!live || !ids.some((id) => live.loaded.has(id))) continue;
      const loaded = new Set(live.loaded);
      for (const id of ids) loaded.delete(id);
      live.loaded = loaded;
      if (live.loadedHash !== null) live.loadedHash = hashIdSet(loaded);
    }
  }

  /** `segmentId` left `workerId`'s assignments (committed): see `removedAt`. */
  private noteRemoved(workerId: string, segmentId: string): void {
    let m = this.removedAt.get(workerId);
    if (!m) this.removedAt.set(workerId, (m = new Map()));
    // The next answer computed is the first that can tell the worker; a later removal of the
    // same segment (given back meanwhile) moves the mark on.
    m.set(segmentId, this.answerSeq + 1);
  }

  /**
   * Takes a worker's loaded list as the one held, unless it is older than the one held (two beats
   * crossed). A list is true as of the newest answer the worker had applied; a segment taken from
   * the worker after that answer was computed may be in it although the worker has dropped it
   * since (the report was on its way while the removal committed). Such segments are left out: if
   * the worker does still hold one, its next list says so. A list as of an answer from another
   * term (or none) trusts no removal of this term. Leaving ids out changes the hash held, so the
   * answer asks the worker for its list again. Returns whether the list held changed.
   */
  private takeList(workerId: string, live: Liveness, r: HeartbeatReport & { loaded: readonly string[] }): boolean {
    const v = r.appliedVersion;
    const seq = v !== undefined && v !== null && v[0] === this.ledTerm ? v[1] : -1;
    if (seq >= 0 && seq < live.listSeq) return false;
    const removed = this.removedAt.get(workerId);
    let list: readonly string[] = r.loaded;
    if (removed && removed.size > 0) {
      list = r.loaded.filter((id) => !(seq < (removed.get(id) ?? -1)));
      // Removals the worker has heard of by now are in every list to come.
      for (const [id, at] of removed) if (at <= seq) removed.delete(id);
    }
    const hash = list.length === r.loaded.length ? r.loadedHash : hashIdSet(list);
    const changed = live.loadedHash !== null && hash !== live.loadedHash;
    live.loaded = new Set(list);
    live.loadedHash = hash;
    live.listSeq = seq;
    live.heardList = true;
    return changed;
  }

  /** Records a heartbeat; answers with the worker's assignments when they differ from what it holds. */
  onHeartbeat(workerId: string, r: HeartbeatReport): HeartbeatAnswer | null {
    // Only a leader keeps liveness and answers: a node that lost leadership since the route
    // checked sends the beat on (the relay middleware retries it at the leader named).
    if (this.node.core.role !== 'leader') throw new RaftError('NOT_LEADER', 'this node no longer leads; the heartbeat goes to the new leader', this.node.core.lead);
    this.enterTerm();
    const catalog = this.node.machine.catalog;
    if (catalog.worker(workerId) === null) return null;
    let live = this.liveness.get(workerId);
    if (!live) {
      live = { at: 0, loaded: new Set(), loadedHash: null, heardList: false, listSeq: -1, loadQueue: 0, cacheBytes: 0, queuedUnits: 0, latencyMs: { p50: 0, p99: 0 }, queries: new Map() };
      this.liveness.set(workerId, live);
    }
    live.at = this.now();
    if (r.loaded) {
      // A list that differs from the one held (not a new leader's first): loads or drops are done.
      if (this.takeList(workerId, live, r as HeartbeatReport & { loaded: readonly string[] })) this.cycleSoon();
    } else if (r.loadedHash !== live.loadedHash) {
      // It thinks we hold a list we do not (a new leader): ask for it by answering our hash.
      live.loadedHash = null;
    }
    live.loadQueue = r.loadQueue;
    live.cacheBytes = r.cacheBytes;
    live.queuedUnits = r.queuedUnits;
    live.latencyMs = r.latencyMs;
    for (const [id, n] of live.queries) {
      const decayed = n * QUERY_DECAY;
      if (decayed < 0.5) live.queries.delete(id);
      else live.queries.set(id, decayed);
    }
    for (const [id, n] of Object.entries(r.queryCounts)) live.queries.set(id, (live.queries.get(id) ?? 0) + n);
    this.downSince.delete(workerId);
    // A newer beat answers the one held before it, as of now (the worker applies the newer answer).
    this.held.get(workerId)?.release();
    return this.answer(workerId, r.assignmentsHash);
  }

  /**
   * Holds the answer to a heartbeat that carried no new assignments for up to `waitMs` (at most
   * HEARTBEAT_HOLD_MS_MAX), and answers as soon as a cycle commits a change to the worker's
   * assignments: a long poll, so assignments reach a worker within a round trip of the decision
   * instead of at its next beat (a second at the default period). Also answered early by the
   * worker's next beat, by a lost leadership and by `stop`. Every answer is computed when it is
   * sent, so it is true as of its version. At most one held beat per worker.
   *
   * @example const answer = await driver.hold('w1', driver.onHeartbeat('w1', report)!, report.assignmentsHash, 1000);
   */
  hold(workerId: string, answer: HeartbeatAnswer, reportedHash: string, waitMs: number, closed?: AbortSignal): Promise<HeartbeatAnswer> {
    if (answer.assignments !== undefined || !(waitMs > 0) || this.stopped || this.node.core.role !== 'leader') return Promise.resolve(answer);
    this.held.get(workerId)?.release();
    return new Promise<HeartbeatAnswer>((resolve) => {
      const onClosed = () => {
        release();
        this.beatConnectionClosed(workerId);
      };
      const release = () => {
        clearTimeout(timer);
        closed?.removeEventListener('abort', onClosed);
        if (this.held.get(workerId) === entry) this.held.delete(workerId);
        const now = this.node.machine.catalog.worker(workerId) === null ? null : this.answer(workerId, reportedHash);
        resolve(now ?? answer);
      };
      const timer = setTimeout(release, Math.min(waitMs, HEARTBEAT_HOLD_MS_MAX));
      const entry = { reportedHash, release };
      this.held.set(workerId, entry);
      if (closed?.aborted) onClosed();
      else closed?.addEventListener('abort', onClosed, { once: true });
    });
  }

  /**
   * The connection of a held heartbeat closed before its answer: the worker's process most likely
   * died (a SIGKILL, a crash), as a live process keeps its sockets open however busy or paused it
   * is. Its liveness now ends CLOSED_BEAT_GRACE_MS from now instead of heartbeatTimeoutMs after its
   * beat, unless it beats again meanwhile, and a cycle follows then. Only a worker's own
   * connection counts (the route passes no signal for a beat a follower relayed).
   */
  private beatConnectionClosed(workerId: string): void {
    const live = this.liveness.get(workerId);
    if (!live || this.stopped) return;
    const timeout = this.node.machine.catalog.coordinatorConfig().heartbeatTimeoutMs ?? 5000;
    const graceMs = Math.min(CLOSED_BEAT_GRACE_MS, timeout);
    live.at = Math.min(live.at, this.now() - timeout + graceMs);
    this.log.info({ worker: workerId, graceMs }, 'a held heartbeat\'s connection closed: the worker is down unless it beats again');
    setTimeout(() => this.cycleSoon(), graceMs + 1).unref();
  }

  /** Heartbeats held (for tests and the status). */
  get heldCount(): number {
    return this.held.size;
  }

  /** Answers the held heartbeats of `workers` (those a commit named) whose assignments no longer match what they reported. */
  private releaseChanged(workers: ReadonlySet<string>): void {
    const catalog = this.node.machine.catalog;
    for (const workerId of workers) {
      const h = this.held.get(workerId);
      if (h && hashIdSet(catalog.assignments({ workerId }).map((a) => a.segmentId)) !== h.reportedHash) h.release();
    }
  }

  private releaseAll(): void {
    for (const h of [...this.held.values()]) h.release();
  }

  /** The answer to a worker that holds assignments of hash `reportedHash`, as of now. */
  private answer(workerId: string, reportedHash: string): HeartbeatAnswer {
    const catalog = this.node.machine.catalog;
    const ids = catalog.assignments({ workerId }).map((a) => a.segmentId);
    const hash = hashIdSet(ids);
    // Not leading (a late answer to a held beat): term 0, older than any leader's, so the worker
    // keeps what it has rather than take this answer over one of a real leader.
    const version = [this.ledTerm ?? 0, ++this.answerSeq] as const;
    const answer: HeartbeatAnswer = { loadedHash: this.liveness.get(workerId)?.loadedHash ?? null, assignmentsHash: hash, version };
    if (hash === reportedHash) return answer;
    const assignments: AssignedSegmentInfo[] = [];
    for (const id of ids) {
      const s = catalog.segment(id);
      if (s) assignments.push({ id: s.id, dataSource: s.dataSource, location: s.location, checksum: s.checksum, size: s.size });
    }
    return { ...answer, assignments };
  }

  /**
   * The serving view for clients (a broker's server view): the visible segments of `dataSource`
   * (or of all datasources) that its rules keep loaded, each with the live workers that report it loaded and those it is
   * assigned to, plus the workers' addresses. `etag` changes whenever any of it does.
   */
  timeline(dataSource: string | undefined): { etag: string; segments: TimelineSegment[]; workers: TimelineWorker[] } {
    const catalog = this.node.machine.catalog;
    const now = this.now();
    const timeout = catalog.coordinatorConfig().heartbeatTimeoutMs ?? 5000;
    const live = new Set<string>();
    for (const [id, l] of this.liveness) if (now - l.at <= timeout) live.add(id);
    const segments: TimelineSegment[] = [];
    const tags: string[] = [];
    const defaults = catalog.defaultRules();
    const rulesOf = new Map<string, readonly Rule[]>();
    // Incomplete groups are left out, as Druid's broker does: queries read a version's partitions all or not at all.
    for (const s of catalog.segments(dataSource === undefined ? { completeOnly: true } : { dataSource, completeOnly: true })) {
      // Data its rules drop is not served, so not queried (as in Druid): it is not in the timeline.
      let rules = rulesOf.get(s.dataSource);
      if (!rules) rulesOf.set(s.dataSource, (rules = catalog.rules(s.dataSource)));
      const rule = firstMatchingRule(rules, defaults, s, now);
      if (!rule || !isLoadRule(rule) || Object.values(rule.tieredReplicants).every((n) => n === 0)) continue;
      const assignedTo = [...(catalog.assignments({ segmentId: s.id })[0]?.workerIds ?? [])];
      const loadedOn = assignedTo.filter((w) => live.has(w) && this.liveness.get(w)!.loaded.has(s.id));
      segments.push({ id: s.id, dataSource: s.dataSource, start: s.start, end: s.end, version: s.version, partition: s.partition, partitions: s.partitions, size: s.size, loadedOn, assignedTo });
      tags.push(`${s.id}@${loadedOn.join(',')}/${assignedTo.join(',')}`);
    }
    const workers = catalog.workers().map((w) => ({ id: w.id, url: w.url, tier: w.tier, dc: w.dc, state: w.state, live: live.has(w.id) }));
    for (const w of workers) tags.push(`${w.id}=${w.url}|${w.dc}|${w.live}`);
    return { etag: hashIdSet(tags), segments, workers };
  }

  /** One planning cycle (public for tests). */
  async cycle(): Promise<void> {
    const node = this.node;
    if (node.core.role !== 'leader') {
      this.leave();
      this.status_ = { ...this.status_, leader: false };
      return;
    }
    this.enterTerm();
    const now = this.now();
    this.leaderSince ??= now;
    const catalog = node.machine.catalog;
    const config = catalog.coordinatorConfig();
    const timeout = config.heartbeatTimeoutMs ?? 5000;
    const registered = catalog.workers();
    // Not heard yet is not "has nothing": a worker's first beat to a new leader may carry only
    // the hash of its list (the old leader held it); the answer asks for the list.
    const silent = registered.filter((w) => !this.liveness.get(w.id)?.heardList);
    if (silent.length > 0 && now - this.leaderSince < timeout) {
      this.status_ = { ...this.status_, leader: true, waiting: `waiting for the first heartbeat of ${silent.map((w) => w.id).join(', ')}` };
      return;
    }
    const started = performance.now();
    const { segments, overshadowed, stale } = this.busy(() => this.segments(catalog));
    const workers: PlannerWorker[] = this.busy(() => registered.map((w) => {
      const live = this.liveness.get(w.id);
      // Never heard since this leader took over: down since then (its grace starts then).
      const last = live?.at ?? null;
      if (last === null && !this.downSince.has(w.id)) this.downSince.set(w.id, this.leaderSince!);
      return {
        id: w.id,
        tier: w.tier,
        dc: w.dc,
        capacityBytes: w.capacityBytes,
        state: w.state,
        lastHeartbeatAt: last,
        loaded: live?.loaded ?? NOTHING_LOADED,
        loadQueue: new Set(),
        queryCounts: live?.queries ?? new Map(),
      };
    }));
    for (const id of this.liveness.keys()) if (!registered.some((w) => w.id === id)) this.liveness.delete(id);
    for (const id of this.removedAt.keys()) if (!registered.some((w) => w.id === id)) this.removedAt.delete(id);
    const joined = await this.joined(catalog, segments, workers);
    const { periodMs: _period, ...plannerConfig } = config;
    const p = this.busy(() => plan({
      now,
      segments,
      overshadowed,
      rules: catalog.allRules(),
      defaultRules: catalog.defaultRules(),
      workers,
      joined,
      downSince: this.downSince,
      config: plannerConfig,
    }));
    let lastCommit: CoordinatorStatus['lastCommit'] = { loads: p.stats.loads, drops: p.stats.drops, moves: p.stats.moves, ok: true };
    if (p.assign.length > 0 || p.unassign.length > 0) {
      const changes = new Map<string, { segmentId: string; add: string[]; remove: string[] }>();
      const entry = (id: string) => {
        let c = changes.get(id);
        if (!c) changes.set(id, (c = { segmentId: id, add: [], remove: [] }));
        return c;
      };
      for (const a of p.assign) entry(a.segmentId).add.push(a.workerId);
      for (const u of p.unassign) {
        // On a stale list a segment may have been used or visible again since: such drops wait.
        if (stale && (u.reason === 'drop-unused' || u.reason === 'drop-overshadowed')) continue;
        entry(u.segmentId).remove.push(u.workerId);
      }
      if (changes.size > 0) {
        try {
          const result = await node.propose<CommandResult>(encodeCommand({ type: 'setAssignments', changes: [...changes.values()] }));
          if (!result.ok) lastCommit = { ...lastCommit, ok: false, error: `${result.error.code}: ${result.error.message}` };
          else this.forgetRemoved(changes.values());
        } catch (err) {
          lastCommit = { ...lastCommit, ok: false, error: (err as Error).message };
        }
      }
      // Workers waiting in a held heartbeat hear of their new assignments now, not at their next beat.
      this.busy(() => this.releaseChanged(new Set([...changes.values()].flatMap((c) => [...c.add, ...c.remove]))));
      if (!lastCommit.ok) this.log.warn({ error: lastCommit.error }, 'coordinator decisions not committed; the next cycle plans again');
      else this.log.info({ loads: p.stats.loads, drops: p.stats.drops, moves: p.stats.moves, unavailable: p.stats.unavailable, underReplicated: p.stats.underReplicated }, 'coordinator committed assignments');
    }
    this.status_ = {
      leader: true,
      cycles: this.status_.cycles + 1,
      lastCycleAt: now,
      lastCycleMs: performance.now() - started,
      waiting: null,
      stats: p.stats,
      lastCommit,
      workers: registered.map((w) => {
        const live = this.liveness.get(w.id);
        return {
          id: w.id,
          lastHeartbeatAgoMs: live ? now - live.at : null,
          loaded: live?.loaded.size ?? 0,
          loadQueue: live?.loadQueue ?? 0,
          cacheBytes: live?.cacheBytes ?? 0,
          queuedUnits: live?.queuedUnits ?? 0,
          latencyMs: live?.latencyMs ?? null,
        };
      }),
    };
    this.onCycle(this.status_);
  }

  /**
   * The committed assignments joined with the workers' loaded sets, for the planner. Built in full
   * once (a new leader, a new catalog after a snapshot, a worker removed, or log entries it did
   * not see compacted away: a few seconds at a million segments), then kept up to date: each cycle
   * reads the log entries applied since the last, and re-reads from the catalog only the segments
   * a `setAssignments` among them names (ours and any operator's), so a cycle costs no pass over
   * the assignments. The join itself diffs the loaded sets heartbeats replaced, looks each
   * segment up once on a new segment list, and joins in full again on a new worker list.
   */
  private async joined(catalog: CatalogMachine['catalog'], segments: readonly PlannerSegment[], workers: readonly PlannerWorker[]): Promise<JoinedAssignments> {
    const log = this.node.core.log;
    const applied = log.applied;
    const c = this.joinCache;
    // The machine applies a batch before the applied index moves: read up to `committed`, all it
    // may have applied, and from `applied`, all that is sure, again next time.
    const touched = c !== null && c.catalog === catalog ? this.busy(() => this.assignmentsTouched(c.applied, log.committed)) : null;
    if (c === null || touched === null) {
      // Built in steps, letting the Raft loop run between them: in one go a million segments
      // would hold a new leader's loop for half a second, and followers would elect another.
      // Assignments committed meanwhile are read from the log after `applied` next cycle.
      const join = this.busy(() => new AssignmentJoin(segments, workers, [...catalog.assignmentEntries()], { deferred: true }));
      while (!this.busy(() => join.buildStep(JOIN_STEP_SEGMENTS))) await new Promise((resolve) => setImmediate(resolve));
      this.joinCache = { catalog, applied, join };
      return join.joined();
    }
    this.busy(() => {
      for (const id of touched) {
        const holders = catalog.assignments({ segmentId: id })[0]?.workerIds;
        // Removals committed by anyone (an operator, a proposal of ours that timed out yet
        // committed) are noted here too, a cycle later at most (later is only more careful).
        for (const w of c.join.holdersOf(id) ?? []) if (!holders?.includes(w)) this.noteRemoved(w, id);
        c.join.setHolders(id, holders);
      }
      c.join.setSegments(segments);
      c.join.setWorkers(workers);
    });
    c.applied = applied;
    return c.join.joined();
  }

  /**
   * Ids of the segments whose assignments the log entries after `from` up to `to` may have
   * changed, or null when that cannot be told (an entry compacted away, a worker removed with its
   * assignments).
   */
  private assignmentsTouched(from: number, to: number): Set<string> | null {
    const log = this.node.core.log;
    const out = new Set<string>();
    for (let index = from + 1; index <= to; index++) {
      const e = log.entry(index);
      if (e === undefined) return null;
      if (e.type !== 'normal' || e.data.length === 0) continue;
      // Most entries are publishes and the like (hundreds of kilobytes): search their bytes, and
      // decode and parse only those that may matter.
      const bytes = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
      if (bytes.indexOf(SET_ASSIGNMENTS) < 0 && bytes.indexOf(REMOVE_WORKER) < 0) continue;
      const text = decoder.decode(e.data);
      let command: { type?: unknown; changes?: unknown };
      try {
        command = JSON.parse(text) as typeof command;
      } catch {
        continue; // the machine refused it too
      }
      if (command.type === 'removeWorker') return null;
      if (command.type !== 'setAssignments' || !Array.isArray(command.changes)) continue;
      for (const ch of command.changes as unknown[]) {
        const id = (ch as { segmentId?: unknown } | null)?.segmentId;
        if (typeof id === 'string') out.add(id);
      }
    }
    return out;
  }

  /** Runs `work`, counting its time toward this cycle's share of the event loop (`busyMs`). */
  private busy<T>(work: () => T): T {
    const t0 = performance.now();
    try {
      return work();
    } finally {
      this.busyMs += performance.now() - t0;
    }
  }

  /** Used segments and the overshadowed ones among them, followed from the catalog (see `UsedSegments`). */
  private segments(catalog: CatalogMachine['catalog']): { segments: PlannerSegment[]; overshadowed: ReadonlySet<string>; stale: boolean } {
    return this.usedSegments.sync(catalog);
  }
}
