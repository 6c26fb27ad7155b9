import { hashIdSet } from '@cairn/shared';
import { MetaClient, MetaError } from '@cairn/client';
import type { AssignedSegment } from './segment-cache.js';

/** The shortest gap between an early beat (see Heartbeat.soon) and the one before it. */
const SOON_MS = 100;

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
 * assignments whenever they changed. Survives the group being unavailable: it keeps serving what
 * it has and retries.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private leaderLoadedHash: string | null = null;
  private assignmentsHash = '';
  private registered = false;
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
    this.timer = setTimeout(this.tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Beats within SOON_MS instead of waiting for the period: the worker just finished its loads
   * (a recovery is complete only once the coordinator has heard so), or its load queue has halved
   * (the coordinator refills a queue bounded by loadQueueMax only once it hears of progress, and
   * its answer to this beat or the next carries the refill before the queue runs dry). At most
   * one early beat per SOON_MS, so a worker loading many small segments does not flood the leader
   * with full lists.
   */
  soon(): void {
    if (this.timer === null) return; // stopped, or not started
    if (this.inFlight) {
      this.soonAfterInFlight = true;
      return;
    }
    const dueIn = Math.max(SOON_MS - (Date.now() - this.lastBeatAt), 0);
    clearTimeout(this.timer);
    this.timer = setTimeout(this.tick, dueIn);
  }

  private inFlight = false;
  private soonAfterInFlight = false;
  private lastBeatAt = 0;

  private readonly tick = async (): Promise<void> => {
    this.inFlight = true;
    this.lastBeatAt = Date.now();
    try {
      await this.beat();
      this.failures = 0;
      this.lastOkAt = Date.now();
    } catch (err) {
      this.failures++;
      if (this.failures === 1 || this.failures % 30 === 0) this.log('heartbeat failed', { err: (err as Error).message, failures: this.failures });
    }
    this.inFlight = false;
    const next = this.soonAfterInFlight ? SOON_MS : this.everyMs;
    this.soonAfterInFlight = false;
    if (this.timer !== null) this.timer = setTimeout(this.tick, next);
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
      answer = await this.meta.request<HeartbeatAnswer>('POST', `/v1/workers/${encodeURIComponent(this.identity.id)}/heartbeat`, body, { idempotent: true });
    } catch (err) {
      // Removed from the catalog (or a new group): register again on the next beat.
      if (err instanceof MetaError && err.code === 'NOT_FOUND') this.registered = false;
      throw err;
    }
    this.leaderLoadedHash = answer.loadedHash;
    if (answer.assignments) {
      this.assignmentsHash = answer.assignmentsHash;
      this.onAssignments(answer.assignments);
    }
  }
}
