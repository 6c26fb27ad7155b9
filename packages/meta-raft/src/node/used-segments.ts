/**
 * The coordinator's list of used segments and the overshadowed ones among them, kept up to date
 * from the catalog instead of listed again after every publish.
 *
 * A publish only adds segments, at new slots (`Catalog.segmentSlots`), and can change whether a
 * segment is overshadowed only where it added some: so after publishes the list grows by the new
 * segments' briefs, pushed in place, and the overshadowed set is corrected over the intervals
 * they cover (`Catalog.overshadowedNear`), at a cost in proportion to what was published, not to
 * the catalog. Marking segments used or unused (`Catalog.usedRevision`), or a new catalog (a
 * snapshot installed), lists everything again; such a listing that is costly (at least
 * `staleMinMs`) is done at most once per `budget` times its cost, and meanwhile the last list is
 * used and reported stale (publishes still extend it).
 *
 * Appending keeps publish order rather than the catalog's datasource and timeline order; the
 * planner does not depend on the order of its input.
 */
import type { Catalog, SegmentBrief } from '../catalog/index.js';

export interface SegmentsRefreshLimits {
  readonly budget: number;
  readonly staleMinMs: number;
}

export interface UsedSegmentsView {
  /** Every used segment; grows in place after publishes, a new array after a full listing. */
  readonly segments: SegmentBrief[];
  readonly overshadowed: ReadonlySet<string>;
  /** Marks of used flags since the list was built are not in it yet. */
  readonly stale: boolean;
}

export class UsedSegments {
  private state: {
    catalog: Catalog;
    /** Slots the list has followed. */
    slots: number;
    usedRevision: number;
    segments: SegmentBrief[];
    overshadowed: Set<string>;
    listedAt: number;
    listMs: number;
  } | null = null;

  constructor(
    private readonly limits: SegmentsRefreshLimits,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** The list as of `catalog`'s current state (stale: see the class comment). */
  sync(catalog: Catalog): UsedSegmentsView {
    const s = this.state;
    if (s === null || s.catalog !== catalog) return this.list(catalog);
    let stale = false;
    if (s.usedRevision !== catalog.usedRevision()) {
      const costly = s.listMs >= this.limits.staleMinMs;
      if (!costly || this.clock() - s.listedAt >= this.limits.budget * s.listMs) return this.list(catalog);
      stale = true;
    }
    this.follow(catalog);
    return { segments: s.segments, overshadowed: s.overshadowed, stale };
  }

  /** Lists every used segment (a new array). */
  private list(catalog: Catalog): UsedSegmentsView {
    const t0 = this.clock();
    const slots = catalog.segmentSlots();
    const usedRevision = catalog.usedRevision();
    const { segments, overshadowed } = catalog.usedSegmentBriefs();
    const listedAt = this.clock();
    this.state = { catalog, slots, usedRevision, segments, overshadowed, listedAt, listMs: listedAt - t0 };
    return { segments, overshadowed, stale: false };
  }

  /** Pushes the segments published since the list last looked, and corrects the overshadowed set where they landed. */
  private follow(catalog: Catalog): void {
    const s = this.state!;
    const slots = catalog.segmentSlots();
    if (slots === s.slots) return;
    const added = catalog.segmentBriefs(s.slots, slots);
    s.slots = slots;
    const spans = new Map<string, { start: number; end: number }>();
    for (const b of added) {
      s.segments.push(b);
      const span = spans.get(b.dataSource);
      if (span === undefined) spans.set(b.dataSource, { start: b.start, end: b.end });
      else {
        if (b.start < span.start) span.start = b.start;
        if (b.end > span.end) span.end = b.end;
      }
    }
    for (const [dataSource, span] of spans) {
      const near = catalog.overshadowedNear(dataSource, span);
      for (let i = 0; i < near.ids.length; i++) {
        if (near.flags[i] === 1) s.overshadowed.add(near.ids[i]!);
        else s.overshadowed.delete(near.ids[i]!);
      }
    }
  }
}
