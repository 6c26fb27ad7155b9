// The client-history recorder has teeth: against an in-process fake of the etcd gateway it
// records linearizable histories when the fake is correct, and the checker rejects them when
// the fake serves stale reads or answers "no effect" (503 NOT_LEADER) for a write it applied.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { classify, KvHistory, testSeed } from '../lib/kv-history.js';

t.test('classify: ok, fail only when the answer proves no effect, info otherwise', async (t) => {
  const err = (code: string) => ({ error: { code, message: 'm' } });
  const cases: [Parameters<typeof classify>[0], Parameters<typeof classify>[1], string][] = [
    ['put', { status: 200, body: { header: {} } }, 'ok'],
    ['get', { status: 200, body: { header: {} } }, 'ok'],
    ['cas', { status: 200, body: { header: {}, succeeded: true } }, 'ok'],
    ['cas', { status: 200, body: { header: {} } }, 'fail'],
    ['put', { status: 401, body: err('UNAUTHORIZED') }, 'fail'],
    ['put', { status: 400, body: err('INVALID') }, 'fail'],
    ['put', { status: 413, body: err('PAYLOAD_TOO_LARGE') }, 'fail'],
    ['put', { status: 429, body: err('OVERLOADED') }, 'fail'],
    ['put', { status: 503, body: err('NOT_LEADER') }, 'fail'],
    ['put', { status: 503, body: err('NO_LEADER') }, 'fail'],
    ['cas', { status: 503, body: err('NOT_COMMITTED') }, 'fail'],
    ['put', { status: 503, body: err('STOPPED') }, 'info'],
    ['put', { status: 503, body: 'Service Unavailable' }, 'info'],
    ['put', { status: 504, body: err('TIMEOUT') }, 'info'],
    ['put', { status: 500, body: err('INTERNAL') }, 'info'],
    ['put', { error: new Error('fetch failed') }, 'info'],
    ['cas', { error: new DOMException('timed out', 'TimeoutError') }, 'info'],
  ];
  for (const [kind, res, want] of cases) t.equal(classify(kind, res), want, `${kind} ${'error' in res ? 'network error' : `${res.status} ${JSON.stringify(res.body)}`} -> ${want}`);
});

type Fault = 'none' | 'stale-reads' | 'applied-but-503' | 'applied-but-504';

/** A one-process fake of the gateway's put/range/txn, correct unless told otherwise. */
async function fakeGateway(t: Test, fault: Fault): Promise<string> {
  const values = new Map<string, { value: string; version: number }>();
  const previous = new Map<string, string>();
  let writes = 0;
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, any>;
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      const put = (key: string, value: string) => {
        const cur = values.get(key);
        if (cur) previous.set(key, cur.value);
        values.set(key, { value, version: (cur?.version ?? 0) + 1 });
        writes++;
      };
      const lie = () => {
        if (fault === 'applied-but-503' && writes % 3 === 0) return reply(503, { error: { code: 'NOT_LEADER', message: 'lying' } }), true;
        if (fault === 'applied-but-504' && writes % 3 === 0) return reply(504, { error: { code: 'TIMEOUT', message: 'unknown' } }), true;
        return false;
      };
      const key = Buffer.from(body['key'] ?? body['compare']?.[0]?.key ?? '', 'base64').toString();
      if (req.url === '/v3/kv/range') {
        const v = fault === 'stale-reads' ? previous.get(key) : values.get(key)?.value;
        return reply(200, { header: {}, ...(v === undefined ? {} : { kvs: [{ key: body['key'], value: Buffer.from(v).toString('base64') }], count: '1' }) });
      }
      if (req.url === '/v3/kv/put') {
        put(key, Buffer.from(body['value'], 'base64').toString());
        return lie() || reply(200, { header: {} });
      }
      const cmp = body['compare'][0];
      const cur = values.get(key);
      const holds = cmp.target === 'VERSION' ? (cur?.version ?? 0) === Number(cmp.version) : cur !== undefined && cur.value === Buffer.from(cmp.value, 'base64').toString();
      if (!holds) return reply(200, { header: {} });
      put(key, Buffer.from(body['success'][0].request_put.value, 'base64').toString());
      return lie() || reply(200, { header: {}, succeeded: true });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function record(t: Test, fault: Fault) {
  const url = await fakeGateway(t, fault);
  const seed = testSeed();
  t.comment(`client seed ${seed}`);
  const history = new KvHistory({ seed, targets: () => [url], keys: 2, thinkMsMax: 0 });
  history.start();
  await history.waitOkWrites(150, `against the fake (${fault})`);
  await history.stop();
  t.comment(history.summary());
  return history.check();
}

t.test('a correct gateway gives a linearizable history', async (t) => {
  const r = await record(t, 'none');
  t.ok(r.ok, r.ok ? 'linearizable' : r.reason);
});

t.test('stale reads are caught', async (t) => {
  const r = await record(t, 'stale-reads');
  t.equal(r.verdict, 'violation', 'the checker finds a violation');
});

t.test('a write answered 503 NOT_LEADER although it was applied is caught', async (t) => {
  const r = await record(t, 'applied-but-503');
  t.equal(r.verdict, 'violation', 'recorded as fail, then observed: a violation');
});

t.test('a write answered 504 although it was applied is fine: its outcome was unknown', async (t) => {
  const r = await record(t, 'applied-but-504');
  t.ok(r.ok, r.ok ? 'linearizable' : r.reason);
});
