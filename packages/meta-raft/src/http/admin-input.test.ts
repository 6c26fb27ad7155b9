/**
 * Bad input to the admin API and the etcd gateway is refused at the edge with a 400 naming the
 * field, before anything is proposed: each test checks that the commit index did not move. The
 * app runs in process on a real single-member group (LevelDB in a test folder), so a request
 * goes through the same middleware, Raft node and state machine as in production.
 */
import t from 'tap';
import type { Test } from 'tap';
import { parseClusterConfig } from '@cairn/shared/config';
import { catalogLimits } from '../catalog/index.js';
import { catalogMachines } from '../node/catalog-machine.js';
import { CoordinatorDriver } from '../node/coordinator-driver.js';
import { createLogger } from '../node/logger.js';
import { NodeMetrics } from '../node/metrics.js';
import { RaftNode } from '../node/raft-node.js';
import { RaftStorage } from '../node/raft-storage.js';
import { buildApp } from './app.js';

const TOKEN = 'test-token-0123456789';
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('latin1');

type Json = any;

/** A one-member group that has elected itself, and its app. */
async function group(t: Test) {
  const storage = await RaftStorage.open(t.testdir());
  const log = createLogger({}, 'silent');
  const config = parseClusterConfig({ meta: [{ id: 'm1', url: 'http://127.0.0.1:9' }], auth: { token: TOKEN } }, {});
  const node = new RaftNode({
    id: 'm1', voters: ['m1'], storage, machines: catalogMachines, send: () => {}, log,
    tickMs: 5, electionTicks: 4, heartbeatTicks: 1, compactEvery: 10_000, compactKeep: 1000, seed: 1,
    onFatal: (err) => t.fail(`the raft loop failed: ${err.message}`),
  });
  await node.start();
  await node.whenCommittedInTerm(10_000);
  // The coordinator is never started: nothing but the test's requests proposes.
  const app = buildApp({ node, config, self: config.meta[0]!, metrics: new NodeMetrics(), log, version: 'test', coordinator: new CoordinatorDriver(node, log) });
  t.teardown(async () => {
    await node.stop();
    await storage.close();
  });
  const call = async (path: string, body: unknown, method = 'POST'): Promise<{ status: number; body: Json }> => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  const commitIndex = () => node.status().commitIndex;
  /** Asserts `body` gets a 400 INVALID whose message matches `names`, and that nothing was proposed. */
  const refused = async (t: Test, what: string, path: string, body: unknown, names: RegExp) => {
    const before = commitIndex();
    const r = await call(path, body);
    t.equal(r.status, 400, `${what}: 400`, { body: r.body });
    t.equal(r.body?.error?.code, 'INVALID', `${what}: code INVALID`);
    t.match(r.body?.error?.message ?? '', names, `${what}: the message names the field (${String(r.body?.error?.message).slice(0, 200)})`);
    t.equal(commitIndex(), before, `${what}: nothing was proposed`);
  };
  return { call, commitIndex, refused };
}

t.test('put: ignore_value and ignore_lease are refused, never ignored', async (t) => {
  const { call, refused } = await group(t);
  t.equal((await call('/v3/kv/put', { key: b64('k'), value: b64('kept') })).status, 200);
  await refused(t, 'ignore_value without a value', '/v3/kv/put', { key: b64('k'), ignore_value: true }, /body\.ignore_value.*not supported/);
  await refused(t, 'ignore_lease', '/v3/kv/put', { key: b64('k'), value: b64('x'), ignore_lease: true }, /body\.ignore_lease.*not supported/);
  await refused(t, 'ignore_value in a txn', '/v3/kv/txn', { success: [{ request_put: { key: b64('k'), ignore_value: true } }] }, /success\[0\]\.request_put\.ignore_value/);
  const read = await call('/v3/kv/range', { key: b64('k') });
  t.equal(unb64(read.body.kvs?.[0]?.value ?? ''), 'kept', 'the stored value is untouched');
  t.equal((await call('/v3/kv/put', { key: b64('k'), value: b64('kept'), ignore_value: false, ignore_lease: false })).status, 200, 'false (the default) is accepted');
});

