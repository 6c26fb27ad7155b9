/**
 * The committed assignments joined with the workers' loaded sets (`JoinedAssignments`): per
 * segment, its holders as small integers with a loaded bit. With it the planner's pass over every
 * segment walks arrays; without it, it would look up a million distinct segment ids in the
 * assignments and two million in the loaded sets each cycle, about a second of cache misses.
 *
 * `joinAssignments` builds one from a `PlannerInput` (what the planner does with the map form).
 * `AssignmentJoin` keeps one up to date for a driver: a commit changes a few segments' holders
 * (`setHolders`), a heartbeat changes a worker's loaded set by a few ids (`setWorkers` diffs the
 * sets), so a cycle costs no pass over the assignments. A new segment list costs a lookup per
 * segment (positions change, codes do not); a new worker list renumbers the workers, a full join.
 */
import { assert } from '../core/assert.js';
import { UNKNOWN_HOLDER, type JoinedAssignments, type PlannerInput, type PlannerSegment, type PlannerWorker } from './types.js';

type JoinWorker = Pick<PlannerWorker, 'id' | 'loaded'>;

function encode(segmentId: string, workerIds: readonly string[], workerPos: ReadonlyMap<string, number>, loadedOf: readonly ReadonlySet<string>[]): number[] {
  // Pushed, not preallocated: a packed array of small integers is the fastest for the scan to walk.
  const out: number[] = [];
  for (let j = 0; j < workerIds.length; j++) {
    const k = workerPos.get(workerIds[j]!);
    out.push(k === undefined ? UNKNOWN_HOLDER : 2 * k + (loadedOf[k]!.has(segmentId) ? 1 : 0));
  }
  return out;
}

/**
 * The join of a map-form input, built from scratch. An assignment listing no worker is kept as
 * an empty holder list (it counts for nothing).
 */
export function joinAssignments(input: PlannerInput): JoinedAssignments {
  const { segments, workers, assignments } = input;
  const workerIds = workers.map((w) => w.id);
  const workerPos = new Map(workerIds.map((id, k) => [id, k]));
  const loadedOf = workers.map((w) => w.loaded);
  const holders: (number[] | undefined)[] = [];
  let matched = 0;
  for (let i = 0; i < segments.length; i++) {
    const id = segments[i]!.id;
    const ws = assignments.get(id);
    if (ws === undefined) holders.push(undefined);
    else {
      matched++;
      holders.push(encode(id, ws, workerPos, loadedOf));
    }
  }
  const unused = new Map<string, readonly string[]>();
  // A set of every used id costs as much as the pass above: only when some key matched nothing.
  if (matched < assignments.size) {
    const used = new Set<string>();
    for (const s of segments) used.add(s.id);
    assert(used.size === segments.length, `segments: ${segments.length - used.size} duplicate ids`);
    for (const [id, ws] of assignments) if (!used.has(id) && ws.length > 0) unused.set(id, ws);
  }
  return { workerIds, holders, unused };
}

/**
 * A `JoinedAssignments` kept up to date by a driver. Holds references to the arrays and sets it
 * is given and never changes them: a worker's loaded set must be replaced, not changed in place,
 * and a holder list likewise (the catalog's are); the segment list may only grow by pushes (see
 * `setSegments`). `joined()` is a view of the live state, valid for one `plan` call.
 */
export class AssignmentJoin {
  /** Every committed assignment (used segment or not), none empty: what the codes are built from. */
  private readonly assigned = new Map<string, readonly string[]>();
  private segments: readonly PlannerSegment[] = [];
  private position = new Map<string, number>();
  private workerIds: string[] = [];
  private workerPos = new Map<string, number>();
  private loadedOf: ReadonlySet<string>[] = [];
  private holders: (number[] | undefined)[] = [];
  private readonly unused = new Map<string, readonly string[]>();
  /** Segments joined so far by a deferred build (see `buildStep`); null once complete. */
  private building: { assignments: Iterator<readonly [string, readonly string[]]> | null; done: number; matched: number } | null = null;

