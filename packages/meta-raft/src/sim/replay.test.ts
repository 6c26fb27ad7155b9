import t from 'tap';
import { runSeed } from './run.js';

t.test('a seed replays identically: same trace, same statistics', async (t) => {
  for (const seed of [7, 4242]) {
    const traces: string[][] = [[], []];
    const first = runSeed(seed, { onTrace: (l) => traces[0]!.push(l) });
    const second = runSeed(seed, { onTrace: (l) => traces[1]!.push(l) });
    t.ok(traces[0]!.length > 10, `seed ${seed} traced ${traces[0]!.length} lines`);
    t.same(traces[1], traces[0], `seed ${seed}: identical traces`);
    t.same(second.stats, first.stats, `seed ${seed}: identical statistics`);
  }
});

t.test('different seeds explore different runs', async (t) => {
  const a = runSeed(11).stats;
  const b = runSeed(12).stats;
  t.not(JSON.stringify(a), JSON.stringify(b));
});
