import t from 'tap';
import { emptyMessage } from '../core/index.js';
import { decodeEntry, decodeRecords, decodeSnapshotMessage, encodeEntry, encodeRecords, encodeSnapshotMessage, fromWire, logKey, toWire } from './codec.js';

t.test('messages round-trip through the wire format', async (t) => {
  const m = { ...emptyMessage('append', 'a', 'b', 3), index: 7, logTerm: 2, commit: 5, entries: [{ index: 8, term: 3, type: 'normal' as const, data: new Uint8Array([0, 255, 7]) }] };
  const back = fromWire(JSON.parse(JSON.stringify(toWire(m))));
  t.same(back, m);
  const snap = { ...emptyMessage('snap', 'a', 'b', 3), snapshot: { meta: { index: 9, term: 3, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array([1, 2, 3]) } };
  t.same(decodeSnapshotMessage(encodeSnapshotMessage(snap)), snap);
  t.throws(() => decodeSnapshotMessage(new Uint8Array([0, 0, 0, 99, 1])), /header length/);
});

t.test('entries, log keys and records', async (t) => {
  const e = { index: 42, term: 7, type: 'conf' as const, data: new Uint8Array([9, 8]) };
  t.same(decodeEntry(42, encodeEntry(e)), e);
  t.ok(logKey(9) < logKey(10) && logKey(99) < logKey(100), 'log keys sort numerically');
  const records: [string, string][] = [['a', 'é'], ['b', ''], ['ключ', '{"x":1}']];
  t.same([...decodeRecords(encodeRecords(records))], records);
  t.throws(() => [...decodeRecords(new Uint8Array([0, 0, 0, 5, 97]))], /truncated/);
});
