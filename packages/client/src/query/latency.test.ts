import t from 'tap';
import { DEFAULT_LATENCY, LatencyTracker } from './latency.js';

function tracker(now = { t: 0 }) {
  return new LatencyTracker({ ...DEFAULT_LATENCY, probationFloorMs: 50, probeEveryMs: 1000 }, () => now.t);
}

t.test('a worker far slower than its peers goes on probation, and a fast probe ends it', async (t) => {
  const now = { t: 0 };
  const l = tracker(now);
  for (let i = 0; i < 20; i++) for (const w of ['a', 'b', 'c']) l.record(w, 10);
  t.same(l.probationList(), []);
  for (let i = 0; i < 20 && !l.onProbation('c'); i++) l.record('c', 500);
  t.ok(l.onProbation('c'), 'slow samples put c on probation');
  now.t = 5000;
  t.ok(l.takeProbe('c'), 'a probe is due');
  t.notOk(l.takeProbe('c'), 'only one probe per interval');
  l.record('c', 12);
  t.notOk(l.onProbation('c'), 'a fast answer ends probation');
});

t.test('small absolute differences are noise: the floor keeps fast workers off probation', async (t) => {
  const l = tracker();
  for (let i = 0; i < 50; i++) {
    l.record('a', 1);
    l.record('b', 1);
    l.record('c', 20); // 20x slower, but under the 50 ms floor
  }
  t.same(l.probationList(), []);
});

t.test('requests abandoned to hedges: a paused worker that never answers still goes on probation', async (t) => {
  const l = tracker();
  for (let i = 0; i < 20; i++) for (const w of ['a', 'b', 'c']) l.record(w, 10);
  l.recordAbandoned('c', 25);
  l.recordAbandoned('c', 25);
  t.notOk(l.onProbation('c'), 'two losses to hedges are not enough');
  l.record('c', 10);
  l.recordAbandoned('c', 25);
  l.recordAbandoned('c', 25);
  t.notOk(l.onProbation('c'), 'an answer in between resets the run');
  l.recordAbandoned('c', 25);
  t.ok(l.onProbation('c'), 'three losses in a row mean probation');
  l.recordAbandoned('c', 25);
  t.ok(l.onProbation('c'), 'an abandoned probe never ends probation');
  t.ok(l.average('c') > 10, 'the lower bound raised the average');
  const before = l.average('a');
  l.recordAbandoned('a', 1);
  t.equal(l.average('a'), before, 'a lower bound below the average does not lower it');
});

t.test('late requests that could not be hedged count toward probation once far above the peers, and leave the average alone', async (t) => {
  const l = tracker();
  for (let i = 0; i < 20; i++) for (const w of ['a', 'b', 'c']) l.record(w, 10);
  // The threshold is max(floor 50 ms, 4 x the peers' median average 10 ms) = 50 ms.
  t.notOk(l.recordLate('c', 45), 'late, but not far above the peers: not counted');
  l.recordLate('c', 45);
  l.recordLate('c', 45);
  t.notOk(l.onProbation('c'), 'so no probation');
  t.ok(l.recordLate('c', 60), 'far above: counted');
  l.recordAbandoned('c', 25);
  t.notOk(l.onProbation('c'), 'two are not enough');
  l.recordLate('c', 60);
  t.ok(l.onProbation('c'), 'three late or abandoned requests in a row mean probation');
  const avg = l.average('b');
  l.recordLate('b', 60);
  l.recordLate('b', 60);
  t.equal(l.average('b'), avg, 'the average is unchanged');
  l.record('b', 10);
  l.recordLate('b', 60);
  l.recordLate('b', 60);
  t.notOk(l.onProbation('b'), 'an answer in between resets the run');
});

t.test('repeated failures mean probation; the hedge delay percentile comes from recent samples', async (t) => {
  const l = tracker();
  t.equal(l.percentile(0.95), null);
  for (let i = 1; i <= 100; i++) l.record('a', i);
  t.equal(l.percentile(0.95), 96);
  l.recordFailure('b');
  t.notOk(l.onProbation('b'));
  l.recordFailure('b');
  t.ok(l.onProbation('b'));
});
