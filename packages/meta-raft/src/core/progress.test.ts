import t from 'tap';
import { Inflights, Progress } from './progress.js';

t.test('inflights is a bounded window freed by acknowledgements', async (t) => {
  const w = new Inflights(3);
  w.add(5);
  w.add(7);
  w.add(9);
  t.ok(w.full());
  t.throws(() => w.add(11), /full/);
  w.freeUpTo(7);
  t.equal(w.count, 1);
  w.add(11);
  w.add(13);
  w.freeUpTo(100);
  t.equal(w.count, 0);
});

t.test('progress: stale rejections are ignored, probing backs off to the hint', async (t) => {
  const pr = new Progress(11, 4, false);
  t.ok(pr.maybeDecrTo(10, 4), 'reject of the append after 10 with hint 4');
  t.equal(pr.next, 5);
  t.notOk(pr.maybeDecrTo(10, 2), 'a duplicate of that rejection is stale');
  pr.maybeUpdate(6);
  pr.becomeReplicate();
  t.equal(pr.next, 7);
  t.notOk(pr.maybeDecrTo(5, 0), 'a rejection at or below match is stale');
  t.ok(pr.isPaused() === false);
  pr.becomeSnapshot(20);
  t.ok(pr.isPaused(), 'nothing else is sent while a snapshot is in flight');
  pr.becomeProbe();
  t.equal(pr.next, 21, 'after a snapshot, probing starts right after it');
});
