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
import { errorBody } from './errors.js';
import { forwardWritesToLeader } from './forward.js';

/** A stand-in for the old leader: every write gets 503 NOT_LEADER naming `names`. */
async function oldLeader(t: Test, names: string): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(errorBody('NOT_LEADER', `handing over to ${names}`, names)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

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

t.test('a write the old leader sends back to this campaigning node is held here, not refused', async (t) => {
  const old = await oldLeader(t, 'm2');
  let state = { role: 'follower', leader: 'm1' };
  const a = app(() => state, old.url);
  // The relay leaves while m2 still follows m1; by the time m1 answers, m2 campaigns.
  const pending = a.request('http://m2/v3/kv/put', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  state = { role: 'candidate', leader: '' };
  const res = await pending;
  t.equal(old.hits(), 1, 'relayed once to the old leader');
  t.equal(res.status, 200, 'then taken here');
  t.same(await res.json(), { takenBy: 'm2' });
});

t.test('a node that follows another leader by then still answers with where to go', async (t) => {
  const old = await oldLeader(t, 'm2');
  let state = { role: 'follower', leader: 'm1' };
  const a = app(() => state, old.url);
  const pending = a.request('http://m2/v3/kv/put', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  // m2 lost the election meanwhile (it knows m1 leads again): it must not take the write.
  state = { role: 'follower', leader: 'm1' };
  const res = await pending;
  t.equal(res.status, 503);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_LEADER');
});
