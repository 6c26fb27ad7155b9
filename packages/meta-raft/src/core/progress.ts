/**
 * What a leader knows about one follower's log (etcd-io/raft's tracker.Progress).
 * - probe: we do not know where the follower's log matches; send one append per heartbeat
 *   interval and back off on rejection.
 * - replicate: appends are streamed optimistically, at most `inflights.capacity` unacknowledged.
 * - snapshot: a snapshot is on its way; send nothing else until it is acknowledged or fails.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded ring of the last index carried by each unacknowledged append, oldest first. */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  count = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<number>(capacity).fill(0);
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error('Inflights.add: full');
    this.buf[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Frees every append whose last index is at most `index` (acknowledged). */
  freeUpTo(index: number): void {
    while (this.count > 0 && this.buf[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirst(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding, wait for a response or the next heartbeat. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** In snapshot state: ticks spent waiting, so a lost snapshot is eventually resent. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: number, inflightsMax: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightsMax);
  }

  becomeProbe(): void {
    // After a snapshot, the follower's log at best starts right after it.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.reset('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.reset('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  /** Records an acknowledgement up to `index`; false if it was stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * Handles a rejected append of the entry after `rejected`. `hint` is the leader's best guess of
   * the last index where the logs may match. False if the rejection is stale. A rejection in
   * replicate state goes back to probing.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      // Back to probing, from the hint when it is past what is known to match: `next` may have
      // been a guess (after a leadership transfer) with nothing acknowledged yet.
      this.becomeProbe();
      this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
