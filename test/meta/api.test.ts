// The HTTP surface of a running group: auth, validation, limits, atomic and idempotent publishes,
// overshadowing, status shapes, OpenAPI, stale reads, the etcd maintenance status and the Raft
// peer endpoints. One cluster serves every subtest of this file.
import { request } from 'node:http';
import t from 'tap';
import { api, MetaCluster, TEST_TOKEN } from '../lib/meta-cluster.js';
import type { MetaStatus } from '../lib/meta-cluster.js';
import { waitFor } from '../lib/processes.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const CHECKSUM = 'c0'.repeat(32);

function segment(dataSource: string, day: number, version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const start = `2024-01-${String(day).padStart(2, '0')}`;
  const end = `2024-01-${String(day + 1).padStart(2, '0')}`;
  return {
    dataSource, start, end, version, partition: 0, partitions: 1, size: 1000, rows: 10,
    schema: { columns: ['ts', 'v'] }, checksum: CHECKSUM, location: `${dataSource}/${start}/${version}/0.arrow`, ...extra,
  };
}

/** A segment id as Druid forms it, for one-day segments of January 2024. */
function segmentId(dataSource: string, day: number, version: string): string {
  const iso = (d: number) => `2024-01-${String(d).padStart(2, '0')}T00:00:00.000Z`;
  return `${dataSource}_${iso(day)}_${iso(day + 1)}_${version}`;
}

function isErrorBody(body: unknown, code: string): boolean {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return e !== undefined && e.code === code && typeof e.message === 'string' && e.message.length > 0;
}

