import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import type { Message, SnapshotMeta } from '../core/index.js';
import { decodeMessages, decodeRecordBatch, FrameReader } from '../node/frames.js';
import { RaftError } from '../node/raft-node.js';
import { PROTOCOL_HEADER, RAFT_PROTOCOL_VERSION } from '../node/transport.js';
import { requireToken } from './auth.js';
import { errorBody } from './errors.js';

/** What the peer endpoints hand over to the node. */
export interface PeerSink {
  receive(messages: readonly Message[]): void;
  /** Writes a snapshot's records beside the live state; the snapshot message follows once they are on disk. */
  stageSnapshot(meta: SnapshotMeta, records: AsyncIterable<[string, string][]>): Promise<void>;
}

/** The frames of a request body as they arrive. */
async function* frames(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Buffer> {
  if (!body) return;
  const reader = new FrameReader();
  const it = body.getReader();
  try {
    for (;;) {
      const { value, done } = await it.read();
      if (done) break;
      for (const payload of reader.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) yield payload;
    }
  } finally {
    it.releaseLock();
  }
  if (reader.pending > 0) throw new TypeError(`the stream ended inside a frame (${reader.pending} bytes left)`);
}

/**
 * Calls `onPayload` with each frame of a Node request body as its bytes arrive, from the stream's
 * own events: the web ReadableStream that `c.req.raw.body` wraps around it allocated a promise,
 * a read result and a view per chunk (a sixth of the leader's allocations under a put load).
 * Settles when the body ends (rejecting if it ends inside a frame), breaks, or `onPayload` throws.
 */
function receiveFrames(incoming: IncomingMessage, onPayload: (payload: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const reader = new FrameReader();
    let settled = false;
    // On an error the request is left alone, not destroyed: the 400 must reach the peer, which
    // logs why its stream was refused; @hono/node-server drains and closes the request after it.
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      incoming.off('data', onData);
      if (err) reject(err);
      else resolve();
    };
    const ended = (): Error | null => (reader.pending > 0 ? new TypeError(`the stream ended inside a frame (${reader.pending} bytes left)`) : null);
    const onData = (chunk: Buffer): void => {
      try {
        for (const payload of reader.push(chunk)) onPayload(payload);
      } catch (err) {
        settle(err as Error);
      }
    };
    incoming.on('data', onData);
    incoming.once('end', () => settle(ended()));
    incoming.once('error', (err) => settle(err));
    incoming.once('close', () => settle(incoming.complete ? ended() : new TypeError('the peer went away mid-stream')));
  });
}

/**
 * The Raft peer endpoints: a long-lived stream of message frames per peer, and snapshots in a
 * request of their own. Every request must carry the peer token and a protocol version this node
 * speaks; a node refuses any other version with a 400 naming both.
 */
export function peerRoutes(peerToken: string, sink: PeerSink): Hono {
  const app = new Hono();
  app.use('/raft/*', async (c, next) => {
    const version = c.req.header(PROTOCOL_HEADER);
    if (version !== RAFT_PROTOCOL_VERSION) {
      return c.json(errorBody('PROTOCOL_VERSION', `this node speaks raft protocol ${RAFT_PROTOCOL_VERSION}; the request says ${version === undefined ? 'nothing' : JSON.stringify(version)} (header ${PROTOCOL_HEADER})`), 400);
    }
    await next();
  });
  app.use('/raft/*', requireToken(peerToken));

  app.post('/raft/v1/stream', async (c) => {
    // @hono/node-server (the only server these routes run in) hands over the Node request.
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (!incoming) throw new Error('raft stream: served without @hono/node-server (no Node request in c.env)');
    try {
      await receiveFrames(incoming, (payload) => sink.receive(decodeMessages(payload)));
    } catch (err) {
      // A peer that went away mid-frame, or sent garbage: drop the stream; it reconnects.
      return c.json(errorBody('INVALID', `raft stream: ${(err as Error).message}`), 400);
    }
    return c.body(null, 204);
  });

  app.post('/raft/v1/snapshot', async (c) => {
    const it = frames(c.req.raw.body);
    let message: Message | undefined;
    try {
      const first = await it.next();
      if (first.done) return c.json(errorBody('INVALID', 'snapshot: empty body'), 400);
      message = decodeMessages(first.value)[0];
      if (!message || !message.snapshot) return c.json(errorBody('INVALID', 'snapshot: the first frame carries no snapshot message'), 400);
      const records = (async function* () {
        for await (const payload of it) yield decodeRecordBatch(payload);
      })();
      await sink.stageSnapshot(message.snapshot.meta, records);
    } catch (err) {
      // Busy with another snapshot: the leader sends this one again later.
      if (err instanceof RaftError && err.code === 'OVERLOADED') return c.json(errorBody('OVERLOADED', `snapshot: ${err.message}`), 503);
      return c.json(errorBody('INVALID', `snapshot: ${(err as Error).message}`), 400);
    }
    sink.receive([message]);
    return c.body(null, 204);
  });
  return app;
}