t.test('range: sort_order, sort_target and the revision filters work as in etcd 3.4', async (t) => {
  const { call, refused } = await group(t);
  // Key order a b c d; create order c a d b; a is written twice, so its mod revision is the last.
  for (const [k, v] of [['c', '3'], ['a', '1'], ['d', '4'], ['b', '2'], ['a', '9']]) t.equal((await call('/v3/kv/put', { key: b64(k!), value: b64(v!) })).status, 200);
  const all = await call('/v3/kv/range', { key: b64('a'), range_end: b64('z') });
  const rev = (k: string, field: 'create_revision' | 'mod_revision') => Number(all.body.kvs.find((kv: Json) => unb64(kv.key) === k)[field]);
  t.ok(rev('c', 'create_revision') < rev('a', 'create_revision') && rev('d', 'create_revision') < rev('b', 'create_revision'), 'create order c a d b');
  const range = async (extra: Record<string, unknown>) => {
    const r = await call('/v3/kv/range', { key: b64('a'), range_end: b64('z'), ...extra });
    t.equal(r.status, 200, JSON.stringify(extra), { body: r.body });
    return { keys: (r.body.kvs ?? []).map((kv: Json) => unb64(kv.key)).join(''), more: r.body.more === true, count: Number(r.body.count), kvs: r.body.kvs ?? [] };
  };
  t.match(await range({ sort_order: 'DESCEND', limit: 2 }), { keys: 'dc', more: true, count: 4 }, 'the sort comes before the limit');
  t.match(await range({ sort_target: 'CREATE' }), { keys: 'cadb', more: false, count: 4 }, 'a target with order NONE sorts ascending, as etcd does');
  t.match(await range({ sort_order: 2, sort_target: 2 }), { keys: 'bdac' }, 'enums by number: DESCEND by CREATE');
  t.match(await range({ sort_order: 'ASCEND', sort_target: 'MOD', limit: 3 }), { keys: 'cdb', more: true, count: 4 }, 'ASCEND by MOD with a limit');
  t.match(await range({ sort_order: 'DESCEND', sort_target: 'VERSION', limit: 1 }), { keys: 'a', more: true }, 'DESCEND by VERSION');
  const byValue = await range({ sort_order: 'DESCEND', sort_target: 'VALUE', keys_only: true });
  t.match(byValue, { keys: 'adcb' }, 'DESCEND by VALUE, even with keys_only');
  t.notOk(byValue.kvs.some((kv: Json) => 'value' in kv), 'keys_only still leaves the values out');
  const [c, a, d] = ['c', 'a', 'd'].map((k) => rev(k, 'create_revision')) as [number, number, number];
  t.match(await range({ min_create_revision: a, max_create_revision: String(d) }), { keys: 'ad', more: false, count: 4 }, 'create revision filters; count is the range\'s, as in etcd');
  t.match(await range({ min_mod_revision: rev('b', 'mod_revision'), limit: 1 }), { keys: 'a', more: true }, 'min_mod_revision with a limit: more counts only what passed the filter');
  t.match(await range({ max_mod_revision: rev('b', 'mod_revision'), limit: 3 }), { keys: 'bcd', more: false }, 'max_mod_revision: the limit is not reached, so no more');
  t.match(await range({ max_create_revision: c, count_only: true }), { keys: '', count: 4 }, 'count_only with a filter: the count');
  const txn = await call('/v3/kv/txn', { success: [{ request_range: { key: b64('a'), range_end: b64('z'), sort_order: 'DESCEND', sort_target: 'CREATE', limit: 1 } }] });
  t.equal(txn.status, 200);
  const inTxn = txn.body.responses[0].response_range;
  t.same([inTxn.kvs.map((kv: Json) => unb64(kv.key)), inTxn.more, inTxn.count], [['b'], true, '4'], 'a range inside a txn is sorted and limited the same way');
  await refused(t, 'an unknown sort order', '/v3/kv/range', { key: b64('a'), sort_order: 'SIDEWAYS' }, /body\.sort_order/);
  await refused(t, 'an unknown sort target number', '/v3/kv/range', { key: b64('a'), sort_target: 7 }, /body\.sort_target/);
  await refused(t, 'a negative filter', '/v3/kv/range', { key: b64('a'), min_mod_revision: -1 }, /body\.min_mod_revision/);
});

