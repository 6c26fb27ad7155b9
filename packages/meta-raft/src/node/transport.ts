import { request } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Message, NodeId } from '../core/index.js';
import { encodeMessages, encodeRecordBatch, frame } from './frames.js';
import type { Logger } from './logger.js';
import type { RecordBatches } from './raft-storage.js';

/** The peer protocol this build speaks; a node refuses streams of any other version. */
export const RAFT_PROTOCOL_VERSION = '2';
export const PROTOCOL_HEADER = 'x-cairn-raft-protocol';
export const FROM_HEADER = 'x-cairn-raft-from';

const QUEUE_MESSAGES_MAX = 10_000;
const FRAME_MESSAGES_MAX = 4096;
const BACKOFF_MS_MIN = 20;
const BACKOFF_MS_MAX = 1000;
/** A stream that cannot take more bytes for this long is presumed stuck (a paused or cut-off peer). */
const STALLED_MS_MAX = 2000;
/** A snapshot transfer that makes no progress for this long is abandoned. */
const SNAPSHOT_IDLE_MS_MAX = 30_000;

export interface TransportEvents {
  /** A stream to `peer` broke: the core should stop streaming appends to it optimistically. */
  unreachable(peer: NodeId): void;
  snapshotStatus(peer: NodeId, ok: boolean): void;
  /** The records of the snapshot at `index`, read lazily from a consistent view, or null. */
  openSnapshot(index: number): RecordBatches | null;
}

/**
 * Sends Raft messages to each peer over one long-lived HTTP request whose body is a stream of
 * binary frames (etcd's rafthttp streams, in spirit): no per-message HTTP exchange, messages to a
 * peer arrive in order, entry bytes are sent as they are. A broken or stuck stream is dropped
 * (Raft resends what matters) and reopened with exponential backoff. Snapshots travel in a request
 * of their own, streamed record batch by record batch from a consistent view of the disk, one at a
 * time per peer.
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
      const link = new PeerLink(self, p.id, new URL(p.url), token, events, log);
      this.links.set(p.id, link);
      // Streams to every peer are opened at once and kept open: the first message of an election
      // or a leadership transfer must not wait for a connection.
      link.open();
    }
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const touched = new Set<PeerLink>();
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (!link) continue;
      if (m.snapshot) {
        void link.sendSnapshot(m);
        continue;
      }
      link.enqueue(m);
      touched.add(link);
    }
    for (const link of touched) link.flush();
  }

  /** Ends every stream gracefully, so frames already written reach the peers; bounded by `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    await Promise.race([
      Promise.all([...this.links.values()].map((l) => l.end())),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) link.close();
  }

  /**
   * Since when (monotonic ms) the stream to `peer` has been connected without a break; 0 if it is
   * down now. A peer connected for long has been running for long: a leader hands over to it
   * rather than to one that just restarted (etcd does the same), whose process is still cold.
   */
  connectedSince(peer: NodeId): number {
    return this.links.get(peer)?.connectedSince ?? 0;
  }
}

class PeerLink {
  private queue: Message[] = [];
  private req: ClientRequest | null = null;
  private state: 'idle' | 'open' | 'blocked' | 'backoff' | 'closed' = 'idle';
  private backoffMs = 0;
  private blockedSince = 0;
  private snapshotInFlight = false;
  dropped = 0;
  /** When the current stream's socket connected; 0 while there is none. */
  connectedSince = 0;

  constructor(
    private readonly self: NodeId,
    readonly id: NodeId,
    private readonly url: URL,
    private readonly token: string,
    private readonly events: TransportEvents,
    private readonly log: Logger,
  ) {}