t.test('the HTTP API of a running group', async (t) => {
  const cluster = await MetaCluster.start(t);
  const leaderId = await cluster.waitLeader();
  const leader = cluster.url(leaderId);
  const followerId = cluster.ids.find((id) => id !== leaderId)!;
  const follower = cluster.url(followerId);
  t.comment(`leader ${leaderId}, follower used below ${followerId}`);

  const segmentIds = async (url: string, query = '') => {
    const r = await api(url, `/v1/segments${query}`);
    t.equal(r.status, 200, `GET /v1/segments${query}`);
    return (r.body?.segments ?? []).map((s: { id: string }) => s.id).sort() as string[];
  };

  t.test('a write without the token is refused with 401, on the leader and on a follower', async (t) => {
    for (const [name, url] of [['leader', leader], ['follower', follower]] as const) {
      for (const [path, body] of [['/v1/datasources', { name: 'no-token' }], ['/v3/kv/put', { key: b64('no-token'), value: b64('x') }]] as const) {
        const none = await api(url, path, { body, token: null });
        t.equal(none.status, 401, `${name} ${path} without a token: 401`);
        t.ok(isErrorBody(none.body, 'UNAUTHORIZED'), `${name} ${path}: {error: {code: UNAUTHORIZED, message}}`, { body: none.body });
        const wrong = await api(url, path, { body, token: 'not-the-token-at-all' });
        t.equal(wrong.status, 401, `${name} ${path} with a wrong token: 401`);
      }
    }
    const range = await api(leader, '/v3/kv/range', { body: { key: b64('no-token') }, token: null });
    t.equal(range.status, 200, 'reads need no token');
    t.notOk(range.body?.kvs, 'and nothing was written');
    const list = await api(leader, '/v1/datasources', { token: null });
    t.notOk(list.body?.datasources?.some((d: { name: string }) => d.name === 'no-token'), 'no datasource was created');
  });

  t.test('malformed JSON and bad fields get 400 with a message naming the field', async (t) => {
    const cases: [string, string, string, unknown, RegExp][] = [
      ['malformed JSON (admin API)', 'POST', '/v1/datasources', '{"name": "x",', /JSON/i],
      ['malformed JSON (etcd API)', 'POST', '/v3/kv/put', '{"key": ', /JSON/i],
      ['a rule with period P1X', 'PUT', '/v1/rules/events', [{ type: 'loadByPeriod', period: 'P1X', tieredReplicants: { hot: 1 } }], /\[0\]\.period/],
      ['a publish with a bad checksum', 'POST', '/v1/segments/publish', { ingestionId: 'bad-checksum', segments: [segment('bad', 1, 'v1'), segment('bad', 2, 'v1', { checksum: 'xyz' })] }, /segments\[1\]\.checksum/],
      ['a datasource name with a slash', 'POST', '/v1/datasources', { name: 'a/b' }, /name/],
      ['an etcd key that is not base64', 'POST', '/v3/kv/put', { key: 5, value: b64('x') }, /body\.key/],
      ['an unknown field in an etcd compare', 'POST', '/v3/kv/txn', { compare: [{ key: b64('k'), target: 'VALUE', bogus: 1 }], success: [] }, /compare\[0\].*bogus/],
      ['a worker with a negative capacity', 'PUT', '/v1/workers/w1', { url: 'http://127.0.0.1:1', capacityBytes: -5 }, /capacityBytes/],
      ['a bad consistency', 'GET', '/v1/segments?consistency=sometimes', undefined, /consistency/],
      ['a bad limit', 'GET', '/v1/segments?limit=lots', undefined, /limit/],
    ];
    for (const [what, method, path, body, names] of cases) {
      const r = await api(leader, path, { method, ...(body === undefined ? {} : { body }) });
      t.equal(r.status, 400, `${what}: 400`, { body: r.body });
      t.ok(isErrorBody(r.body, 'INVALID'), `${what}: {error: {code: INVALID, message}}`, { body: r.body });
      t.match(r.body?.error?.message ?? '', names, `${what}: the message names the field (${r.body?.error?.message})`);
    }
  });

  t.test('an oversized body gets 413', async (t) => {
    const etcd = await api(leader, '/v3/kv/put', { body: JSON.stringify({ key: b64('big'), value: 'A'.repeat(2_300_000) }) });
    t.equal(etcd.status, 413, 'an etcd put over 2.2 MB: 413');
    t.ok(isErrorBody(etcd.body, 'PAYLOAD_TOO_LARGE'), 'with code PAYLOAD_TOO_LARGE');
    t.equal(etcd.headers.get('connection'), 'close', 'and Connection: close (the unread rest of the body would break the next request on it)');
    // 33 MiB may still be on its way when the 413 comes and the server closes the connection: the
    // client's write can then fail (EPIPE, reset) before it reads the answer. Either way the body
    // was refused unread; what must hold is that nothing of it took effect.
    const admin = await api(follower, '/v1/segments/publish', { body: JSON.stringify({ ingestionId: 'huge', segments: [segment('huge', 1, 'v1')], pad: 'x'.repeat(33 << 20) }), timeoutMs: 30_000 }).catch((err: Error) => err);
    if (admin instanceof Error) {
      t.match(String((admin.cause as NodeJS.ErrnoException | undefined)?.code ?? admin.message), /EPIPE|ECONNRESET|UND_ERR_SOCKET/, `an admin body over 32 MiB: cut off while sending (${admin.message})`);
    } else {
      t.equal(admin.status, 413, 'an admin body over 32 MiB, sent to a follower: 413 before any relay');
      t.ok(isErrorBody(admin.body, 'PAYLOAD_TOO_LARGE'), 'with code PAYLOAD_TOO_LARGE');
    }
    t.same(await segmentIds(leader, '?dataSource=huge&includeUnused=true'), [], 'nothing of the refused publish took effect');
  });

  t.test('a chunked body (no Content-Length) is counted as it arrives', async (t) => {
    // Without a declared length the limit is enforced by counting: the node must still refuse a
    // body over the limit, and take one under it.
    const chunked = (path: string, chunks: readonly string[]) => new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const u = new URL(path, leader);
      const req = request(u, { method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      for (const c of chunks) req.write(c);
      req.end();
    });
    const big = JSON.stringify({ key: b64('chunked-big'), value: 'A'.repeat(2_300_000) });
    const refused = await chunked('/v3/kv/put', [big.slice(0, 1_000_000), big.slice(1_000_000)]).catch((err: Error) => err);
    if (refused instanceof Error) t.match(refused.message, /EPIPE|ECONNRESET|socket hang up/, `a chunked etcd put over 2.2 MB: cut off while sending (${refused.message})`);
    else {
      t.equal(refused.status, 413, 'a chunked etcd put over 2.2 MB: 413');
      t.ok(isErrorBody(refused.body, 'PAYLOAD_TOO_LARGE'), 'with code PAYLOAD_TOO_LARGE');
    }
    const small = JSON.stringify({ key: b64('chunked-small'), value: b64('yes') });
    const taken = await chunked('/v3/kv/put', [small.slice(0, 10), small.slice(10)]);
    t.equal(taken.status, 200, 'a small chunked put: 200');
    const read = await api(leader, '/v3/kv/range', { body: { key: b64('chunked-small') } });
    t.equal((read.body as { kvs?: { value: string }[] }).kvs?.[0]?.value, b64('yes'), 'and it took effect');
    const none = await api(leader, '/v3/kv/range', { body: { key: b64('chunked-big') } });
    t.notOk((none.body as { kvs?: unknown[] }).kvs?.length, 'the refused one did not');
  });

  t.test('a publish is all or nothing', async (t) => {
    // Refused at the edge: one malformed segment among good ones.
    const edge = await api(leader, '/v1/segments/publish', {
      body: { ingestionId: 'half-1', segments: [segment('half', 1, 'v1'), segment('half', 2, 'v1'), segment('half', 3, 'v1', { size: -1 })] },
    });
    t.equal(edge.status, 400, 'a publish with one bad segment among good ones: 400');
    t.match(edge.body?.error?.message, /segments\[2\]\.size/, 'naming the bad segment\'s field');
    t.same(await segmentIds(leader, '?dataSource=half&includeUnused=true'), [], 'none of its segments was published');

    // Refused by the state machine: a good new segment with one that contradicts the catalog.
    const first = await api(leader, '/v1/segments/publish', { body: { ingestionId: 'half-2', segments: [segment('half', 1, 'v1')] } });
    t.equal(first.status, 200, 'a good publish');
    const conflicting = await api(leader, '/v1/segments/publish', {
      body: { ingestionId: 'half-3', segments: [segment('half', 2, 'v1'), segment('half', 1, 'v1', { checksum: 'd1'.repeat(32) })] },
    });
    t.equal(conflicting.status, 409, 'a publish that republishes a segment with another checksum: 409');
    t.ok(isErrorBody(conflicting.body, 'CONFLICT'), 'with code CONFLICT');
    t.same(await segmentIds(leader, '?dataSource=half&includeUnused=true'), [segmentId('half', 1, 'v1')], 'the good segment of the refused publish was not published either');
    const replay = await api(leader, '/v1/segments/publish', { body: { ingestionId: 'half-3', segments: [segment('half', 2, 'v1')] } });
    t.equal(replay.body?.replayed, false, 'the refused ingestion id was not remembered: retrying it publishes');
  });

  t.test('an idempotent publish replayed returns replayed: true', async (t) => {
    const body = { ingestionId: 'ingest-once', segments: [segment('idem', 1, 'v1'), segment('idem', 2, 'v1')] };
    const first = await api(leader, '/v1/segments/publish', { body });
    t.equal(first.status, 200, 'the first publish succeeds');
    t.same(first.body, { ok: true, replayed: false, published: 2, unchanged: 0 }, 'and publishes two segments');
    const again = await api(follower, '/v1/segments/publish', { body });
    t.equal(again.status, 200, 'the replay (through a follower) succeeds');
    t.same(again.body, { ok: true, replayed: true, published: 2, unchanged: 0 }, 'and says replayed: true with the original result');
    t.same(await segmentIds(leader, '?dataSource=idem'), [segmentId('idem', 1, 'v1'), segmentId('idem', 2, 'v1')], 'the segments exist once');
  });

  t.test('a newer version overshadows the old one unless includeOvershadowed=true', async (t) => {
    const v1 = await api(leader, '/v1/segments/publish', { body: { ingestionId: 'shadow-v1', segments: [segment('shadow', 5, 'v1'), segment('shadow', 6, 'v1')] } });
    t.equal(v1.status, 200, 'v1 published');
    const v2 = await api(leader, '/v1/segments/publish', { body: { ingestionId: 'shadow-v2', segments: [segment('shadow', 5, 'v2')] } });
    t.equal(v2.status, 200, 'v2 of one day published');
    t.same(await segmentIds(leader, '?dataSource=shadow'), [segmentId('shadow', 5, 'v2'), segmentId('shadow', 6, 'v1')], 'by default: v2 where it exists, v1 elsewhere');
    t.same(
      await segmentIds(leader, '?dataSource=shadow&includeOvershadowed=true'),
      [segmentId('shadow', 5, 'v1'), segmentId('shadow', 5, 'v2'), segmentId('shadow', 6, 'v1')],
      'with includeOvershadowed=true: both versions',
    );
  });

  t.test('/v1/status has exactly its documented fields, on every node', async (t) => {
    const leaderId = await cluster.waitLeader();
    for (const id of cluster.ids) {
      const r = await api<MetaStatus>(cluster.url(id), '/v1/status', { token: null });
      t.equal(r.status, 200, `${id} answers`);
      t.same(Object.keys(r.body).sort(), ['appliedIndex', 'commitIndex', 'id', 'leader', 'role', 'term', 'version'], `${id}: {id, role, term, leader, commitIndex, appliedIndex, version}`);
      t.equal(r.body.id, id, `${id} names itself`);
      t.equal(r.body.leader, leaderId, `${id} names the leader`);
      t.equal(r.body.role, id === leaderId ? 'leader' : 'follower', `${id} has the right role`);
    }
  });

  t.test('/openapi.json lists the routes', async (t) => {
    const r = await api(leader, '/openapi.json', { token: null });
    t.equal(r.status, 200, 'served');
    t.match(r.body?.openapi, /^3\./, 'an OpenAPI 3 document');
    const paths = Object.keys(r.body?.paths ?? {});
    for (const p of ['/v1/status', '/v1/datasources', '/v1/segments', '/v1/segments/{id}', '/v1/segments/publish', '/v1/segments/mark', '/v1/rules', '/v1/rules/{dataSource}',
      '/v1/workers', '/v1/workers/{id}', '/v1/assignments', '/v3/kv/put', '/v3/kv/range', '/v3/kv/deleterange', '/v3/kv/txn', '/v3/maintenance/status']) {
      t.ok(paths.includes(p), `lists ${p}`);
    }
    t.ok(r.body?.paths?.['/v1/segments/publish']?.post, 'with methods (POST /v1/segments/publish)');
  });

  t.test('?consistency=stale works on a follower', async (t) => {
    const published = await api(leader, '/v1/segments/publish', { body: { ingestionId: 'stale-1', segments: [segment('stale', 9, 'v1')] } });
    t.equal(published.status, 200, 'published on the leader');
    const ids = await waitFor('the follower to list the segment in a stale read', 10_000, async () => {
      const r = await api(follower, '/v1/segments?dataSource=stale&consistency=stale', { token: null });
      return r.status === 200 && r.body.segments.length > 0 ? r.body.segments.map((s: { id: string }) => s.id) : undefined;
    });
    t.same(ids, [segmentId('stale', 9, 'v1')], 'the follower answers from its own state');
    const kv = await api(follower, '/v3/kv/range?consistency=stale', { body: { key: b64('never-written') } });
    t.equal(kv.status, 200, 'stale etcd ranges work on a follower too');
    const serializable = await api(follower, '/v3/kv/range', { body: { key: b64('never-written'), serializable: true } });
    t.equal(serializable.status, 200, 'and etcd\'s serializable: true');
    const linearizable = await api(follower, '/v1/segments?dataSource=stale', { token: null });
    t.equal(linearizable.body?.segments?.length, 1, 'a linearizable read on the follower sees it too');
  });

  t.test('/v3/maintenance/status answers on every node', async (t) => {
    const leaders = new Set<string>();
    for (const id of cluster.ids) {
      const r = await api(cluster.url(id), '/v3/maintenance/status', { body: {}, token: null });
      t.equal(r.status, 200, `${id} answers`);
      t.match(r.body, { version: /^cairn-/, raftTerm: /^\d+$/, raftIndex: /^\d+$/, raftAppliedIndex: /^\d+$/, header: { cluster_id: /^\d+$/, member_id: /^\d+$/, revision: /^\d+$/ } }, `${id}: etcd's StatusResponse shape`);
      const s = await cluster.status(id);
      t.equal(r.body?.raftTerm, String(s.term), `${id}: raftTerm is its term`);
      leaders.add(r.body?.leader);
    }
    t.equal(leaders.size, 1, 'every node names the same leader');
  });

  t.test('the Raft peer endpoints check the protocol version and the peer token', async (t) => {
    const post = (headers: Record<string, string>) => fetch(`${follower}/raft/v1/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-cairn-raft-frames', ...headers },
      body: new Uint8Array(0),
      signal: AbortSignal.timeout(5000),
    });
    const wrongVersion = await post({ 'x-cairn-raft-protocol': '999', authorization: `Bearer ${TEST_TOKEN}` });
    const wrongBody = (await wrongVersion.json()) as { error?: { message?: string } };
    t.equal(wrongVersion.status, 400, 'a wrong protocol version: 400');
    t.ok(isErrorBody(wrongBody, 'PROTOCOL_VERSION'), 'with code PROTOCOL_VERSION', { body: wrongBody });
    t.match(wrongBody?.error?.message, /protocol 2.*"999".*x-cairn-raft-protocol/, 'the message says which version it speaks, which it got, and the header');
    const noVersion = await post({ authorization: `Bearer ${TEST_TOKEN}` });
    t.equal(noVersion.status, 400, 'no protocol version: 400');
    t.ok(isErrorBody(await noVersion.json(), 'PROTOCOL_VERSION'), 'with code PROTOCOL_VERSION');
    const noToken = await post({ 'x-cairn-raft-protocol': '2' });
    t.equal(noToken.status, 401, 'no peer token: 401');
    t.ok(isErrorBody(await noToken.json(), 'UNAUTHORIZED'), 'with code UNAUTHORIZED');
    const wrongToken = await post({ 'x-cairn-raft-protocol': '2', authorization: 'Bearer not-the-peer-token' });
    t.equal(wrongToken.status, 401, 'a wrong peer token: 401');
    await wrongToken.arrayBuffer();
    // A stream that ends inside a frame, and one whose frame claims more than the bound: the peer
    // is told why (the answer must not be lost with its connection).
    const frames = (body: Uint8Array) => fetch(`${follower}/raft/v1/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-cairn-raft-frames', 'x-cairn-raft-protocol': '2', authorization: `Bearer ${TEST_TOKEN}` },
      body,
      signal: AbortSignal.timeout(5000),
    });
    const cut = await frames(new Uint8Array([0, 0, 0, 9, 1, 2]));
    const cutBody = (await cut.json()) as { error?: { message?: string } };
    t.equal(cut.status, 400, 'a stream that ends inside a frame: 400');
    t.match(cutBody?.error?.message, /ended inside a frame/, 'the message says so', { body: cutBody });
    const huge = await frames(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0]));
    const hugeBody = (await huge.json()) as { error?: { message?: string } };
    t.equal(huge.status, 400, 'a frame over the bound: 400');
    t.match(hugeBody?.error?.message, /exceeds/, 'the message names the bound', { body: hugeBody });
    const s = await cluster.status(followerId);
    t.equal(s.role, 'follower', 'the follower is undisturbed');
  });

  t.test('unknown routes get a JSON 404', async (t) => {
    const r = await api(leader, '/v1/nothing-here', { token: null });
    t.equal(r.status, 404, '404');
    t.ok(isErrorBody(r.body, 'NOT_FOUND'), 'with code NOT_FOUND');
  });
});