t.test('range: the current revision can be read; others are refused with a reason', async (t) => {
  const { call } = await group(t);
  t.equal((await call('/v3/kv/put', { key: b64('r'), value: b64('1') })).status, 200);
  const now = Number((await call('/v3/kv/range', { key: b64('r') })).body.header.revision);
  for (const revision of [now, String(now)]) {
    const r = await call('/v3/kv/range', { key: b64('r'), revision });
    t.equal(r.status, 200, `revision ${JSON.stringify(revision)} (the current one): 200`, { body: r.body });
    t.equal(unb64(r.body.kvs?.[0]?.value ?? ''), '1', 'and it reads the key');
  }
  const future = await call('/v3/kv/range', { key: b64('r'), revision: now + 1 });
  t.equal(future.status, 400, 'a future revision: 400');
  t.match(future.body.error.message, /body\.revision.*future/);
  const past = await call('/v3/kv/range', { key: b64('r'), revision: now - 1 });
  t.equal(past.status, 400, 'an older revision: 400');
  t.match(past.body.error.message, new RegExp(`body\\.revision.*only the current revision ${now}`));
});

t.test('base64 must be standard and padded', async (t) => {
  const { call, refused } = await group(t);
  await refused(t, 'a key of invalid length ("Zm9vA")', '/v3/kv/put', { key: 'Zm9vA', value: b64('x') }, /body\.key.*base64/);
  await refused(t, 'URL-safe letters', '/v3/kv/put', { key: 'a-_b', value: b64('x') }, /body\.key.*base64/);
  await refused(t, 'padding bits set ("Zm9=")', '/v3/kv/put', { key: 'Zm9=', value: b64('x') }, /body\.key.*base64/);
  await refused(t, 'a value with whitespace', '/v3/kv/put', { key: b64('foo'), value: 'YmFy\n' }, /body\.value.*base64/);
  await refused(t, 'a compare value without padding', '/v3/kv/txn', { compare: [{ key: b64('foo'), target: 'VALUE', value: 'YmE' }] }, /compare\[0\]\.value.*base64/);
  const range = await call('/v3/kv/range', { key: 'Zm9vA' });
  t.equal(range.status, 400, 'a range key of invalid length: 400');
  t.notOk((await call('/v3/kv/range', { key: b64('foo') })).body.kvs, 'nothing was written to "foo"');
  t.equal((await call('/v3/kv/put', { key: b64('\xfb\xff'), value: '' })).status, 200, 'standard base64 with "+" and "/" is taken (key "+/8=")');
});

t.test('etcd writes are checked against the command limits before they are proposed', async (t) => {
  const { refused } = await group(t);
  const put = (k: string) => ({ request_put: { key: b64(k), value: b64('v') } });
  const ops = Array.from({ length: catalogLimits.txnOpsMax + 1 }, (_, i) => put(`k${i}`));
  await refused(t, `a txn with ${ops.length} success ops`, '/v3/kv/txn', { success: ops }, /success.*128/);
  await refused(t, `a txn with ${ops.length} failure ops`, '/v3/kv/txn', { failure: ops }, /failure.*128/);
  await refused(t, `a txn with ${ops.length} compares`, '/v3/kv/txn', { compare: ops.map((_, i) => ({ key: b64(`k${i}`), target: 'VERSION' })) }, /compare.*128/);
  const big = 'x'.repeat(catalogLimits.kvValueBytesMax + 1);
  await refused(t, 'a value 1 byte over the limit', '/v3/kv/put', { key: b64('big'), value: b64(big) }, /body\.value.*1572864/);
  await refused(t, 'a txn put value 1 byte over the limit', '/v3/kv/txn', { success: [{ request_put: { key: b64('big'), value: b64(big) } }] }, /success\[0\]\.request_put\.value/);
  const longKey = 'k'.repeat(catalogLimits.kvKeyBytesMax + 1);
  await refused(t, 'a key 1 byte over the limit', '/v3/kv/put', { key: b64(longKey), value: b64('v') }, /body\.key.*4096/);
  await refused(t, 'a range_end over the limit', '/v3/kv/deleterange', { key: b64('a'), range_end: b64(longKey) }, /body\.range_end/);
  await refused(t, 'an empty key', '/v3/kv/deleterange', { key: '' }, /body\.key.*not provided/);
  await refused(t, 'a txn putting one key twice', '/v3/kv/txn', { success: [put('d'), put('d')] }, /success: duplicate key/);
  await refused(t, 'a txn putting a key it deletes', '/v3/kv/txn', { failure: [{ request_delete_range: { key: b64('a'), range_end: b64('z') } }, put('d')] }, /failure: duplicate key/);
});

