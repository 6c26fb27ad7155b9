import type { Message, NodeId } from '../core/index.js';
import { encodeSnapshotMessage, toWire } from './codec.js';
import type { Logger } from './logger.js';

/** The peer protocol this build speaks; a node refuses requests of any other version. */
export const RAFT_PROTOCOL_VERSION = '1';
export const PROTOCOL_HEADER = 'x-cairn-raft-protocol';

const QUEUE_MESSAGES_MAX = 10_000;
const BATCH_MESSAGES_MAX = 1024;
const BACKOFF_MS_MIN = 20;
const BACKOFF_MS_MAX = 2000;
const REQUEST_TIMEOUT_MS = 5000;
const SNAPSHOT_TIMEOUT_MS = 120_000;

export interface TransportEvents {
  /** A batch to `peer` failed: the core should stop streaming to it optimistically. */
  unreachable(peer: NodeId): void;
  snapshotStatus(peer: NodeId, ok: boolean): void;
}

interface PeerLink {
  readonly id: NodeId;
  readonly url: string;
  queue: Message[];
  sending: boolean;
  backoffMs: number;
  retryAt: number;
  dropped: number;
}

/**
 * Sends Raft messages to peers over HTTP with keep-alive connections: one request in flight per
 * peer, so messages to a peer arrive in the order they were sent; everything queued meanwhile
 * goes in the next batch. A failed batch is dropped (Raft retransmits) and the peer backs off
 * exponentially. Snapshots travel in their own request and report success or failure.
 */
export class PeerTransport {
  private readonly links = new Map<NodeId, PeerLink>();
  private closed = false;

  constructor(
    private readonly self: NodeId,
    peers: readonly { id: NodeId; url: string }[],
    private readonly token: string,
    private readonly events: TransportEvents,
    private readonly log: Logger,
  ) {
    for (const p of peers) {
      if (p.id === self) continue;
      this.links.set(p.id, { id: p.id, url: p.url.replace(/\/$/, ''), queue: [], sending: false, backoffMs: 0, retryAt: 0, dropped: 0 });
    }
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const touched = new Set<PeerLink>();
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (!link) continue;
      if (m.snapshot) {
        void this.sendSnapshot(link, m);
        continue;
      }
      if (link.queue.length >= QUEUE_MESSAGES_MAX) {
        // A peer that cannot keep up loses the oldest messages; Raft resends what matters.
        link.queue.shift();
        link.dropped++;
      }
      link.queue.push(m);
      touched.add(link);
    }
    for (const link of touched) this.pump(link);
  }

  close(): void {
    this.closed = true;
  }

  private pump(link: PeerLink): void {
    if (link.sending || link.queue.length === 0 || this.closed) return;
    const wait = link.retryAt - Date.now();
    if (wait > 0) {
      link.sending = true;
      setTimeout(() => {
        link.sending = false;
        this.pump(link);
      }, wait).unref();
      return;
    }
    const batch = link.queue.splice(0, BATCH_MESSAGES_MAX);
    link.sending = true;
    void this.post(link, '/raft/v1/messages', 'application/json', JSON.stringify({ from: this.self, messages: batch.map(toWire) }), REQUEST_TIMEOUT_MS)
      .then((ok) => {
        if (ok) {
          link.backoffMs = 0;
          link.retryAt = 0;
        } else {
          link.backoffMs = Math.min(BACKOFF_MS_MAX, Math.max(BACKOFF_MS_MIN, link.backoffMs * 2));
          link.retryAt = Date.now() + link.backoffMs;
          this.events.unreachable(link.id);
        }
      })
      .finally(() => {
        link.sending = false;
        this.pump(link);
      });
  }

  private async sendSnapshot(link: PeerLink, m: Message): Promise<void> {
    const body = encodeSnapshotMessage(m);
    this.log.info({ peer: link.id, index: m.snapshot!.meta.index, bytes: body.length }, 'sending snapshot');
    const ok = await this.post(link, '/raft/v1/snapshot', 'application/octet-stream', body, SNAPSHOT_TIMEOUT_MS);
    this.events.snapshotStatus(link.id, ok);
  }

  private async post(link: PeerLink, path: string, type: string, body: string | Buffer, timeoutMs: number): Promise<boolean> {
    try {
      const res = await fetch(`${link.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': type,
          authorization: `Bearer ${this.token}`,
          [PROTOCOL_HEADER]: RAFT_PROTOCOL_VERSION,
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.ok) {
        await res.arrayBuffer();
        return true;
      }
      const text = await res.text();
      this.log.warn({ peer: link.id, status: res.status, body: text.slice(0, 300) }, 'peer refused raft messages');
      return false;
    } catch (err) {
      this.log.debug({ peer: link.id, err: (err as Error).message }, 'peer unreachable');
      return false;
    }
  }
}
