import type { Interval } from '@cairn/shared';
import type { MetaClient } from '../meta-client.js';

export interface ServedSegment {
  readonly id: string;
  readonly dataSource: string;
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  readonly size: number;
  readonly loadedOn: readonly string[];
  readonly assignedTo: readonly string[];
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

  /** Segments of `dataSource` overlapping `intervals`, from a view no older than `refreshMs` when the group answers. */
  async segments(dataSource: string, intervals: readonly Interval[]): Promise<ServedSegment[]> {
    let view = this.views.get(dataSource);
    if (!view) {
      view = { etag: null, segments: [], fetchedAt: 0, refreshing: null };
      this.views.set(dataSource, view);
      await this.refresh(dataSource, view, true);
    } else if (this.now() - view.fetchedAt > this.refreshMs) {
      // Stale: refresh, but serve this query from the old view if the group is slow or down.
      const r = view.refreshing ?? this.refresh(dataSource, view, false);
      await Promise.race([r, new Promise((res) => setTimeout(res, 50))]);
    }
    return view.segments.filter((s) => intervals.some((i) => s.start < i.end && i.start < s.end));
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

  private refresh(dataSource: string, view: View, mustSucceed: boolean): Promise<void> {
    const run = (async () => {
      try {
        const r = await this.meta.getIfChanged<{ segments: ServedSegment[]; workers: ServingWorker[] }>(
          `/v1/timeline?dataSource=${encodeURIComponent(dataSource)}`, view.etag);
        if (!r.notModified) {
          view.segments = r.body.segments;
          view.etag = r.etag;
          this.workers = new Map(r.body.workers.map((w) => [w.id, w]));
        }
        view.fetchedAt = this.now();
      } catch (err) {
        if (mustSucceed && view.fetchedAt === 0) {
          this.views.delete(dataSource);
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
