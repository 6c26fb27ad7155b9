import t from 'tap';
import type { Test } from 'tap';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { createBucket, ensureSwiftInstalled, startSwift, SWIFT_INSTALL_TIMEOUT_MS, swiftInstalled } from '../../../../test/lib/swift.js';
import type { SwiftServer } from '../../../../test/lib/swift.js';
import { freePorts } from '../../../../test/lib/processes.js';
import { mapBounded } from './bounded.js';
import { sha256Hex } from './checksum.js';
import { collect, deepStorageContract, expectCode, prng, randomBytes } from './contract.js';
import { createDeepStorage, DeepStorageError, S3DeepStorage, segmentKey } from './index.js';
import { MiB } from './types.js';
import type { S3Config, S3Limits } from './index.js';

/**
 * The deep storage contract against a real S3 server: OpenStack Swift with s3api, from Debian's
 * packages, installed here if missing (apt-get as root: 80-125 s here, 70 packages) and started
 * on loopback for this file (10 s on idle cores, up to 50 s on a loaded machine).
 */
const BUCKET = 'cairn-deep';
const SEED = 7;

// Ten minutes (tap's default here is five): this file runs ~1,600 requests through a Python
// server that shares two cores with the other test files; it took 2.5 min with the load at 14.
// Plus the install's own bound if Swift is missing.
const FILE_TIMEOUT_MS = 10 * 60_000;
t.setTimeout(swiftInstalled() ? FILE_TIMEOUT_MS : FILE_TIMEOUT_MS + SWIFT_INSTALL_TIMEOUT_MS);

