import t from 'tap';
import { RaftLog } from './log.js';
import type { Entry } from './types.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array([index]) });
const logOf = (...terms: number[]): RaftLog => {
  const log = new RaftLog();
  log.append(terms.map((term, i) => ent(i + 1, term)));
  return log;
};

t.test('maybeAppend truncates a conflicting suffix and keeps matching entries', async (t) => {
  const log = logOf(1, 1, 2, 2);
  t.equal(log.maybeAppend(2, 1, 0, [ent(3, 3)]), 3, 'appended after (2, 1)');
  t.same([log.term(3), log.lastIndex()], [3, 3], 'entry 3 replaced and entry 4 dropped');
  t.equal(log.maybeAppend(1, 1, 0, [ent(2, 1)]), 2, 'a stale, shorter append');
  t.equal(log.lastIndex(), 3, 'does not truncate matching entries after it');
  t.equal(log.maybeAppend(3, 2, 0, [ent(4, 3)]), null, 'a mismatching previous entry is refused');
});

t.test('findConflictByTerm skips whole terms', async (t) => {
  const log = logOf(1, 1, 2, 2, 2, 5, 5);
  t.same(log.findConflictByTerm(7, 4), { index: 5, term: 2 }, 'skips term 5 entirely');
  t.same(log.findConflictByTerm(7, 1), { index: 2, term: 1 });
  t.same(log.findConflictByTerm(3, 9), { index: 3, term: 2 }, 'a higher term matches at once');
  t.same(log.findConflictByTerm(7, 0), { index: 0, term: 0 });
});

t.test('commit never moves backwards and never passes the last index', async (t) => {
  const log = logOf(1, 1);
  log.commitTo(2);
  log.commitTo(1);
  t.equal(log.committed, 2);
  t.throws(() => log.commitTo(5), /beyond the last index/);
  t.throws(() => log.append([ent(2, 3)]), /overwrite committed/);
});

t.test('compaction needs a covering snapshot; slices respect limits; restore rebuilds', async (t) => {
  const log = logOf(1, 1, 2, 2, 3);
  log.commitTo(5);
  log.applied = 4;
  t.throws(() => log.compact(3), /not covered by a snapshot/);
  log.snapshot = { meta: { index: 4, term: 2, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array() };
  log.compact(3);
  t.same([log.firstIndex(), log.term(3), log.term(2)], [4, 2, undefined]);
  t.equal(log.slice(2, 6, 10, 100), undefined, 'entries before the compaction point are gone');
  t.equal(log.slice(4, 6, 1, 100)!.length, 1, 'count limit');
  t.equal(log.slice(4, 6, 10, 1)!.length, 1, 'byte limit still sends one entry');
  const restored = RaftLog.restore(log.snapshot, [ent(4, 2), ent(5, 3), ent(6, 3)], 5, 4);
  t.same([restored.firstIndex(), restored.lastIndex(), restored.committed, restored.applied], [5, 6, 5, 4]);
  t.throws(() => RaftLog.restore(null, [ent(1, 1), ent(3, 1)], 0, 0), /gap/);
});
