import t from 'tap';
import { mapBounded } from './bounded.js';

/** A promise the test settles by hand, so interleavings are chosen, not timed. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('never more than concurrencyMax in flight; results in input order', async (t) => {
  const gates = Array.from({ length: 10 }, () => deferred<number>());
  let inFlight = 0;
  let peak = 0;
  const done = mapBounded(gates, 3, async (g, i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    const v = await g.promise;
    inFlight--;
    return v * 10 + i;
  });
  // Settle in reverse order of start, a few at a time.
  for (let i = gates.length - 1; i >= 0; i--) {
    await tick();
    gates[i]!.resolve(i);
  }
  t.same(await done, gates.map((_, i) => i * 10 + i));
  t.equal(peak, 3);
});

t.test('the first failure stops new starts, waits for those in flight, then rejects with it', async (t) => {
  const gates = Array.from({ length: 6 }, () => deferred<void>());
  const started: number[] = [];
  const finished: number[] = [];
  let cancelled: unknown;
  const done = mapBounded(gates, 2, async (g, i) => {
    started.push(i);
    await g.promise;
    finished.push(i);
  }, (err) => (cancelled = err));
  await tick();
  t.same(started, [0, 1]);
  const boom = new Error('boom');
  gates[0]!.reject(boom);
  await tick();
  t.equal(cancelled, boom, 'onFirstFailure is called at once');
  t.same(started, [0, 1], 'nothing new starts');
  let settled = false;
  void done.catch(() => (settled = true));
  await tick();
  t.notOk(settled, 'still waiting for the call in flight');
  gates[1]!.resolve();
  await t.rejects(done, boom);
  t.same(finished, [1]);
});

t.test('an empty input and a bad bound', async (t) => {
  t.same(await mapBounded([], 4, async () => 1), []);
  await t.rejects(mapBounded([1], 0, async (x) => x), RangeError);
});
