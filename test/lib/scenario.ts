import type { Test } from 'tap';
import { KvHistory, testSeed } from './kv-history.js';
import type { KvHistoryOptions } from './kv-history.js';
import type { MetaCluster } from './meta-cluster.js';

/**
 * Starts a seeded client history against the cluster's reachable nodes (the seed is printed,
 * and CAIRN_TEST_SEED replays the same client choices), stopped in teardown if the test ends
 * early.
 */
export function startHistory(t: Test, cluster: MetaCluster, opts: Partial<Omit<KvHistoryOptions, 'targets'>> = {}): KvHistory {
  const seed = opts.seed ?? testSeed();
  t.comment(`client seed ${seed} (CAIRN_TEST_SEED=${seed} repeats the clients' choices)`);
  const history = new KvHistory({ ...opts, seed, targets: () => cluster.reachable().map((id) => cluster.url(id)) });
  history.start();
  t.teardown(() => history.stop());
  return history;
}

/** Stops the clients and fails the test with the checker's reason unless the history is linearizable. */
export async function checkLinearizable(t: Test, history: KvHistory): Promise<void> {
  await history.stop();
  t.comment(history.summary());
  t.ok(history.counts.okWrites > 0, 'some writes were acknowledged');
  const result = history.check();
  t.ok(result.ok, result.ok ? 'the client history is linearizable' : `not linearizable: ${result.reason}`);
}
