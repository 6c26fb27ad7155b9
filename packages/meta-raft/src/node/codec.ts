import type { Entry, Message, Snapshot } from '../core/index.js';

/**
 * Byte layouts at the edges: Raft messages on the wire (JSON, entry data in base64), log entries
 * in LevelDB (a small binary header before the data), snapshots (length-prefixed records).
 */

interface WireEntry {
  readonly term: number;
  readonly index: number;
  readonly type: Entry['type'];
  readonly data: string;
}

export type WireMessage = Omit<Message, 'entries' | 'snapshot'> & {
  readonly entries: readonly WireEntry[];
  readonly snapshotMeta?: Snapshot['meta'];
};

export function toWire(m: Message): WireMessage {
  const { snapshot, entries, ...rest } = m;
  return {
    ...rest,
    entries: entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: Buffer.from(e.data).toString('base64') })),
    ...(snapshot ? { snapshotMeta: snapshot.meta } : {}),
  };
}

export function fromWire(w: WireMessage, snapshotData?: Uint8Array): Message {
  const { snapshotMeta, entries, ...rest } = w;
  return {
    ...rest,
    entries: entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: new Uint8Array(Buffer.from(e.data, 'base64')) })),
    snapshot: snapshotMeta ? { meta: snapshotMeta, data: snapshotData ?? new Uint8Array(0) } : null,
  };
}

/** A message carrying a snapshot travels alone: [u32 header length][header JSON][snapshot data]. */
export function encodeSnapshotMessage(m: Message): Buffer {
  const header = Buffer.from(JSON.stringify(toWire(m)));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([len, header, m.snapshot!.data]);
}

export function decodeSnapshotMessage(body: Uint8Array): Message {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.length < 4) throw new TypeError('snapshot message: body too short');
  const len = buf.readUInt32BE(0);
  if (4 + len > buf.length) throw new TypeError('snapshot message: header length beyond the body');
  const header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as WireMessage;
  return fromWire(header, new Uint8Array(buf.buffer, buf.byteOffset + 4 + len, buf.length - 4 - len));
}

const ENTRY_HEADER = 9;

/** [u8 type][f64 term][data]; the index is in the key. */
export function encodeEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(ENTRY_HEADER + e.data.length);
  out[0] = e.type === 'conf' ? 1 : 0;
  new DataView(out.buffer).setFloat64(1, e.term);
  out.set(e.data, ENTRY_HEADER);
  return out;
}

export function decodeEntry(index: number, bytes: Uint8Array): Entry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    index,
    type: bytes[0] === 1 ? 'conf' : 'normal',
    term: view.getFloat64(1),
    data: bytes.slice(ENTRY_HEADER),
  };
}

/** Log keys sort by index: `l:` and the index as 16 zero-padded digits. */
export function logKey(index: number): string {
  return `l:${String(index).padStart(16, '0')}`;
}

/** The state machine's records as one buffer: repeated [u32 key length][key][u32 value length][value]. */
export function encodeRecords(records: Iterable<[string, string]>): Uint8Array {
  const chunks: Buffer[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for (const [k, v] of records) {
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(v, 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(kb.length);
    const mid = Buffer.alloc(4);
    mid.writeUInt32BE(vb.length);
    pending.push(head, kb, mid, vb);
    pendingBytes += 8 + kb.length + vb.length;
    // Concatenate in slabs so a million records do not make a million-element concat.
    if (pendingBytes > 1 << 20) {
      chunks.push(Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
    }
  }
  chunks.push(Buffer.concat(pending));
  const all = Buffer.concat(chunks);
  return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
}

export function* decodeRecords(data: Uint8Array): Generator<[string, string]> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length) throw new TypeError('snapshot records: truncated key length');
    const kl = buf.readUInt32BE(at);
    at += 4;
    const key = buf.toString('utf8', at, at + kl);
    at += kl;
    if (at + 4 > buf.length) throw new TypeError('snapshot records: truncated value length');
    const vl = buf.readUInt32BE(at);
    at += 4;
    if (at + vl > buf.length) throw new TypeError('snapshot records: truncated value');
    yield [key, buf.toString('utf8', at, at + vl)];
    at += vl;
  }
}
