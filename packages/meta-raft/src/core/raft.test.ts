import t from 'tap';
import type { Test } from 'tap';
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

/** Three bootstrapped cores, their first Ready done. */
function group(ids: readonly string[]): Map<string, RaftCore> {
  const cores = new Map(ids.map((id) => [id, RaftCore.bootstrap(cfg(id), ids)]));
  for (const c of cores.values()) {
    c.ready();
    c.advance();
  }
  return cores;
}

/** Runs every Ready (persist is instant here) and delivers its messages (but those `cut`), until nothing is left. */
function settle(cores: Map<string, RaftCore>, cut: (m: Message) => boolean = () => false): void {
  for (let round = 0; round < 1000; round++) {
    const msgs: Message[] = [];
    for (const c of cores.values()) {
      if (!c.hasReady()) continue;
      msgs.push(...c.ready().messages);
      c.advance();
    }
    if (msgs.length === 0) return;
    for (const m of msgs) if (!cut(m)) cores.get(m.to)?.step(m);
  }
  throw new Error('did not settle');
}

/** Ticks `id` until it leads (the others only answer). */
function elect(cores: Map<string, RaftCore>, id: string, cut?: (m: Message) => boolean): RaftCore {
  const core = cores.get(id)!;
  for (let i = 0; i < 50 && core.role !== 'leader'; i++) {
    core.tick();
    settle(cores, cut);
  }
  if (core.role !== 'leader') throw new Error(`${id} was not elected`);
  return core;
}

/** The indexes of the entries `rd` sends to `to` in appends. */
function carried(rd: { messages: readonly Message[] }, to: string): number[] {
  return rd.messages.filter((m) => m.type === 'append' && m.to === to).flatMap((m) => m.entries.map((e) => e.index));
}

const bytes = (s: string) => new TextEncoder().encode(s);

t.test('leader transfer: the candidate\'s votes leave before its fsync; the new leader streams to the old one at once', async (t) => {
  const cores = group(['a', 'b', 'c']);
  const a = elect(cores, 'a');
  const b = cores.get('b')!;
  t.ok(a.propose(bytes('before')).ok);
  settle(cores);

  t.ok(a.transferLeader('b'));
  const handover = a.ready();
  a.advance();
  const timeoutNow = handover.messages.find((m) => m.type === 'timeout-now');
  t.ok(timeoutNow, 'TimeoutNow to the caught-up target');
  b.step(timeoutNow!);
  const campaign = b.ready();
  b.advance();
  t.equal(b.role, 'candidate');
  t.ok(campaign.hardState && campaign.mustSync, 'the new term and vote are synced');
  t.ok(campaign.sendBeforePersist, 'the vote requests may leave while they are written');
  const replies = new Map<string, Message[]>();
  for (const m of campaign.messages) {
    const voter = cores.get(m.to)!;
    voter.step(m);
    const rd = voter.ready();
    voter.advance();
    t.notOk(rd.sendBeforePersist, `${m.to}'s granted vote waits for its disk`);
    replies.set(m.to, [...rd.messages]);
  }
  // c's vote elects b; the old leader's is still on its way.
  for (const m of replies.get('c')!) b.step(m);
  t.equal(b.role, 'leader');
  // A write that waited for the election goes in right away, before the first Ready.
  const p = b.propose(bytes('first write'));
  t.ok(p.ok);
  const rd = b.ready();
  b.advance();
  t.ok(p.ok && carried(rd, 'a').includes(p.index), 'the old leader gets the write with the empty entry (no probe round trip first)');
  t.ok(p.ok && carried(rd, 'c').includes(p.index), 'so does the voter, which said where its log ends');
  for (const m of rd.messages) cores.get(m.to)!.step(m);
  for (const m of replies.get('a')!) b.step(m);
  settle(cores);
  for (const [id, c] of cores) t.ok(p.ok && c.log.committed >= p.index, `${id} committed the write`);
});

/** a leads a, b, c; a write is proposed and its appends taken (`sent`, not delivered); then a hands over to b (`handover`). */
function handoverWithWriteInFlight(t: Test) {
  const cores = group(['a', 'b', 'c']);
  const a = elect(cores, 'a');
  const b = cores.get('b')!;
  t.ok(a.propose(bytes('before')).ok);
  settle(cores);
  const p = a.propose(bytes('in flight'));
  t.ok(p.ok);
  const sent = a.ready();
  a.advance();
  t.ok(p.ok && carried(sent, 'b').includes(p.index), 'the write is on its way to b');
  t.ok(a.transferLeader('b'));
  const handover = a.ready();
  a.advance();
  return { cores, a, b, p, sent, handover };
}

t.test('leader transfer with a write in flight: TimeoutNow leaves right behind the appends, and the write commits', async (t) => {
  const { cores, b, p, sent, handover } = handoverWithWriteInFlight(t);
  t.ok(handover.messages.some((m) => m.type === 'timeout-now' && m.to === 'b'), 'TimeoutNow without waiting for b to acknowledge the write');
  // In order on a's stream to b: the write, then TimeoutNow.
  for (const m of [...sent.messages, ...handover.messages]) cores.get(m.to)!.step(m);
  settle(cores);
  t.equal(b.role, 'leader', 'b took over');
  for (const [id, c] of cores) t.ok(p.ok && c.log.committed >= p.index, `${id} committed the write that was in flight`);
});

