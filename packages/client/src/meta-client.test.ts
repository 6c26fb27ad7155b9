import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { MetaClient, MetaError } from './meta-client.js';


/** A member answering requests from a script, in order (the last answer repeats). */
async function member(t: Test, script: { status: number; body: string }[]): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const a = script[Math.min(hits++, script.length - 1)]!;
      res.writeHead(a.status, { 'content-type': a.body.startsWith('{') ? 'application/json' : 'text/html' });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

const ok = { status: 200, body: '{"ok":true}' };
const timeout = { status: 504, body: '{"error":{"code":"TIMEOUT","message":"not committed in time"}}' };
const bare502 = { status: 502, body: '<html>Bad Gateway</html>' };
const bare503 = { status: 503, body: '' };

t.test('an idempotent write is retried after a TIMEOUT (its outcome is unknown)', async (t) => {
  const m = await member(t, [timeout, ok]);
  const meta = new MetaClient([{ id: 'm', url: m.url }], 't');
  t.same(await meta.request('POST', '/v1/segments/publish', {}, { idempotent: true }), { ok: true });
  t.equal(m.hits(), 2);
});

t.test('a write that is not idempotent is not retried after a TIMEOUT', async (t) => {
  const m = await member(t, [timeout, ok]);
  const meta = new MetaClient([{ id: 'm', url: m.url }], 't');
  const err = await meta.post('/v1/x', {}).catch((e: unknown) => e);
  t.ok(err instanceof MetaError);
  t.equal((err as MetaError).code, 'TIMEOUT');
  t.match((err as MetaError).message, /outcome is unknown/);
  t.equal(m.hits(), 1);
});

t.test('reads are retried on a bare 502 or 503 (no error code: from something in between); plain writes are not', async (t) => {
  const m = await member(t, [bare502, bare503, ok]);
  const meta = new MetaClient([{ id: 'm', url: m.url }], 't');
  t.same(await meta.get('/v1/datasources'), { ok: true });
  t.equal(m.hits(), 3);
  const w = await member(t, [bare503, ok]);
  const err = await new MetaClient([{ id: 'w', url: w.url }], 't').post('/v1/x', {}).catch((e: unknown) => e);
  t.equal((err as MetaError).code, 'HTTP_503');
  t.equal(w.hits(), 1, 'a write that is not idempotent is not retried');
});

t.test('retries stay within the bound', async (t) => {
  const m = await member(t, [bare503]);
  const meta = new MetaClient([{ id: 'm', url: m.url }], 't');
  const err = await meta.get('/v1/datasources').catch((e: unknown) => e);
  t.equal((err as MetaError).code, 'UNAVAILABLE');
  t.equal(m.hits(), 12);
});