t.test('deep storage on S3 (Swift with s3api)', async (t) => {
  const installMs = await ensureSwiftInstalled();
  if (installMs > 0) t.comment(`installed Swift in ${(installMs / 1000).toFixed(1)} s`);
  const startedAt = Date.now();
  const swift = await startSwift(t);
  t.comment(`Swift ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s at ${swift.endpoint}`);
  await createBucket(swift, BUCKET);

  const stores: S3DeepStorage[] = [];
  t.teardown(() => stores.forEach((s) => s.destroy()));
  let prefixes = 0;
  const store = (opts: { prefix?: string; endpoint?: string; secret?: string; bucket?: string; limits?: Partial<S3Limits> } = {}): S3DeepStorage => {
    const config: S3Config = {
      type: 's3',
      bucket: opts.bucket ?? BUCKET,
      prefix: opts.prefix ?? `t${++prefixes}`,
      endpoint: opts.endpoint ?? swift.endpoint,
      region: swift.region,
      forcePathStyle: true,
      accessKeyId: swift.accessKeyId,
      secretAccessKey: opts.secret ?? swift.secretAccessKey,
    };
    const s = new S3DeepStorage(config, opts.limits);
    stores.push(s);
    return s;
  };

  await t.test('the contract', async (t) => {
    await deepStorageContract(t, async () => store(), {
      fill: (s, objects) => mapBounded(objects, 16, async ({ key, bytes }) => {
        const raw = s as S3DeepStorage;
        await raw.client.send(new PutObjectCommand({ Bucket: raw.bucket, Key: raw.prefix + key, Body: bytes }));
      }).then(() => undefined),
    });
  });

  await t.test('createDeepStorage builds it from the cluster file\'s shape', async (t) => {
    const s = createDeepStorage({
      type: 's3', bucket: BUCKET, prefix: '/shape/', endpoint: swift.endpoint, region: swift.region, forcePathStyle: true,
      accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey,
    });
    t.equal(s.kind, 's3');
    stores.push(s as S3DeepStorage);
    const bytes = Uint8Array.of(1, 2, 3);
    await s.put('k', bytes, sha256Hex(bytes));
    const raw = await (s as S3DeepStorage).client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'shape' }));
    t.same(raw.Contents?.map((o) => o.Key), ['shape/k'], 'stored under the prefix, joined with one "/"');
    t.same(await collect(store({ prefix: 'shapes' }).list('')), [], 'a sibling prefix sees none of it');
  });

  await t.test('list follows continuation tokens page by page', async (t) => {
    const s = store({ prefix: 'pages', limits: { listPageKeysMax: 2 } });
    let pages = 0;
    s.client.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'ListObjectsV2Command') pages++;
      return next(args);
    }, { step: 'initialize', name: 'countPages' });
    const keys = ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'b/1'];
    for (const key of keys) await s.put(key, Uint8Array.of(1), sha256Hex(Uint8Array.of(1)));
    t.same(await collect(s.list('a/')), keys.slice(0, 5), 'S3 lists in key order');
    t.equal(pages, 3, 'five keys, two a page: three requests');
  });

  await t.test('an ETag that is not the MD5 (SSE-KMS, SSE-C, an encrypting MinIO) does not make a put a conflict', async (t) => {
    const s = store({ prefix: 'sse' });
    // As an encrypting server answers: 32 hex digits, but not the MD5 of the content.
    s.client.middlewareStack.add((next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'HeadObjectCommand') (out.output as { ETag?: string }).ETag = `"${'0123456789abcdef'.repeat(2)}"`;
      return out;
    }, { step: 'initialize', name: 'sseEtag' });
    const bytes = Uint8Array.of(5, 6, 7);
    const sha = sha256Hex(bytes);
    const key = segmentKey('sse', sha);
    t.same(await s.put(key, bytes, sha), { written: true }, 'stored');
    t.same(await s.put(key, bytes, sha), { written: false }, 'and put again: already there, not a conflict');
    t.same([...await s.get(key)], [5, 6, 7], 'the bytes');
    const other = Uint8Array.of(9);
    await expectCode(t, s.put(key, other, sha256Hex(other)), 'CONFLICT', 'put of other content under that key');
  });

  await t.test('a wrong secret is refused by the server', async (t) => {
    const bad = store({ prefix: 'auth', secret: 'not-the-secret' });
    const good = store({ prefix: 'auth' });
    const bytes = Uint8Array.of(42);
    const sha = sha256Hex(bytes);
    const key = segmentKey('auth', sha);
    const err = await expectCode(t, bad.put(key, bytes, sha), 'UNAVAILABLE', 'put');
    t.match(err?.message ?? '', /SignatureDoesNotMatch|AccessDenied|HTTP 403/, 'the message says access was denied');
    t.match(err?.message ?? '', `s3://${BUCKET}/auth/${key}`, 'and names bucket and key');
    await expectCode(t, bad.stat(key), 'UNAVAILABLE', 'stat');
    await expectCode(t, collect(bad.list('')), 'UNAVAILABLE', 'list');
    t.equal(await good.stat(key), null, 'nothing was stored');
    await good.put(key, bytes, sha);
    await expectCode(t, bad.get(key), 'UNAVAILABLE', 'get of an object that exists');
    await expectCode(t, bad.delete(key), 'UNAVAILABLE', 'delete');
    t.same(await good.stat(key), { size: 1 }, 'and it is still there');
  });

  await t.test('a put cut mid-body by an abort, then put again, ends with exactly the intended object', async (t) => {
    const proxy = await CutProxy.start(t, swift);
    const s = store({ prefix: 'cut-abort', endpoint: proxy.endpoint });
    const bytes = randomBytes(prng(SEED), 5 * MiB);
    const sha = sha256Hex(bytes);
    const key = segmentKey('cut', sha);
    const ac = new AbortController();
    const reason = new Error('cut after 1 MiB of the body');
    proxy.arm({ marker: `PUT /${BUCKET}/cut-abort/`, afterBytes: MiB, times: 1, action: () => ac.abort(reason) });
    await t.rejects(s.put(key, bytes, sha, { signal: ac.signal }), reason, 'the put rejects with the abort reason');
    t.equal(proxy.cuts, 1, 'the upload was cut mid-body');
    t.equal(await s.stat(key), null, 'the server kept no partial object');
    proxy.disarm();
    t.same(await s.put(key, bytes, sha), { written: true }, 'the retry writes it');
    t.equal(sha256Hex(await s.get(key)), sha, 'exactly the intended bytes');
    t.same(await collect(s.list('')), [key], 'and only that object');
  });

  await t.test('a connection reset mid-body is retried by the store itself', async (t) => {
    const proxy = await CutProxy.start(t, swift);
    const s = store({ prefix: 'cut-reset', endpoint: proxy.endpoint, limits: { attemptsMax: 3 } });
    const bytes = randomBytes(prng(SEED + 1), 5 * MiB);
    const sha = sha256Hex(bytes);
    const key = segmentKey('reset', sha);
    proxy.arm({ marker: `PUT /${BUCKET}/cut-reset/`, afterBytes: MiB, times: 1, action: 'reset' });
    t.same(await s.put(key, bytes, sha), { written: true }, 'the put succeeds');
    t.equal(proxy.cuts, 1, 'after one cut attempt');
    t.equal(proxy.seen, 2, 'and exactly one retry');
    t.equal(sha256Hex(await s.get(key)), sha, 'exactly the intended bytes');

    // Retries are bounded: a server that always cuts sees attemptsMax attempts, then the error.
    const other = randomBytes(prng(SEED + 2), 5 * MiB);
    const otherKey = segmentKey('reset', sha256Hex(other));
    proxy.arm({ marker: `PUT /${BUCKET}/cut-reset/`, afterBytes: MiB, times: Infinity, action: 'reset' });
    const err = await expectCode(t, s.put(otherKey, other, sha256Hex(other)), 'UNAVAILABLE', 'every attempt cut');
    t.match(err?.message ?? '', `s3://${BUCKET}/cut-reset/${otherKey}`, 'the message names bucket and key');
    t.equal(proxy.seen, 3, 'attemptsMax attempts, no more');
    proxy.disarm();
    t.equal(await s.stat(otherKey), null, 'nothing stored');
  });

  await t.test('multipart uploads', async (t) => {
    const limits = { multipartThresholdBytes: 5 * MiB, partBytes: 5 * MiB, uploadConcurrencyMax: 2 };
    const s = store({ prefix: 'multipart', limits });
    const bytes = randomBytes(prng(SEED + 3), 12 * MiB + 1);
    const sha = sha256Hex(bytes);
    const key = segmentKey('mp', sha);
    t.same(await s.put(key, bytes, sha), { written: true }, 'three parts');
    t.same(await s.stat(key), { size: bytes.length });
    t.equal(sha256Hex(await s.get(key)), sha, 'round trip');
    t.same(await s.put(key, bytes, sha), { written: false }, 'idempotent (checked by the stored sha256)');
    const other = randomBytes(prng(SEED + 4), bytes.length);
    await expectCode(t, s.put(key, other, sha256Hex(other)), 'CONFLICT', 'other content of the same size');
    t.equal(sha256Hex(await s.get(key)), sha, 'the original is intact');
    const uploads = await s.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'multipart/' }));
    t.same(uploads.Uploads ?? [], [], 'no multipart upload left open');
  });

  await t.test('a failed multipart upload is aborted, and a retry completes it', async (t) => {
    const proxy = await CutProxy.start(t, swift);
    const limits = { multipartThresholdBytes: 5 * MiB, partBytes: 5 * MiB, uploadConcurrencyMax: 2 };
    const s = store({ prefix: 'mp-abort', endpoint: proxy.endpoint, limits });
    const bytes = randomBytes(prng(SEED + 5), 12 * MiB + 1);
    const sha = sha256Hex(bytes);
    const key = segmentKey('mp', sha);
    const ac = new AbortController();
    const reason = new Error('cut during part 2');
    proxy.arm({ marker: 'partNumber=2&', afterBytes: MiB, times: 1, action: () => ac.abort(reason) });
    await t.rejects(s.put(key, bytes, sha, { signal: ac.signal }), reason, 'the put rejects with the abort reason');
    t.equal(proxy.cuts, 1, 'part 2 was cut mid-body');
    proxy.disarm();
    const uploads = await s.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'mp-abort/' }));
    t.same(uploads.Uploads ?? [], [], 'the multipart upload was aborted');
    t.equal(await s.stat(key), null, 'no object');
    t.same(await s.put(key, bytes, sha), { written: true }, 'the retry writes it');
    t.equal(sha256Hex(await s.get(key)), sha, 'exactly the intended bytes');
  });

  await t.test('an unreachable endpoint or a missing bucket is UNAVAILABLE, naming bucket and key', async (t) => {
    const [closed] = await freePorts(1);
    const down = store({ prefix: 'down', endpoint: `http://127.0.0.1:${closed}`, limits: { attemptsMax: 2, connectTimeoutMs: 2_000 } });
    const err = await expectCode(t, down.get('some/key'), 'UNAVAILABLE', 'connection refused');
    t.match(err?.message ?? '', `s3://${BUCKET}/down/some/key`);
    const nobucket = store({ prefix: 'x', bucket: 'no-such-bucket' });
    const e2 = await expectCode(t, nobucket.put('k', Uint8Array.of(1), sha256Hex(Uint8Array.of(1))), 'UNAVAILABLE', 'no such bucket');
    t.match(e2?.message ?? '', 's3://no-such-bucket/x/k');
  });

  await t.test('limits are checked', async (t) => {
    t.throws(() => store({ limits: { partBytes: MiB } }), DeepStorageError, 'parts under 5 MiB');
    t.throws(() => store({ limits: { attemptsMax: 0 } }), DeepStorageError, 'no attempt at all');
    t.throws(() => store({ limits: { listPageKeysMax: 5000 } }), DeepStorageError, 'pages over 1,000 keys');
    const small = store({ prefix: 'limits', limits: { objectBytesMax: 10 } });
    const big = new Uint8Array(11);
    await expectCode(t, small.put('big', big, sha256Hex(big)), 'INVALID', 'an object over objectBytesMax');
    // A body whose length the response does not give (chunked): the bound holds while reading.
    const bytes = new Uint8Array(64).map((_, i) => i);
    await store({ prefix: 'limits' }).put('chunked', bytes, sha256Hex(bytes));
    small.client.middlewareStack.add((next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'GetObjectCommand') delete (out.output as { ContentLength?: number }).ContentLength;
      return out;
    }, { step: 'initialize', name: 'noLength' });
    await expectCode(t, small.get('chunked'), 'INVALID', 'a body over objectBytesMax without Content-Length');
    const roomy = store({ prefix: 'limits', limits: { objectBytesMax: 64 } });
    roomy.client.middlewareStack.add((next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'GetObjectCommand') delete (out.output as { ContentLength?: number }).ContentLength;
      return out;
    }, { step: 'initialize', name: 'noLength' });
    t.same([...await roomy.get('chunked')], [...bytes], 'one within the bound is read whole');
  });

  if (!t.passing()) t.comment(`Swift logs:\n${swift.logTail(40)}`);
});

