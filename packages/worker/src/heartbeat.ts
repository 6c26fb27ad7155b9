import { hashIdSet, newerVersion } from '@cairn/shared';
import { MetaClient, MetaError } from '@cairn/client';
import type { AssignedSegment } from './segment-cache.js';

/** The shortest gap between an early beat (see Heartbeat.soon) and the one before it. */
const SOON_MS = 100;
/** The longest a beat asks the leader to hold its answer (the leader's own bound is 5 s). */
const HOLD_MS_MAX = 5000;
/** Beats on the way at once with a leader that holds them: the held one and the one that releases it. */
const IN_FLIGHT_MAX = 2;

/** What a worker tells the metadata group about itself every heartbeat. */
export interface WorkerReport {
  readonly loadedHash: string;
  /** Sent only when the leader does not already hold this exact list (see `loadedHash`). */
  readonly loaded?: string[] | undefined;
  readonly loadQueue: number;
  readonly cacheBytes: number;
  readonly queuedUnits: number;
  /** Queries per segment since the previous heartbeat. */
  readonly queryCounts: Record<string, number>;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly assignmentsHash: string;
}

export interface HeartbeatAnswer {
  /** The hash of the loaded list the leader now holds for this worker. */
  readonly loadedHash: string | null;
  readonly assignmentsHash: string;
  /** Present only when they differ from what the worker reported holding. */
  readonly assignments?: AssignedSegment[];
  /** The leader's term and a count of its answers (absent from leaders before the long poll). */
  readonly version?: readonly [number, number];
}

export interface WorkerIdentity {
  readonly id: string;
  readonly url: string;
  readonly tier: string;
  readonly dc: string;
  readonly capacityBytes: number;
  readonly version: string;
}

/**
 * Registers the worker and heartbeats every `everyMs` through any member of the metadata group
 * (followers relay to the leader, where liveness is tracked). The answer carries the worker's
 * assignments whenever they changed. Each beat asks the leader to hold its answer while nothing
 * changed (`?waitMs`, a long poll): a leader answers as soon as a cycle changes this worker's
 * assignments, so they arrive within a round trip of the decision rather than at the next beat,
 * or when the next beat arrives a period later, so one beat is held at all times. A leader that
 * does not hold (an older version) answers at once, and each beat waits for the one before. At
 * most IN_FLIGHT_MAX beats are on the way. Survives the group being unavailable: it keeps
 * serving what it has and retries.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private leaderLoadedHash: string | null = null;
  private assignmentsHash = '';
  private registered = false;
  /** The newest answer applied: an older one that arrives later (two beats on the way) is ignored. */
  private lastVersion: readonly [number, number] | null = null;
  /** The leader answers with versions, so it holds beats and two may be on the way at once. */
  private versioned = false;
  private inFlight = 0;
  private soonAfterInFlight = false;
  private lastBeatAt = 0;
  failures = 0;
  lastOkAt = 0;

  constructor(
    private readonly meta: MetaClient,
    private readonly identity: WorkerIdentity,
    private readonly everyMs: number,
    private readonly report: () => Omit<WorkerReport, 'loadedHash' | 'loaded' | 'assignmentsHash'> & { loaded: string[] },
    private readonly onAssignments: (segments: AssignedSegment[]) => void,
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.arm(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Beats within SOON_MS instead of waiting for the period: the worker just finished its loads
   * (a recovery is complete only once the coordinator has heard so), or its load queue has halved
   * (the coordinator refills a queue bounded by loadQueueMax only once it hears of progress, and
   * its answer to this beat or the next carries the refill before the queue runs dry). At most
   * one early beat per SOON_MS, so a worker loading many small segments does not flood the leader
   * with full lists. A beat the leader is holding does not delay it: the new beat goes at once,
   * and the leader answers the held one when it arrives.
   */
  soon(): void {
    if (this.stopped) return;
    if (this.inFlight >= (this.versioned ? IN_FLIGHT_MAX : 1)) {
      this.soonAfterInFlight = true;
      return;
    }
    this.arm(Math.max(SOON_MS - (Date.now() - this.lastBeatAt), 0));
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(this.tick, ms);
  }

  private readonly tick = async (): Promise<void> => {
    this.timer = null;
    if (this.inFlight >= IN_FLIGHT_MAX) {
      // The leader is slow or unreachable: no more beats pile up; one follows the next to end.
      this.soonAfterInFlight = true;
      return;
    }
    this.inFlight++;
    this.lastBeatAt = Date.now();
    // With a leader that holds beats, the next beat leaves a period after this one whether or not
    // this one was answered, and the leader answers this one when it arrives: a beat is held at
    // all times, so a closed connection tells the leader of this process's death at any moment.
    if (this.versioned) this.arm(this.everyMs);
    try {
      await this.beat();
      this.failures = 0;
      this.lastOkAt = Date.now();
    } catch (err) {
      this.failures++;
      if (this.failures === 1 || this.failures % 30 === 0) this.log('heartbeat failed', { err: (err as Error).message, failures: this.failures });
    }
    this.inFlight--;
    if (this.soonAfterInFlight && this.inFlight < (this.versioned ? IN_FLIGHT_MAX : 1)) {
      this.soonAfterInFlight = false;
      this.arm(SOON_MS);
      return;
    }
    // Another beat is on the way, or the next is already due (armed when this one left).
    if (this.inFlight > 0 || this.timer !== null) return;
    this.arm(this.everyMs);
  };

  async register(): Promise<void> {
    await this.meta.request('PUT', `/v1/workers/${encodeURIComponent(this.identity.id)}`, {
      url: this.identity.url,
      tier: this.identity.tier,
      dc: this.identity.dc,
      capacityBytes: this.identity.capacityBytes,
      version: this.identity.version,
    }, { idempotent: true });
    this.registered = true;
    this.lastVersion = null;
  }

  private async beat(): Promise<void> {
    if (!this.registered) await this.register();
    const r = this.report();
    const loadedHash = hashIdSet(r.loaded);
    const body: WorkerReport = {
      ...r,
      loadedHash,
      // The full list only when the leader does not hold it already (it tells us which it holds).
      loaded: loadedHash === this.leaderLoadedHash ? undefined : r.loaded,
      assignmentsHash: this.assignmentsHash,
    };
    let answer: HeartbeatAnswer;
    try {
      // Held by the leader while nothing changes for this worker, until the next beat arrives (a
      // period from now; two, should the next be late).
      // `applied`: the list is true as of that answer (the leader leaves out segments it took
      // from us after it; see CoordinatorDriver.takeList).
      const applied = this.lastVersion === null ? '' : `&applied=${this.lastVersion[0]}.${this.lastVersion[1]}`;
      answer = await this.meta.request<HeartbeatAnswer>('POST', `/v1/workers/${encodeURIComponent(this.identity.id)}/heartbeat?waitMs=${Math.min(2 * this.everyMs, HOLD_MS_MAX)}${applied}`, body, { idempotent: true });
    } catch (err) {
      // Removed from the catalog (or a new group): register again on the next beat.
      if (err instanceof MetaError && err.code === 'NOT_FOUND') this.registered = false;
      throw err;
    }
    if (answer.version !== undefined) {
      // Two beats may be on the way (see soon): an answer older than one applied is out of date.
      if (!newerVersion(answer.version, this.lastVersion)) return;
      this.lastVersion = answer.version;
      this.versioned = true;
    }
    this.leaderLoadedHash = answer.loadedHash;
    if (answer.assignments) {
      this.assignmentsHash = answer.assignmentsHash;
      this.onAssignments(answer.assignments);
    }
  }
}
