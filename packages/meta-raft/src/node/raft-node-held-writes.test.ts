/**
 * Writes that reach a node while no leader is known are held (see `RaftNode`). Once the node has
 * voted for a candidate in the current term, it sends them, and any that arrive after, to that
 * candidate (NOT_LEADER naming it; the HTTP layer relays), so that a new leader proposes them in
 * its first round. Held writes used to wait for the winner's first append, a round later.
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

/** Member b of a three-voter group, which never campaigns on its own and sends nothing anywhere; what it sent is recorded. */
async function memberB(t: Test, dir = t.testdir()) {
  const storage = await RaftStorage.open(dir);
  const sent: Message[] = [];
  const node = new RaftNode({
    id: 'b', voters: ['a', 'b', 'c'], storage, machines: catalogMachines, send: (ms) => sent.push(...ms), log,
    tickMs: 5, electionTicks: 100_000, heartbeatTicks: 1, compactEvery: 10_000, compactKeep: 1000, seed: 2,
    onFatal: (err) => t.fail(`b's loop failed: ${err.message}`),
  });
  await node.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await node.stop();
    await storage.close();
  };
  t.teardown(close);
  return { node, sent, close };
}

/** c asks for b's vote in `term`, with a log as long as b's. */
function voteRequest(node: RaftNode<any>, term: number): Message {
  const last = node.core.log.lastIndex();
  return { ...emptyMessage('vote', 'c', 'b', term), index: last, logTerm: node.core.log.term(last) ?? 0 };
}

const put = (key: string) => encodeCommand({ type: 'kvPut', key, value: 'v' });

async function refusal(p: Promise<unknown>): Promise<RaftError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RaftError) return err;
    throw err;
  }
  throw new Error('the write was taken');
}

t.test('a follower without a leader sends held writes to the candidate it voted for', async (t) => {
  const { node, sent } = await memberB(t);
  // No leader yet: the write is held (the old driver held it until a leader's first append).
  let settled = false;
  const held = refusal(node.propose(put('held'), 8000)).finally(() => (settled = true));
  await until('the write to be held', () => node.heldWrites() === 1);
  t.equal(settled, false, 'held while nobody campaigns');

  node.receive([voteRequest(node, node.status().term + 1)]);
  await until('the vote to be granted', () => sent.some((m) => m.type === 'vote-resp' && m.to === 'c' && !m.reject));
  const err = await held;
  t.equal(err.code, 'NOT_LEADER', 'refused where it is, so that the HTTP layer relays it');
  t.equal(err.leader, 'c', 'naming the candidate b voted for');
  t.equal(node.heldWrites(), 0);

  // A write that arrives while the candidate campaigns goes straight there too.
  const lastIndex = node.status().lastIndex;
  const later = await refusal(node.propose(put('later'), 8000));
  t.equal(later.code, 'NOT_LEADER');
  t.equal(later.leader, 'c');
  t.equal(node.heldWrites(), 0, 'nothing held');
  t.equal(node.status().lastIndex, lastIndex, 'and nothing entered the log');
});

t.test('a follower that has not voted keeps holding writes', async (t) => {
  const { node } = await memberB(t);
  const held = refusal(node.propose(put('held'), 8000));
  await until('the write to be held', () => node.heldWrites() === 1);
  // A vote request from a candidate whose log is behind b's is refused: b backs nobody.
  node.receive([{ ...emptyMessage('vote', 'c', 'b', node.status().term + 1), index: 0, logTerm: 0 }]);
  await until('b to reach the new term', () => node.status().term > 1 && node.core.vote === '');
  t.equal(node.heldWrites(), 1, 'still held: no candidate to send it to');
  await node.stop();
  t.equal((await held).code, 'STOPPED');
});

t.test('a vote restored at a restart backs nobody: writes stay held', async (t) => {
  const dir = t.testdir();
  const first = await memberB(t, dir);
  first.node.receive([voteRequest(first.node, first.node.status().term + 1)]);
  await until('the vote to be granted', () => first.sent.some((m) => m.type === 'vote-resp' && m.to === 'c' && !m.reject));
  await first.close();
  // The same member restarts: its term and its vote for c come back from disk, and no leader
  // is known. c's campaign was decided long ago (c may be gone): a write must not be sent there.
  const again = await memberB(t, dir);
  t.equal(again.node.core.vote, 'c', 'the vote came back from disk');
  let settled = false;
  void refusal(again.node.propose(put('after restart'), 8000)).then(() => (settled = true));
  await until('the write to be held', () => again.node.heldWrites() === 1);
  t.equal(settled, false, 'held, not refused naming c');
  // A new campaign in a later term is backed again.
  again.node.receive([voteRequest(again.node, again.node.status().term + 1)]);
  await until('the held write to go to c', () => settled);
  t.equal(again.node.heldWrites(), 0);
});