t.test('leader transfer whose in-flight append is lost: the target does not campaign without the entry TimeoutNow names, and takes over once it has it', async (t) => {
  const { cores, a, b, p, sent, handover } = handoverWithWriteInFlight(t);
  const timeoutNow = handover.messages.find((m) => m.type === 'timeout-now' && m.to === 'b')!;
  t.ok(timeoutNow, 'TimeoutNow behind the append');
  // The append to b is lost (a broken stream); c gets its copy.
  for (const m of sent.messages) if (m.to !== 'b') cores.get(m.to)!.step(m);
  const termBefore = b.term;
  b.step(timeoutNow);
  t.equal(b.role, 'follower', 'b lacks the entry TimeoutNow names: no campaign');
  t.equal(b.term, termBefore, 'and no new term that would depose a');
  // a resends what b lacks (on its next heartbeat round) and then TimeoutNow again.
  for (let i = 0; i < 20 && b.role !== 'leader'; i++) {
    a.tick();
    settle(cores);
  }
  t.equal(b.role, 'leader', 'the transfer completed');
  for (const [id, c] of cores) t.ok(p.ok && c.log.committed >= p.index, `${id} committed the write`);
});

t.test('a new leader streams to each voter from where the voter said its log ends: a voter that is behind gets what it misses in the first append', async (t) => {
  const cores = group(['a', 'b', 'c']);
  const a = elect(cores, 'a');
  t.ok(a.propose(bytes('everyone')).ok);
  settle(cores);
  // c hears nothing for a while: a and b go on without it.
  const cutC = (m: Message) => m.to === 'c' || m.from === 'c';
  for (let i = 0; i < 3; i++) t.ok(a.propose(bytes(`without c ${i}`)).ok);
  settle(cores, cutC);
  const c = cores.get('c')!;
  const b = cores.get('b')!;
  t.ok(c.log.lastIndex() < b.log.lastIndex(), `c is behind (${c.log.lastIndex()} < ${b.log.lastIndex()})`);
  const behind = c.log.lastIndex();
  // a goes away; b campaigns and c votes for it (b's log is more up to date). Run the campaign
  // one Ready at a time, so that b's first Ready as leader can be inspected.
  cores.delete('a');
  for (let i = 0; i < 200 && b.role !== 'leader'; i++) {
    // Both tick (c's lease from a must run out before it votes); only b can win.
    if (b.role === 'follower') b.tick();
    if (c.role === 'follower') c.tick();
    const msgs: Message[] = [];
    for (const core of cores.values()) {
      if (!core.hasReady()) continue;
      msgs.push(...core.ready().messages);
      core.advance();
    }
    for (const m of msgs) cores.get(m.to)?.step(m);
  }
  t.equal(b.role, 'leader', 'b won with c\'s vote');
  const p = b.propose(bytes('first write'));
  const rd = b.ready();
  b.advance();
  const toC = carried(rd, 'c');
  t.equal(toC[0], behind + 1, 'the first append to c starts right after c\'s last entry, not with a probe at b\'s');
  t.ok(p.ok && toC.includes(p.index), 'and carries the write too');
  for (const m of rd.messages) cores.get(m.to)?.step(m);
  settle(cores);
  t.ok(p.ok && b.log.committed >= p.index && c.log.committed >= p.index, 'committed on b and c');
});

t.test('a snapshot opened while a Ready\'s membership change is applied is labelled with the last entry of that Ready', async (t) => {
  // The driver writes every committed entry of a Ready (records and applied index) before
  // advance(); the export a snapshot ships reads those records. Its label must be that index.
  const opened: number[] = [];
  const ids = ['a', 'b', 'c'];
  const cores = new Map(ids.map((id) => [id, RaftCore.bootstrap({ ...cfg(id), snapshotSource: () => {
    opened.push(cores.get(id)!.log.applied);
    return new Uint8Array(0);
  } }, ids)]));
  for (const c of cores.values()) {
    c.ready();
    c.advance();
  }
  const a = elect(cores, 'a');
  for (let i = 0; i < 5; i++) {
    a.propose(bytes(`x${i}`));
    settle(cores);
  }
  // c falls behind past a compaction.
  const cutC = (m: Message) => m.to === 'c' || m.from === 'c';
  for (let i = 0; i < 10; i++) {
    a.propose(bytes(`y${i}`));
    settle(cores, cutC);
  }
  a.compact(a.log.applied);
  // One Ready commits a membership change and a write after it; c is reported unreachable before
  // it, so the change's appends probe c and find it needs a snapshot.
  t.ok(a.proposeConfChange({ type: 'add-learner', node: 'd' }).ok);
  t.ok(a.propose(bytes('z')).ok);
  let rd = a.ready();
  a.advance();
  for (const m of rd.messages) if (m.to === 'b') cores.get('b')!.step(m);
  const b = cores.get('b')!;
  while (b.hasReady()) {
    const r = b.ready();
    b.advance();
    for (const m of r.messages) if (m.to === 'a') a.step(m);
  }
  a.reportUnreachable('c');
  opened.length = 0;
  rd = a.ready();
  const committed = rd.committed.map((e) => `${e.index}:${e.type}`);
  t.ok(rd.committed.length >= 2 && rd.committed.some((e) => e.type === 'conf') && rd.committed.at(-1)!.type === 'normal', `this Ready commits the change and the write after it (${committed.join(', ')})`);
  const last = rd.committed.at(-1)!.index;
  a.advance();
  const snaps = a.ready().messages.filter((m) => m.type === 'snap' && m.to === 'c');
  a.advance();
  t.ok(snaps.length > 0, 'c is sent a snapshot');
  t.same(snaps.map((m) => m.snapshot!.meta.index), snaps.map(() => last), `labelled ${last}, the index of the records on disk`);
  t.ok(opened.every((i) => i === last), `every export opened at applied ${last} (${opened.join(', ')})`);
});