  /**
   * Joins `segments` with `workers` and the committed `assignments`. With `deferred`, nothing is
   * joined yet: call `buildStep` until it returns true (a million segments take about half a
   * second in one go, long enough for a Raft leader to miss its heartbeats).
   */
  constructor(segments: readonly PlannerSegment[], workers: readonly JoinWorker[], assignments: Iterable<readonly [string, readonly string[]]>, options: { deferred?: boolean } = {}) {
    this.indexWorkers(workers);
    this.segments = segments;
    this.building = { assignments: assignments[Symbol.iterator](), done: 0, matched: 0 };
    if (!options.deferred) this.buildStep(Number.POSITIVE_INFINITY);
  }

  /**
   * Takes up to `count` more of the assignments, then joins up to `count` more segments of the
   * list given to the constructor; true once all are (and from then on). Nothing else may be
   * called on the join before that.
   */
  buildStep(count: number): boolean {
    const b = this.building;
    if (b === null) return true;
    if (b.assignments !== null) {
      for (let k = 0; k < count; k++) {
        const next = b.assignments.next();
        if (next.done === true) {
          b.assignments = null;
          break;
        }
        const [id, ws] = next.value;
        if (ws.length > 0) this.assigned.set(id, ws);
      }
      if (b.assignments !== null) return false;
    }
    const { segments, position, assigned, workerPos, loadedOf, holders } = this;
    const end = Math.min(segments.length, b.done + count);
    for (let i = b.done; i < end; i++) {
      const id = segments[i]!.id;
      position.set(id, i);
      assert(position.size === i + 1, `segments: ${id} listed twice`);
      const ws = assigned.get(id);
      if (ws !== undefined) b.matched++;
      holders.push(ws === undefined ? undefined : encode(id, ws, workerPos, loadedOf));
    }
    b.done = end;
    if (end < segments.length) return false;
    this.building = null;
    this.findUnused(b.matched);
    return true;
  }

  /** The join, for `JoinedPlannerInput.joined`; `workers` of that input must be the list last given here. */
  joined(): JoinedAssignments {
    this.assertBuilt();
    return { workerIds: this.workerIds, holders: this.holders, unused: this.unused };
  }

  private assertBuilt(): void {
    assert(this.building === null, 'AssignmentJoin used before its deferred build finished');
  }

  /** Sets one segment's committed holders (undefined or empty: none), as the catalog now has them. */
  /** The workers `segmentId` is assigned to, as this join holds it (undefined: none). */
  holdersOf(segmentId: string): readonly string[] | undefined {
    this.assertBuilt();
    return this.assigned.get(segmentId);
  }

  setHolders(segmentId: string, workerIds: readonly string[] | undefined): void {
    this.assertBuilt();
    const ws = workerIds === undefined || workerIds.length === 0 ? undefined : workerIds;
    if (ws === undefined) this.assigned.delete(segmentId);
    else this.assigned.set(segmentId, ws);
    const i = this.position.get(segmentId);
    if (i !== undefined) this.holders[i] = ws === undefined ? undefined : encode(segmentId, ws, this.workerPos, this.loadedOf);
    else if (ws === undefined) this.unused.delete(segmentId);
    else this.unused.set(segmentId, ws);
  }

  /**
   * Replaces the used segments (a publish, segments marked used or unused). Positions change, so
   * every segment's id is looked up once in the previous positions; its holder codes do not
   * depend on the position and are kept. Only ids new to the list are joined.
   *
   * The list given last may instead have grown by pushes since (what a driver that follows
   * publishes does): given again, only the segments pushed since are joined, a lookup each. A
   * list must never change in place otherwise.
   */
  setSegments(segments: readonly PlannerSegment[]): void {
    this.assertBuilt();
    if (segments === this.segments) {
      this.joinAppended();
      return;
    }
    const previous = this.position;
    const previousHolders = this.holders;
    const previousCount = this.segments.length;
    this.indexSegments(segments);
    const holders: (number[] | undefined)[] = [];
    let kept = 0;
    let matched = 0;
    for (let i = 0; i < segments.length; i++) {
      const id = segments[i]!.id;
      const was = previous.get(id);
      let hs: number[] | undefined;
      if (was !== undefined) {
        kept++;
        hs = previousHolders[was];
      } else {
        const ws = this.assigned.get(id);
        hs = ws === undefined ? undefined : encode(id, ws, this.workerPos, this.loadedOf);
      }
      if (hs !== undefined) matched++;
      holders.push(hs);
    }
    this.holders = holders;
    if (kept === previousCount) {
      // Nothing left the list: the unused assignments can only have become used.
      for (const id of [...this.unused.keys()]) if (this.position.has(id)) this.unused.delete(id);
    } else this.findUnused(matched);
  }

