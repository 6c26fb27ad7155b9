/**
 * The relay middleware, on the node a leadership handover goes to: a write it relayed to the old
 * leader comes back 503 NOT_LEADER naming this very node (the old leader saw it campaign). The
 * write is then taken here, or held while the election runs, like one that arrived during the
 * election; it used to go back to the client as a 503 whenever this node was not leader yet.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import t from 'tap';
import type { Test } from 'tap';
import { RaftError } from '../node/raft-node.js';
import { errorBody } from './errors.js';
import { forwardWritesToLeader } from './forward.js';

/** A stand-in for another member: every write gets 503 NOT_LEADER naming `names`, or 200 taken by `names` when `takes`. */
async function oldLeader(t: Test, names: string, takes = false): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(takes ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(takes ? { takenBy: names } : errorBody('NOT_LEADER', `handing over to ${names}`, names)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

/** A write arriving at m2. */
const putTo = (a: Hono) => a.request('http://m2/v3/kv/put', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });

function app(state: () => { role: string; leader: string }, leaderUrl: string) {
  const members = [
    { id: 'm1', url: leaderUrl, dc: 'dc1' },
    { id: 'm2', url: 'http://127.0.0.1:1', dc: 'dc1' },
  ];
  const a = new Hono();
  a.use('*', forwardWritesToLeader(members[1]!, members, state, (m) => m === 'POST', (m) => m === 'POST'));
  a.post('/v3/kv/put', (c) => c.json({ takenBy: 'm2' }));
  return a;
}

/**
 * A put relayed from m2, which follows m1, to m1; m1 answers that m2 leads now. By the time the
 * answer arrives m2's state is `then`.
 */
async function relayedWhileStateBecomes(t: Test, then: { role: string; leader: string }): Promise<{ res: Response; hits: number }> {
  const old = await oldLeader(t, 'm2');
  let state = { role: 'follower', leader: 'm1' };
  const a = app(() => state, old.url);
  const pending = putTo(a);
  state = then;
  const res = await pending;
  return { res, hits: old.hits() };
}

t.test('a write the old leader sends back to this campaigning node is held here, not refused', async (t) => {
  // The relay leaves while m2 still follows m1; by the time m1 answers, m2 campaigns.
  const { res, hits } = await relayedWhileStateBecomes(t, { role: 'candidate', leader: '' });
  t.equal(hits, 1, 'relayed once to the old leader');
  t.equal(res.status, 200, 'then taken here');
  t.same(await res.json(), { takenBy: 'm2' });
});

t.test('a node that follows another leader by then still answers with where to go', async (t) => {
  // m2 lost the election meanwhile (it knows m1 leads again): it must not take the write.
  const { res } = await relayedWhileStateBecomes(t, { role: 'follower', leader: 'm1' });
  t.equal(res.status, 503);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_LEADER');
});

t.test('a write sent to the candidate this node voted for, which lost, goes on to the winner', async (t) => {
  const winner = await oldLeader(t, 'm1', true);
  const loser = await oldLeader(t, 'm1');
  const members = [
    { id: 'm1', url: winner.url, dc: 'dc1' },
    { id: 'm2', url: 'http://127.0.0.1:1', dc: 'dc1' },
    { id: 'm3', url: loser.url, dc: 'dc1' },
  ];
  const a = new Hono();
  // m2 has no leader and voted for m3: its node refuses the write naming m3.
  a.use('*', forwardWritesToLeader(members[1]!, members, () => ({ role: 'follower', leader: '' }), (m) => m === 'POST', (m) => m === 'POST'));
  a.post('/v3/kv/put', () => {
    throw new RaftError('NOT_LEADER', 'no leader yet; this node voted for m3', 'm3');
  });
  a.onError((err, c) => c.json(errorBody('NOT_LEADER', err.message, (err as RaftError).leader), 503));
  const res = await putTo(a);
  t.equal(loser.hits(), 1, 'sent to m3 first');
  t.equal(winner.hits(), 1, 'then to m1, which m3 named');
  t.equal(res.status, 200);
  t.same(await res.json(), { takenBy: 'm1' });
});
