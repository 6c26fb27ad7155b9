import t from 'tap';
import { emptyMessage } from '../core/index.js';
import { decodeEntry, encodeEntry, logKey } from './codec.js';
import { decodeMessages, decodeRecordBatch, encodeMessages, encodeRecordBatch, frame, FrameReader } from './frames.js';

t.test('message batches round-trip through frames, split anywhere', async (t) => {
  const a = { ...emptyMessage('append', 'a', 'b', 3), index: 7, logTerm: 2, commit: 5, entries: [{ index: 8, term: 3, type: 'normal' as const, data: new Uint8Array([0, 255, 7]) }, { index: 9, term: 3, type: 'conf' as const, data: new Uint8Array([1]) }] };
  const snap = { ...emptyMessage('snap', 'a', 'b', 3), snapshot: { meta: { index: 9, term: 3, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) } };
  const hb = { ...emptyMessage('heartbeat', 'a', 'b', 3), context: 'r1' };
  const wire = Buffer.concat([encodeMessages([a, hb]), encodeMessages([snap])]);
  for (const cut of [1, 3, 5, 17, wire.length - 1]) {
    const reader = new FrameReader();
    const payloads = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
    t.same(payloads.flatMap((p) => decodeMessages(p)), [a, hb, snap], `split at ${cut}`);
    t.equal(reader.pending, 0);
  }
  t.throws(() => decodeMessages(Buffer.from([0, 0, 0, 99, 1])), /header beyond/);
});

t.test('record batches, entries and log keys', async (t) => {
  const records: [string, string][] = [['a', 'é'], ['b', ''], ['ключ', '{"x":1}']];
  const reader = new FrameReader();
  t.same(decodeRecordBatch(reader.push(frame(encodeRecordBatch(records)))[0]!), records);
  t.throws(() => decodeRecordBatch(Buffer.from([0, 0, 0, 5, 97])), /truncated/);
  const e = { index: 42, term: 7, type: 'conf' as const, data: new Uint8Array([9, 8]) };
  t.same(decodeEntry(42, encodeEntry(e)), e);
  t.ok(logKey(9) < logKey(10) && logKey(99) < logKey(100), 'log keys sort numerically');
});