interface CutRule {
  /** Text of the request line to watch for (e.g. `PUT /bucket/prefix/`). */
  readonly marker: string;
  /** Request bytes let through after the marker before the cut. */
  readonly afterBytes: number;
  /** How many connections to cut. */
  readonly times: number;
  /** 'reset': reset both sockets, like a network failure; a function: call it (and forward no more). */
  readonly action: 'reset' | (() => void);
}

/**
 * A TCP proxy in front of Swift that cuts a request mid-body, at a byte count rather than at a
 * moment, so the fault lands in the same place on every run. Stopped in teardown.
 */
class CutProxy {
  /** Connections the marker was seen in, since the last arm(). */
  seen = 0;
  cuts = 0;
  private rule: CutRule | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, private readonly targetPort: number) {}

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(t: Test, swift: SwiftServer): Promise<CutProxy> {
    const targetPort = Number(new URL(swift.endpoint).port);
    const server = createServer();
    const proxy = new CutProxy(server, targetPort);
    server.on('connection', (client) => proxy.onConnection(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    t.teardown(() => proxy.close());
    return proxy;
  }

  arm(rule: CutRule): void {
    this.rule = rule;
    this.seen = 0;
    this.cuts = 0;
  }

  disarm(): void {
    this.rule = undefined;
  }

  private onConnection(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => this.sockets.delete(s));
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    upstream.pipe(client);
    let tail = '';
    let counted = -1; // request bytes since the last marker in this connection; -1 before one
    let cut = false;
    client.on('data', (chunk: Buffer) => {
      if (cut) return;
      const rule = this.rule;
      if (rule) {
        // The tail is shorter than the marker, so no occurrence is counted twice.
        const text = tail + chunk.toString('latin1');
        let last = -1;
        for (let at = text.indexOf(rule.marker); at >= 0; at = text.indexOf(rule.marker, at + 1)) {
          this.seen++;
          last = at;
        }
        if (last >= 0) counted = text.length - last - rule.marker.length;
        else if (counted >= 0) counted += chunk.length;
        tail = text.slice(-(rule.marker.length - 1));
        if (counted > rule.afterBytes && this.cuts < rule.times) {
          cut = true;
          this.cuts++;
          if (rule.action === 'reset') {
            client.resetAndDestroy();
            upstream.resetAndDestroy();
          } else {
            client.pause();
            rule.action();
          }
          return;
        }
      }
      upstream.write(chunk);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
