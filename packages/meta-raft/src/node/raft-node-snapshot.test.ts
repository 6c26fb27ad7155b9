/**
 * An incoming snapshot is staged beside the live state, then installed when its message reaches
 * the core. One at a time, from staging until installed: a second one meanwhile is refused (it
 * used to clear the generation being staged or installed), a message whose records are not
 * staged is dropped (it used to stop the node), and a snapshot the core does not take frees the
 * way for the next.
 */
import t from 'tap';
import type { Test } from 'tap';
import { until } from '@cairn/shared/testing';
import { emptyMessage } from '../core/index.js';
import type { Message } from '../core/index.js';
import { catalogMachines, encodeCommand } from './catalog-machine.js';
import { createLogger } from './logger.js';
import { RaftError, RaftNode } from './raft-node.js';
import { RaftStorage } from './raft-storage.js';

const log = createLogger({}, 'silent');

/** A one-member group with `key` put in its KV: its records and where they stand, as a snapshot of them. */
async function source(t: Test, key: string) {
  const storage = await RaftStorage.open(t.testdir());
  const node = new RaftNode({
    id: 'a', voters: ['a'], storage, machines: catalogMachines, send: () => {}, log,
    tickMs: 5, electionTicks: 4, heartbeatTicks: 1, compactEvery: 10_000, compactKeep: 1000, seed: 1,
    onFatal: (err) => t.fail(`a's loop failed: ${err.message}`),
  });
  await node.start();
  await node.whenCommittedInTerm(10_000);
  await node.propose(encodeCommand({ type: 'kvPut', key, value: 'v' }));
  // Labelled well past the follower's own bootstrap entries, so that it takes the snapshot.
  const { term } = node.status();
  const index = 100 + node.status().appliedIndex;
  const records: [string, string][][] = [];
  for await (const batch of storage.openExport()) records.push(batch);
  await node.stop();
  await storage.close();
  return { index, term, records };
}

async function* batches(records: [string, string][][]): AsyncIterable<[string, string][]> {
  for (const b of records) yield b;
}

/** A follower that never campaigns on its own, and what its loop did. */
async function follower(t: Test) {
  const storage = await RaftStorage.open(t.testdir());
  const fatal: string[] = [];
  const node = new RaftNode({
    id: 'b', voters: ['a', 'b', 'c'], storage, machines: catalogMachines, send: () => {}, log,
    tickMs: 5, electionTicks: 100_000, heartbeatTicks: 1, compactEvery: 10_000, compactKeep: 1000, seed: 2,
    onFatal: (err) => fatal.push(err.message),
  });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    await storage.close();
  });
  return { node, fatal };
}

const snapMessage = (index: number, term: number, leaderTerm = term + 5): Message => ({
  ...emptyMessage('snap', 'a', 'b', leaderTerm),
  snapshot: { meta: { index, term, conf: { voters: ['a', 'b', 'c'], learners: [] } }, data: new Uint8Array(0) },
});
const hasKey = (node: RaftNode<any>, key: string) => node.machine.catalog.kvRange({ key: key }).kvs.length > 0;

t.test('a second snapshot while one is staged is refused, and the first is installed whole', async (t) => {
  const first = await source(t, 'first');
  const second = await source(t, 'second');
  const { node, fatal } = await follower(t);
  await node.stageSnapshot({ index: first.index, term: first.term }, batches(first.records));
  await t.rejects(node.stageSnapshot({ index: second.index + 1, term: second.term }, batches(second.records)), RaftError, 'a second one is refused while the first waits for its message');
  node.receive([snapMessage(first.index, first.term)]);
  await until('the snapshot installed', () => node.status().appliedIndex === first.index);
  t.ok(hasKey(node, 'first'), 'the state is the first snapshot\'s');
  t.notOk(hasKey(node, 'second'), 'and nothing of the second');
  // Installed: the next may come.
  await node.stageSnapshot({ index: second.index + 10, term: second.term }, batches(second.records));
  node.receive([snapMessage(second.index + 10, second.term, first.term + 6)]);
  await until('the second snapshot installed', () => node.status().appliedIndex === second.index + 10);
  t.ok(hasKey(node, 'second'), 'then the next snapshot is staged and installed');
  t.same(fatal, [], 'the loop never failed');
});

t.test('a snapshot message whose records are not staged is dropped, and the node goes on', async (t) => {
  const first = await source(t, 'first');
  const { node, fatal } = await follower(t);
  node.receive([snapMessage(first.index, first.term)]);
  // Handled in order: once a later term is seen, the snapshot message before it has been too.
  node.receive([{ ...emptyMessage('heartbeat', 'a', 'b', first.term + 6) }]);
  await until('the heartbeat handled', () => node.status().term === first.term + 6);
  t.same(fatal, [], 'the loop did not fail');
  t.ok(node.status().appliedIndex < first.index && !hasKey(node, 'first'), 'nothing installed');
  await node.stageSnapshot({ index: first.index, term: first.term }, batches(first.records));
  node.receive([snapMessage(first.index, first.term, first.term + 6)]);
  await until('the snapshot installed', () => node.status().appliedIndex === first.index);
  t.ok(hasKey(node, 'first'), 'the snapshot sent again, staged this time, is installed');
});

t.test('a staged snapshot the core does not take frees the way for the next', async (t) => {
  const first = await source(t, 'first');
  const { node, fatal } = await follower(t);
  // Term 10 first: the snapshot below comes from a leader of an older term, which the core ignores.
  node.receive([{ ...emptyMessage('heartbeat', 'a', 'b', 10) }]);
  await until('term 10', () => node.status().term === 10);
  await node.stageSnapshot({ index: first.index, term: first.term }, batches(first.records));
  node.receive([snapMessage(first.index, first.term, 9)]);
  // Handled in order: once term 11 is seen, the snapshot message before it has been too.
  node.receive([{ ...emptyMessage('heartbeat', 'a', 'b', 11) }]);
  await until('term 11', () => node.status().term === 11);
  t.ok(node.status().appliedIndex < first.index && !hasKey(node, 'first'), 'the stale leader\'s snapshot was not installed');
  await node.stageSnapshot({ index: first.index, term: first.term }, batches(first.records));
  node.receive([snapMessage(first.index, first.term, 11)]);
  await until('the snapshot installed', () => node.status().appliedIndex === first.index);
  t.ok(hasKey(node, 'first'), 'and the next snapshot is staged and installed');
  t.same(fatal, [], 'the loop never failed');
});