  /** Joins the segments pushed onto the current list since it was last joined. */
  private joinAppended(): void {
    const segments = this.segments;
    for (let i = this.holders.length; i < segments.length; i++) {
      const id = segments[i]!.id;
      assert(!this.position.has(id), `segments: ${id} listed twice`);
      this.position.set(id, i);
      this.unused.delete(id);
      const ws = this.assigned.get(id);
      this.holders.push(ws === undefined ? undefined : encode(id, ws, this.workerPos, this.loadedOf));
    }
  }

  /**
   * Replaces the workers (the planner's list, in its order). The same ids in the same order only
   * update the loaded bits of what each changed loaded set added or removed; anything else
   * renumbers the workers: a full join.
   */
  setWorkers(workers: readonly JoinWorker[]): void {
    this.assertBuilt();
    const same = workers.length === this.workerIds.length && workers.every((w, k) => w.id === this.workerIds[k]);
    if (!same) {
      this.indexWorkers(workers);
      this.rejoin();
      return;
    }
    for (let k = 0; k < workers.length; k++) this.setLoaded(k, workers[k]!.loaded);
  }

  private setLoaded(k: number, next: ReadonlySet<string>): void {
    const prev = this.loadedOf[k]!;
    if (prev === next) return;
    this.loadedOf[k] = next;
    for (const id of next) if (!prev.has(id)) this.mark(id, k, 1);
    for (const id of prev) if (!next.has(id)) this.mark(id, k, 0);
  }

  private mark(segmentId: string, k: number, loaded: number): void {
    const i = this.position.get(segmentId);
    const hs = i === undefined ? undefined : this.holders[i];
    if (hs === undefined) return; // loaded but not assigned here, or not a used segment: the planner does not ask
    for (let j = 0; j < hs.length; j++) if (hs[j]! >> 1 === k) hs[j] = 2 * k + loaded;
  }

  private indexSegments(segments: readonly PlannerSegment[]): void {
    this.segments = segments;
    this.position = new Map();
    for (let i = 0; i < segments.length; i++) this.position.set(segments[i]!.id, i);
    assert(this.position.size === segments.length, `segments: ${segments.length - this.position.size} duplicate ids`);
  }

  private indexWorkers(workers: readonly JoinWorker[]): void {
    this.workerIds = workers.map((w) => w.id);
    this.workerPos = new Map(this.workerIds.map((id, k) => [id, k]));
    assert(this.workerPos.size === workers.length, 'a worker is listed twice');
    this.loadedOf = workers.map((w) => w.loaded);
  }

  private rejoin(): void {
    const { segments, assigned, workerPos, loadedOf } = this;
    const holders: (number[] | undefined)[] = [];
    let matched = 0;
    for (let i = 0; i < segments.length; i++) {
      const id = segments[i]!.id;
      const ws = assigned.get(id);
      if (ws !== undefined) matched++;
      holders.push(ws === undefined ? undefined : encode(id, ws, workerPos, loadedOf));
    }
    this.holders = holders;
    this.findUnused(matched);
  }

  /** Rebuilds `unused`; `matched` used segments have holders, so a pass is needed only when some assignment is left. */
  private findUnused(matched: number): void {
    this.unused.clear();
    if (matched < this.assigned.size) for (const [id, ws] of this.assigned) if (!this.position.has(id)) this.unused.set(id, ws);
  }
}
