import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/**
 * A TCP proxy on loopback that forwards to one upstream port and holds every chunk coming back
 * from it for `delayMs` before passing it on (in order: a chunk never overtakes an earlier one,
 * also when the delay is changed mid-connection). Requests go upstream at once. With `delayMs`
 * set to 0 it is a plain relay. A slow network or a slow server is imitated in user space, in the
 * benchmark's own process: no root, no `tc netem` (not available on this box: no `sch_netem`).
 *
 * It also counts what goes through, by scanning the request bytes for HTTP request lines
 * (good enough for the counting: a request line split across two chunks is still found, since
 * the tail of each chunk is kept for the next).
 */
export interface ProxyCounts {
  connections: number;
  /** `POST /v1/segments/query` request lines seen going upstream. */
  segmentQueries: number;
  /** `DELETE /v1/queries/...` (cancellations of abandoned sub-queries). */
  cancels: number;
  /** Chunks the delay held back, and the bytes sent back downstream. */
  delayedChunks: number;
  bytesDown: number;
}

const SEGMENT_QUERY = 'POST /v1/segments/query ';
const CANCEL = 'DELETE /v1/queries/';

export class DelayProxy {
  /** Added to every chunk of every response, from the moment it arrives from upstream. */
  delayMs = 0;
  readonly counts: ProxyCounts = { connections: 0, segmentQueries: 0, cancels: 0, delayedChunks: 0, bytesDown: 0 };
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(readonly name: string, private readonly upstreamPort: number, private readonly upstreamHost = '127.0.0.1') {}

  /** Starts listening on 127.0.0.1:`port` (0: any free port); resolves to the bound port. */
  async listen(port = 0): Promise<number> {
    const server = createServer((down) => this.relay(down));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new Error(`proxy ${this.name} is not listening`);
    return `http://127.0.0.1:${a.port}`;
  }

  resetCounts(): void {
    Object.assign(this.counts, { connections: 0, segmentQueries: 0, cancels: 0, delayedChunks: 0, bytesDown: 0 });
  }

  /** Stops listening and drops every open connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private relay(down: Socket): void {
    this.counts.connections++;
    const up = connect(this.upstreamPort, this.upstreamHost);
    this.sockets.add(down);
    this.sockets.add(up);
    down.setNoDelay(true);
    up.setNoDelay(true);
    const seen = [counter(SEGMENT_QUERY, () => this.counts.segmentQueries++), counter(CANCEL, () => this.counts.cancels++)];
    down.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      for (const count of seen) count(text);
      up.write(chunk);
    });

    // Upstream to downstream: each chunk waits until its due time; due times never decrease.
    const queue: { due: number; chunk: Buffer }[] = [];
    let lastDue = 0;
    let timer: NodeJS.Timeout | null = null;
    let upEnded = false;
    const flush = () => {
      timer = null;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.due <= now) {
        const { chunk } = queue.shift()!;
        this.counts.bytesDown += chunk.length;
        if (!down.destroyed) down.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - now));
      else if (upEnded && !down.destroyed) down.end();
    };
    up.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (this.delayMs <= 0 && queue.length === 0) {
        this.counts.bytesDown += chunk.length;
        down.write(chunk);
        return;
      }
      const due = Math.max(now + this.delayMs, lastDue);
      lastDue = due;
      this.counts.delayedChunks++;
      queue.push({ due, chunk });
      timer ??= setTimeout(flush, Math.max(0, queue[0]!.due - now));
    });
    up.on('end', () => {
      upEnded = true;
      if (queue.length === 0 && !down.destroyed) down.end();
    });
    down.on('end', () => up.end());
    const teardown = () => {
      if (timer) clearTimeout(timer);
      queue.length = 0;
      up.destroy();
      down.destroy();
      this.sockets.delete(up);
      this.sockets.delete(down);
    };
    up.on('error', teardown);
    down.on('error', teardown);
    up.on('close', () => {
      // Pending delayed chunks still go out; the downstream end follows them (see flush).
      if (queue.length === 0) down.end();
      this.sockets.delete(up);
    });
    down.on('close', teardown);
  }
}

/**
 * Calls `hit` for every occurrence of `needle` in a stream fed chunk by chunk; the last
 * `needle.length - 1` characters are kept, so an occurrence split across chunks counts once.
 */
function counter(needle: string, hit: () => void): (chunk: string) => void {
  let carry = '';
  return (chunk) => {
    const text = carry + chunk;
    for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) hit();
    carry = text.slice(Math.max(0, text.length - (needle.length - 1)));
  };
}
