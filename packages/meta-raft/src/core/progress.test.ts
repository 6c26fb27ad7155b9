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

t.test('progress: a rejection in replicate state probes from the hint, not from match', async (t) => {
  // After a leadership transfer `next` is a guess with nothing acknowledged (match 0): going
  // back to match + 1 would resend the whole log, or a snapshot once it is compacted.
  const pr = new Progress(101, 4, false);
  pr.becomeReplicate();
  pr.next = 101;
  pr.inflights.add(101);
  t.ok(pr.maybeDecrTo(100, 97), 'the append after 100 was rejected; the follower may match up to 97');
  t.equal(pr.state, 'probe');
  t.equal(pr.next, 98);
  t.equal(pr.inflights.count, 0, 'nothing is counted in flight any more');
  t.notOk(pr.maybeDecrTo(101, 97), 'a rejection of a later pipelined append is stale once probing');
  pr.maybeUpdate(50);
  pr.becomeReplicate();
  t.ok(pr.maybeDecrTo(60, 200), 'a hint past the rejected index is capped by it');
  t.equal(pr.next, 60);
});
