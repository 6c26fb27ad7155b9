import t from 'tap';
import { RaftCore } from './raft.js';
import type { Message } from './types.js';

const cfg = (id: string) => ({ id, electionTicks: 10, heartbeatTicks: 1, seed: 1 });

/** Runs ticks until the core has something to do, then returns that Ready (and advances). */
function tickUntilReady(core: RaftCore, max = 100) {
  for (let i = 0; i < max; i++) {
    core.tick();
    if (core.hasReady()) {
      const rd = core.ready();
      core.advance();
      return rd;
    }
  }
  throw new Error('no ready');
}

t.test('a single-voter group elects itself and commits proposals', async (t) => {
  const core = RaftCore.bootstrap(cfg('a'), ['a']);
  const first = core.ready();
  t.equal(first.entries.length, 1, 'the bootstrap entry is persisted');
  t.ok(first.mustSync);
  core.advance();
  tickUntilReady(core);
  t.equal(core.role, 'leader');
  const p = core.propose(new TextEncoder().encode('x'));
  t.ok(p.ok);
  const rd = core.ready();
  t.ok(rd.committed.some((e) => p.ok && e.index === p.index), 'committed at once');
  core.advance();
});

t.test('the Ready protocol: nothing may step the core between ready() and advance()', async (t) => {
  const core = RaftCore.bootstrap(cfg('a'), ['a', 'b', 'c']);
  core.ready();
  t.throws(() => core.tick(), /between ready\(\) and advance\(\)/);
  core.advance();
  t.throws(() => core.advance(), /advance\(\) without a ready\(\)/);
});

t.test('pre-vote does not change the term; a lost pre-vote leaves it unchanged', async (t) => {
  const core = RaftCore.bootstrap(cfg('a'), ['a', 'b', 'c']);
  core.ready();
  core.advance();
  const rd = tickUntilReady(core);
  const preVotes = rd.messages.filter((m: Message) => m.type === 'pre-vote');
  t.equal(preVotes.length, 2, 'pre-votes to both peers');
  t.equal(core.term, 1, 'term unchanged during the pre-vote');
  t.equal(preVotes[0]!.term, 2, 'the pre-vote announces the next term');
  for (const m of preVotes) core.step({ ...m, type: 'pre-vote-resp', from: m.to, to: 'a', reject: true, term: 1 });
  t.equal(core.role, 'follower', 'back to follower');
  t.equal(core.term, 1, 'still term 1');
});

t.test('followers refuse proposals and leaders bound uncommitted bytes', async (t) => {
  const follower = RaftCore.bootstrap(cfg('b'), ['a', 'b', 'c']);
  const r = follower.propose(new Uint8Array(1));
  t.same(r.ok ? 'ok' : r.error, 'not-leader');

  const leader = RaftCore.bootstrap({ ...cfg('a'), uncommittedBytesMax: 10 }, ['a', 'b', 'c']);
  leader.ready();
  leader.advance();
  const votes = tickUntilReady(leader).messages;
  for (const m of votes) leader.step({ ...m, type: 'pre-vote-resp', from: m.to, to: 'a', term: m.term });
  const rd = leader.ready();
  leader.advance();
  for (const m of rd.messages.filter((x) => x.type === 'vote')) leader.step({ ...m, type: 'vote-resp', from: m.to, to: 'a' });
  t.equal(leader.role, 'leader');
  t.ok(leader.propose(new Uint8Array(8)).ok, 'within the bound');
  const over = leader.propose(new Uint8Array(8));
  t.same(over.ok ? 'ok' : over.error, 'overloaded', 'beyond the bound: refused, not queued');
});