  enqueue(m: Message): void {
    if (this.queue.length >= QUEUE_MESSAGES_MAX) {
      // A peer that cannot keep up loses the oldest messages; Raft resends what matters.
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(m);
  }

  /** Opens the stream now, even with nothing to send yet. */
  open(): void {
    if (this.state === 'idle') this.connect();
  }

  flush(): void {
    if (this.queue.length === 0) return;
    if (this.state === 'idle') this.connect();
    if (this.state === 'blocked' && Date.now() - this.blockedSince > STALLED_MS_MAX) {
      this.fail(`stream stalled for more than ${STALLED_MS_MAX} ms`);
      return;
    }
    if (this.state !== 'open' || !this.req) return;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, FRAME_MESSAGES_MAX);
      if (!this.req.write(encodeMessages(batch))) {
        this.state = 'blocked';
        this.blockedSince = Date.now();
        this.req.once('drain', () => {
          if (this.state !== 'blocked') return;
          this.state = 'open';
          this.flush();
        });
        return;
      }
    }
  }

  /** Flushes what is queued and ends the stream, resolving once the last bytes are handed to the socket. */
  end(): Promise<void> {
    this.flush();
    const req = this.req;
    if (!req || this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      this.state = 'closed';
      req.end(() => resolve());
    });
  }

  close(): void {
    this.state = 'closed';
    this.req?.destroy();
    this.req = null;
    this.connectedSince = 0;
    this.queue = [];
  }

  private connect(): void {
    const req = request({
      host: this.url.hostname,
      port: this.url.port || 80,
      path: '/raft/v1/stream',
      method: 'POST',
      agent: false,
      headers: this.headers('application/x-cairn-raft-frames'),
    });
    req.setNoDelay(true);
    // Handlers act only while `req` is the current stream: a late event of an old one is ignored.
    req.on('response', (res: IncomingMessage) => this.req === req && this.refused(res));
    req.on('error', (err) => this.req === req && this.fail(err.message));
    req.on('close', () => this.req === req && this.fail('stream closed'));
    req.on('socket', (socket) =>
      socket.once('connect', () => {
        if (this.req !== req) return;
        this.backoffMs = 0;
        this.connectedSince = performance.now();
      }),
    );
    req.flushHeaders();
    this.req = req;
    // Optimistic: frames may go before the peer accepts; if it refuses, they are simply lost.
    this.state = 'open';
  }

  private refused(res: IncomingMessage): void {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body += c.slice(0, 500)));
    res.on('end', () => {
      if (res.statusCode !== 200 && res.statusCode !== 204) this.log.warn({ peer: this.id, status: res.statusCode, body }, 'peer refused the raft stream');
      this.fail(`peer answered ${res.statusCode}`);
    });
  }

  private fail(why: string): void {
    if (this.state === 'closed' || this.state === 'backoff') return;
    const req = this.req;
    this.req = null;
    req?.destroy();
    this.connectedSince = 0;
    this.state = 'backoff';
    this.queue = [];
    this.log.debug({ peer: this.id, why }, 'raft stream down');
    this.events.unreachable(this.id);
    this.backoffMs = Math.min(BACKOFF_MS_MAX, Math.max(BACKOFF_MS_MIN, this.backoffMs * 2));
    setTimeout(() => {
      if (this.state !== 'backoff') return;
      this.state = 'idle';
      this.connect();
      this.flush();
    }, this.backoffMs).unref();
  }

  async sendSnapshot(m: Message): Promise<void> {
    const index = m.snapshot!.meta.index;
    const records = this.events.openSnapshot(index);
    if (this.snapshotInFlight) {
      // One transfer at a time per peer; the one under way will report back.
      await records?.close();
      return;
    }
    this.snapshotInFlight = true;
    this.log.info({ peer: this.id, index }, 'sending snapshot');
    let ok = false;
    let bytes = 0;
    const started = Date.now();
    try {
      bytes = await this.streamSnapshot(m, records);
      ok = true;
    } catch (err) {
      this.log.warn({ peer: this.id, index, err: (err as Error).message }, 'snapshot transfer failed');
      await records?.close();
    } finally {
      this.snapshotInFlight = false;
    }
    if (ok) this.log.info({ peer: this.id, index, bytes, ms: Date.now() - started }, 'snapshot sent');
    this.events.snapshotStatus(this.id, ok);
  }

  private streamSnapshot(m: Message, records: RecordBatches | null): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let bytes = 0;
      let settled = false;
      let lastProgress = Date.now();
      const done = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(bytes);
      };
      const req = request({
        host: this.url.hostname,
        port: this.url.port || 80,
        path: '/raft/v1/snapshot',
        method: 'POST',
        agent: false,
        headers: this.headers('application/x-cairn-raft-frames'),
      });
      const watchdog = setInterval(() => {
        if (Date.now() - lastProgress > SNAPSHOT_IDLE_MS_MAX) done(new Error(`no progress for ${SNAPSHOT_IDLE_MS_MAX} ms`));
      }, 1000);
      watchdog.unref();
      req.on('error', (err) => done(err));
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c.slice(0, 500)));
        res.on('end', () => (res.statusCode === 204 ? done(null) : done(new Error(`peer answered ${res.statusCode}: ${body}`))));
      });
      const write = (buf: Buffer) =>
        new Promise<void>((res) => {
          bytes += buf.length;
          lastProgress = Date.now();
          if (req.write(buf)) res();
          else req.once('drain', () => res());
        });
      void (async () => {
        try {
          await write(encodeMessages([m]));
          if (records) {
            for await (const batch of records) {
              if (settled) return;
              await write(frame(encodeRecordBatch(batch)));
            }
          } else if (m.snapshot!.data.length > 0) {
            await write(frame(Buffer.from(m.snapshot!.data)));
          }
          req.end();
        } catch (err) {
          done(err as Error);
        }
      })();
    });
  }

  private headers(type: string): Record<string, string> {
    return {
      'content-type': type,
      authorization: `Bearer ${this.token}`,
      [PROTOCOL_HEADER]: RAFT_PROTOCOL_VERSION,
      [FROM_HEADER]: this.self,
    };
  }
}