const CHECKSUM = 'c0'.repeat(32);
const segment = (schema: unknown, day = 1) => {
  const [start, end] = [day, day + 1].map((d) => `2024-01-${String(d).padStart(2, '0')}`);
  return { dataSource: 'deep', start, end, version: 'v1', partition: 0, partitions: 1, size: 1000, rows: 10, schema, checksum: CHECKSUM, location: `deep/${start}/v1/0.arrow` };
};
/** A publish body whose one segment has `schema`, given as JSON text. */
const publishText = (id: string, schema: string) => JSON.stringify({ ingestionId: id, segments: [segment('SCHEMA')] }).replace('"SCHEMA"', schema);
/** ... with a schema that nests `depth` objects inside it (JSON.stringify of which would overflow). */
const nestedPublish = (id: string, depth: number) => publishText(id, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);

t.test('publish: a segment schema nested too deep, or too large, is refused at the edge', async (t) => {
  const { call, refused } = await group(t);
  await refused(t, 'a schema nested 100,000 deep', '/v1/segments/publish', nestedPublish('deep-1', 100_000), /segments\[0\]\.schema.*nested deeper than 64/);
  await refused(t, 'a schema nested 1,000 deep', '/v1/segments/publish', nestedPublish('deep-2', 1000), /segments\[0\]\.schema.*nested deeper than 64/);
  // The bound is the state machine's (canonicalJson's): a value 65 levels below the schema fails.
  await refused(t, 'a schema nested 65 deep', '/v1/segments/publish', nestedPublish('deep-3', 65), /segments\[0\]\.schema/);
  t.equal((await call('/v1/segments/publish', nestedPublish('deep-4', 64))).status, 200, 'a schema nested 64 deep is published');
  // JSON.parse reads 1e999 as Infinity, which the proposal's JSON.stringify quietly turned into null.
  await refused(t, 'a schema with a number JSON cannot carry', '/v1/segments/publish', publishText('deep-6', '{"x":1e999}'), /segments\[0\]\.schema\.x.*not a JSON number/);
  const large = { columns: ['x'.repeat(catalogLimits.schemaCharsMax)] };
  await refused(t, 'a schema over the size limit', '/v1/segments/publish', { ingestionId: 'deep-5', segments: [segment({ ok: 1 }, 2), segment(large, 3)] }, /segments\[1\]\.schema.*65536/);
});

t.test('assignments and mark refuse unknown fields', async (t) => {
  const { call, refused } = await group(t);
  t.equal((await call('/v1/segments/publish', { ingestionId: 'i1', segments: [segment({ columns: ['ts'] })] })).status, 200);
  const id = 'deep_2024-01-01T00:00:00.000Z_2024-01-02T00:00:00.000Z_v1';
  t.equal((await call(`/v1/workers/w1`, { url: 'http://127.0.0.1:1', dc: 'dc1', capacityBytes: 1e9, version: '0.1.0' }, 'PUT')).status, 200);
  await refused(t, '"adds" for "add" in a change', '/v1/assignments', { changes: [{ segmentId: id, adds: ['w1'] }] }, /changes\[0\].*adds/);
  await refused(t, 'an unknown top-level field', '/v1/assignments', { changes: [{ segmentId: id, add: ['w1'] }], dryRun: true }, /dryRun/);
  await refused(t, '"segmentIDs" for "segmentIds"', '/v1/segments/mark', { dataSource: 'deep', used: false, interval: '2024-01-01/2024-01-02', segmentIDs: [id] }, /segmentIDs/);
  t.equal((await call('/v1/segments?dataSource=deep', undefined, 'GET')).body.total, 1, 'the segment is still used');
  const ok = await call('/v1/assignments', { changes: [{ segmentId: id, add: ['w1'] }] });
  t.same([ok.status, ok.body.added], [200, 1], 'the well-formed change is applied');
});
