import type { NodeId } from './types.js';

interface PendingRead {
  readonly index: number;
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex requests waiting for a heartbeat round to confirm that this node is still the leader
 * (Raft dissertation 6.4). A quorum of acknowledgements for one request also confirms every
 * earlier one, since they were registered under the same or an older commit index.
 */
export class PendingReads {
  private readonly byContext = new Map<string, PendingRead>();
  private readonly order: string[] = [];

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.order.length;
  }

  full(): boolean {
    return this.order.length >= this.capacity;
  }

  has(context: string): boolean {
    return this.byContext.has(context);
  }

  add(index: number, from: NodeId, context: string): void {
    if (this.byContext.has(context)) return;
    this.byContext.set(context, { index, from, acks: new Set() });
    this.order.push(context);
  }

  /** Records that `from` acknowledged the round for `context`; returns the acknowledgers. */
  ack(from: NodeId, context: string): ReadonlySet<NodeId> | null {
    const read = this.byContext.get(context);
    if (!read) return null;
    read.acks.add(from);
    return read.acks;
  }

  /** Removes and returns every request up to and including `context`, oldest first. */
  release(context: string): { index: number; from: NodeId; context: string }[] {
    const at = this.order.indexOf(context);
    if (at < 0) return [];
    const done = this.order.splice(0, at + 1);
    return done.map((ctx) => {
      const read = this.byContext.get(ctx)!;
      this.byContext.delete(ctx);
      return { index: read.index, from: read.from, context: ctx };
    });
  }

  lastContext(): string {
    return this.order.length === 0 ? '' : this.order[this.order.length - 1]!;
  }

  /** Empties the queue, returning what was pending. */
  clear(): { from: NodeId; context: string }[] {
    const all = this.order.map((ctx) => ({ from: this.byContext.get(ctx)!.from, context: ctx }));
    this.order.length = 0;
    this.byContext.clear();
    return all;
  }
}
