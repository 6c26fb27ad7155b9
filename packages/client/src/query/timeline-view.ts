import { visibleParts } from '@cairn/shared';
import type { Interval } from '@cairn/shared';
import type { MetaClient } from '../meta-client.js';

export interface ServedSegment {
  readonly id: string;
  readonly dataSource: string;
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  /** The partition count of its (interval, version), when the group sends it (see `clipToVisible`). */
  readonly partitions?: number;
  readonly size: number;
  readonly loadedOn: readonly string[];
  readonly assignedTo: readonly string[];
  /**
   * Set when newer versions cover part of the segment: the stretches still visible (sorted,
   * disjoint), to which queries of it are clipped. Absent: the whole segment is visible.
   */
  readonly visible?: readonly Interval[];
}

export interface ServingWorker {
  readonly id: string;
  readonly url: string;
  readonly tier: string;
  readonly dc: string;
  readonly state: string;
  readonly live: boolean;
}

interface View {
  etag: string | null;
  segments: readonly ServedSegment[];
  fetchedAt: number;
  /** Whether a fetch ever succeeded: until then there is nothing to serve a query from. */
  loaded: boolean;
  refreshing: Promise<void> | null;
}

/**
 * The client's cached view of the timeline: which visible (used, not overshadowed) segments a
 * datasource has and which workers serve each. Refreshed in the background when older than
 * `refreshMs` (a conditional GET, so an unchanged view costs one round trip and no body), and
 * kept when the metadata group cannot answer: queries go on from the last view.
 */
export class TimelineView {
  private readonly views = new Map<string, View>();
  private workers = new Map<string, ServingWorker>();

  constructor(private readonly meta: MetaClient, private readonly refreshMs = 1000, private readonly now: () => number = Date.now) {}

  /**
   * Segments of `dataSource` whose visible part overlaps `intervals`, from a view no older than
   * `refreshMs` when the group answers. Until the datasource's first fetch succeeds, every caller
   * waits for it (one fetch in flight) and fails with its error: there is no view to fall back on.
   */
  async segments(dataSource: string, intervals: readonly Interval[]): Promise<ServedSegment[]> {
    let view = this.views.get(dataSource);
    if (!view) {
      view = { etag: null, segments: [], fetchedAt: 0, loaded: false, refreshing: null };
      this.views.set(dataSource, view);
    }
    if (!view.loaded) {
      await (view.refreshing ?? this.refresh(dataSource, view));
    } else if (this.now() - view.fetchedAt > this.refreshMs) {
      // Stale: refresh, but serve this query from the old view if the group is slow or down.
      const r = view.refreshing ?? this.refresh(dataSource, view);
      await Promise.race([r, new Promise((res) => setTimeout(res, 50))]);
    }
    const overlaps = (a: { start: number; end: number }) => intervals.some((i) => a.start < i.end && i.start < a.end);
    return view.segments.filter((s) => (s.visible ?? [s]).some(overlaps));
  }

  /** Forces the next `segments` call to ask the group (after a miss or a failure). */
  invalidate(dataSource: string): void {
    const view = this.views.get(dataSource);
    if (view) view.fetchedAt = 0;
  }

  worker(id: string): ServingWorker | undefined {
    return this.workers.get(id);
  }

  allWorkers(): ServingWorker[] {
    return [...this.workers.values()];
  }

  /** Fetches the view; rejects only when the view was never loaded (a loaded one is kept). */
  private refresh(dataSource: string, view: View): Promise<void> {
    const run = (async () => {
      try {
        const r = await this.meta.getIfChanged<{ segments: ServedSegment[]; workers: ServingWorker[] }>(
          `/v1/timeline?dataSource=${encodeURIComponent(dataSource)}`, view.etag);
        if (!r.notModified) {
          view.segments = clipToVisible(r.body.segments);
          view.etag = r.etag;
          this.workers = withLiveness(r.body.workers);
        }
        view.fetchedAt = this.now();
        view.loaded = true;
      } catch (err) {
        if (!view.loaded) {
          // The next query tries again from scratch; the ones waiting on this fetch fail with it.
          if (this.views.get(dataSource) === view) this.views.delete(dataSource);
          throw err;
        }
        // Keep the last view; the next query tries again.
      } finally {
        view.refreshing = null;
      }
    })();
    view.refreshing = run;
    return run;
  }
}

/**
 * The served segments with the stretches newer versions cover cut out (`visible`), and those
 * they cover entirely dropped. The group lists every segment not fully overshadowed, so a
 * segment only partly covered by newer ones comes with them; read whole, the covered stretch
 * would be counted twice. A group lacking partitions is not read at all, as in Druid (the
 * metadata group leaves such groups out already; this covers one that does not). How many
 * partitions a group has is its `partitions`; a timeline that does not send it has each group
 * taken as complete when its listed partitions run 0..k without a gap.
 */
function clipToVisible(segments: readonly ServedSegment[]): ServedSegment[] {
  const count = new Map<string, number>();
  const key = (s: ServedSegment) => `${s.dataSource}\u0000${s.start}\u0000${s.end}\u0000${s.version}`;
  for (const s of segments) count.set(key(s), Math.max(count.get(key(s)) ?? 0, s.partition + 1));
  const parts = visibleParts(segments.map((s) => ({
    id: s.id, dataSource: s.dataSource, start: s.start, end: s.end, version: s.version,
    partition: s.partition, partitions: s.partitions ?? count.get(key(s))!, used: true,
  })));
  const out: ServedSegment[] = [];
  segments.forEach((s, i) => {
    const p = parts[i]!;
    if (p.length === 0) return;
    out.push(p.length === 1 && p[0]!.start === s.start && p[0]!.end === s.end ? s : { ...s, visible: p });
  });
  return out;
}

/**
 * The workers of a new view. Right after a metadata leader change the new leader has heard no
 * heartbeat yet and lists every worker not live (and no segment loaded anywhere) until they beat,
 * about a heartbeat period; taken at its word, every query would fail for that moment. So a view
 * where no worker at all is live says nothing about liveness, and every worker stays a candidate
 * (segments then go to the workers they are assigned to). This needs no timer and no memory of
 * the last view, and it is safe: if the workers really are all down, requests to them fail fast
 * and are retried and reported like any failure. The first view with a live worker ends it.
 */
function withLiveness(workers: readonly ServingWorker[]): Map<string, ServingWorker> {
  const unknown = workers.length > 0 && workers.every((w) => !w.live);
  return new Map(workers.map((w) => [w.id, unknown ? { ...w, live: true } : w]));
}
