import t from 'tap';
import type { Entry } from '../core/index.js';
import { RaftStorage } from './raft-storage.js';

const ent = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(text) });
const conf = { voters: ['a', 'b', 'c'], learners: [] };

async function collect(s: RaftStorage): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const batch of s.records(2)) out.push(...batch);
  return out;
}

t.test('a Ready batch survives a reopen: entries, hard state, records and applied index together', async (t) => {
  const dir = t.testdir();
  let s = await RaftStorage.open(dir);
  await s.load();
  await s.writeReady({
    entries: [ent(1, 1), ent(2, 1), ent(3, 1)],
    hardState: { term: 1, vote: 'a', commit: 2 },
    recordWrites: [{ key: 'x', value: '1' }, { key: 'y', value: '2' }],
    applied: 2,
    sync: true,
  });
  await s.writeReady({ entries: [], hardState: null, recordWrites: [{ key: 'x', value: null }], applied: 3, sync: false });
  await s.close();
  s = await RaftStorage.open(dir);
  const loaded = await s.load();
  t.same(loaded.hardState, { term: 1, vote: 'a', commit: 2 });
  t.equal(loaded.applied, 3);
  t.same(loaded.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]), [[1, 1, 'e1'], [2, 1, 'e2'], [3, 1, 'e3']]);
  t.same(await collect(s), [['y', '2']]);
  await s.close();
});

t.test('new entries replace a conflicting suffix, and truncation removes what lies beyond', async (t) => {
  const dir = t.testdir();
  let s = await RaftStorage.open(dir);
  await s.load();
  await s.writeReady({ entries: [1, 2, 3, 4, 5].map((i) => ent(i, 1)), hardState: null, recordWrites: [], applied: null, sync: true });
  await s.writeReady({ entries: [ent(3, 2, 'new3')], hardState: null, recordWrites: [], applied: null, sync: true });
  await s.close();
  s = await RaftStorage.open(dir);
  const loaded = await s.load();
  t.same(loaded.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2]], 'entries 4 and 5 are gone');
  await s.close();
});

t.test('compaction drops covered entries; a staged snapshot switches records atomically', async (t) => {
  const dir = t.testdir();
  let s = await RaftStorage.open(dir);
  await s.load();
  await s.writeReady({ entries: [1, 2, 3, 4].map((i) => ent(i, 1)), hardState: { term: 1, vote: '', commit: 4 }, recordWrites: [{ key: 'old', value: 'o' }], applied: 4, sync: true });
  await s.compact({ index: 3, term: 1, conf });
  await s.close();
  s = await RaftStorage.open(dir);
  let loaded = await s.load();
  t.same(loaded.compaction, { index: 3, term: 1, conf });
  t.same(loaded.entries.map((e) => e.index), [4], 'only the entry after the compaction point');
  const staged = await s.beginStaging();
  await s.stageRecords(staged, [['new', 'n']]);
  await s.stageRecords(staged, [['z', 'last']]);
  await s.installStaged(staged, { index: 10, term: 3, conf }, { term: 3, vote: 'b', commit: 10 });
  await s.close();
  s = await RaftStorage.open(dir);
  loaded = await s.load();
  t.same(loaded.compaction, { index: 10, term: 3, conf });
  t.equal(loaded.applied, 10);
  t.same(loaded.entries, [], 'the old log is gone');
  t.same(await collect(s), [['new', 'n'], ['z', 'last']], 'only the snapshot\'s records');
  await s.close();
});

t.test('an export reads the records as they were when it was opened', async (t) => {
  const s = await RaftStorage.open(t.testdir());
  await s.load();
  await s.writeReady({ entries: [], hardState: null, recordWrites: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }], applied: 1, sync: true });
  const exp = s.openExport(1);
  await s.writeReady({ entries: [], hardState: null, recordWrites: [{ key: 'a', value: 'changed' }, { key: 'c', value: '3' }], applied: 2, sync: true });
  const seen: [string, string][] = [];
  for await (const batch of exp) seen.push(...batch);
  t.same(seen, [['a', '1'], ['b', '2']], 'later writes do not show through');
  await s.close();
});

t.test('a key changed several times in one batch ends as its last change says', async (t) => {
  const dir = t.testdir();
  let s = await RaftStorage.open(dir);
  await s.load();
  await s.writeReady({ entries: [], hardState: null, recordWrites: [{ key: 'gone', value: 'g' }], applied: 1, sync: true });
  await s.writeReady({
    entries: [],
    hardState: null,
    recordWrites: [
      { key: 'rev', value: '1' },
      { key: 'gone', value: 'again' },
      { key: 'back', value: null },
      { key: 'rev', value: '2' },
      { key: 'gone', value: null },
      { key: 'back', value: 'b' },
      { key: 'rev', value: '3' },
    ],
    applied: 2,
    sync: true,
  });
  await s.close();
  s = await RaftStorage.open(dir);
  t.equal((await s.load()).applied, 2);
  t.same(await collect(s), [['back', 'b'], ['rev', '3']]);
  await s.close();
});
