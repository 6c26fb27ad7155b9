import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Message } from '../core/index.js';
import { decodeSnapshotMessage, fromWire } from '../node/codec.js';
import type { WireMessage } from '../node/codec.js';
import { PROTOCOL_HEADER, RAFT_PROTOCOL_VERSION } from '../node/transport.js';
import { requireToken } from './auth.js';
import { errorBody } from './errors.js';

const MESSAGES_BYTES_MAX = 64 << 20;
const SNAPSHOT_BYTES_MAX = 2 ** 31 - 1;

/**
 * The Raft peer endpoints: batches of messages, and snapshots in a request of their own. Every
 * request must carry the peer token and a protocol version this node speaks.
 */
export function peerRoutes(peerToken: string, receive: (messages: readonly Message[]) => void): Hono {
  const app = new Hono();
  app.use('/raft/*', async (c, next) => {
    const version = c.req.header(PROTOCOL_HEADER);
    if (version !== RAFT_PROTOCOL_VERSION) {
      return c.json(errorBody('PROTOCOL_VERSION', `this node speaks raft protocol ${RAFT_PROTOCOL_VERSION}; the request says ${version === undefined ? 'nothing' : JSON.stringify(version)} (header ${PROTOCOL_HEADER})`), 400);
    }
    await next();
  });
  app.use('/raft/*', requireToken(peerToken));
  app.post('/raft/v1/messages', bodyLimit({ maxSize: MESSAGES_BYTES_MAX, onError: (c) => c.json(errorBody('PAYLOAD_TOO_LARGE', 'message batch too large'), 413) }), async (c) => {
    let body: { from?: unknown; messages?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return c.json(errorBody('INVALID', 'the body is not JSON'), 400);
    }
    if (!Array.isArray(body.messages)) return c.json(errorBody('INVALID', 'messages must be an array'), 400);
    receive((body.messages as WireMessage[]).map((m) => fromWire(m)));
    return c.body(null, 204);
  });
  app.post('/raft/v1/snapshot', bodyLimit({ maxSize: SNAPSHOT_BYTES_MAX, onError: (c) => c.json(errorBody('PAYLOAD_TOO_LARGE', 'snapshot too large'), 413) }), async (c) => {
    let message: Message;
    try {
      message = decodeSnapshotMessage(new Uint8Array(await c.req.arrayBuffer()));
    } catch (err) {
      return c.json(errorBody('INVALID', `malformed snapshot: ${(err as Error).message}`), 400);
    }
    receive([message]);
    return c.body(null, 204);
  });
  return app;
}
