import type { Test } from 'tap';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapBounded } from './bounded.js';
import { sha256Hex } from './checksum.js';
import { DeepStorageError } from './errors.js';
import { segmentKey } from './keys.js';
import type { DeepStorage } from './types.js';

/**
 * The behaviour every DeepStorage must have, as one tap suite: local.test.ts and s3.test.ts run
 * it against their store. `make` returns an empty store each time it is called (a fresh folder,
 * a fresh prefix). Data comes from a seeded generator; replay with CAIRN_SEED=<seed>.
 */
export interface ContractOptions {
  /** Keys for the listing test: more than one page of the store (S3 pages hold 1,000). */
  readonly manyKeys?: number;
  /** Size of the large random object. */
  readonly largeBytes?: number;
  readonly seed?: number;
  /**
   * How the listing test stores its many small objects; by default `put` with 16 in flight. The
   * S3 suite writes them with one plain request each (a checked put is three), which keeps that
   * file's run time reasonable on two cores: what this test checks is list, not put.
   */
  readonly fill?: (store: DeepStorage, objects: readonly { key: string; bytes: Uint8Array }[]) => Promise<void>;
}

export async function deepStorageContract(t: Test, make: () => Promise<DeepStorage>, opts: ContractOptions = {}): Promise<void> {
  const fromEnv = Number(process.env['CAIRN_SEED']);
  const seed = opts.seed ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 20250520);
  const manyKeys = opts.manyKeys ?? 1200;
  const largeBytes = opts.largeBytes ?? 5 * 1024 * 1024 + 12_345;
  t.comment(`seed ${seed} (replay: CAIRN_SEED=${seed})`);
  const rnd = prng(seed);

  await t.test('round trip: empty, one byte, and a large random object', async (t) => {
    const s = await make();
    for (const bytes of [new Uint8Array(0), Uint8Array.of(0x2a), randomBytes(rnd, largeBytes)]) {
      const sha = sha256Hex(bytes);
      const key = segmentKey('round trip', sha);
      t.same(await s.put(key, bytes, sha), { written: true }, `put ${bytes.length} bytes`);
      t.same(await s.stat(key), { size: bytes.length }, 'stat gives the size');
      const got = await s.get(key);
      t.ok(got instanceof Uint8Array, 'get resolves a Uint8Array');
      t.equal(got.length, bytes.length, 'same length');
      t.equal(sha256Hex(got), sha, 'same content');
    }
    t.same((await collect(s.list('segments/round%20trip/'))).length, 3, 'all three listed');
  });

  await t.test('put is idempotent on the same content', async (t) => {
    const s = await make();
    const bytes = randomBytes(rnd, 10_000);
    const sha = sha256Hex(bytes);
    const key = segmentKey('idem', sha);
    t.same(await s.put(key, bytes, sha), { written: true });
    t.same(await s.put(key, bytes, sha), { written: false }, 'the second put writes nothing');
    t.same(await s.put(key, bytes.slice(), sha), { written: false }, 'an equal copy neither');
    t.same(await collect(s.list('')), [key], 'one object');
    t.equal(sha256Hex(await s.get(key)), sha);
  });

  await t.test('put refuses different content under an existing key and keeps the original', async (t) => {
    const s = await make();
    const original = randomBytes(rnd, 4096);
    const sha = sha256Hex(original);
    const key = segmentKey('conflict', sha);
    await s.put(key, original, sha);
    const sameSize = randomBytes(rnd, 4096);
    await expectCode(t, s.put(key, sameSize, sha256Hex(sameSize)), 'CONFLICT', 'same size, other bytes');
    const longer = randomBytes(rnd, 5000);
    await expectCode(t, s.put(key, longer, sha256Hex(longer)), 'CONFLICT', 'other size');
    await expectCode(t, s.put(key, new Uint8Array(0), sha256Hex(new Uint8Array(0))), 'CONFLICT', 'empty');
    t.equal(sha256Hex(await s.get(key)), sha, 'the original is intact');
    t.same(await s.stat(key), { size: 4096 });
  });

  await t.test('put refuses bytes that do not match their checksum, and stores nothing', async (t) => {
    const s = await make();
    const bytes = randomBytes(rnd, 100);
    const other = sha256Hex(randomBytes(rnd, 100));
    await expectCode(t, s.put(segmentKey('bad', other), bytes, other), 'INVALID', 'wrong sha256');
    await expectCode(t, s.put('bad/x', bytes, 'not-a-sha'), 'INVALID', 'malformed sha256');
    await expectCode(t, s.put('bad/x', bytes, sha256Hex(bytes).toUpperCase()), 'INVALID', 'uppercase sha256');
    t.same(await collect(s.list('')), [], 'nothing stored');
  });

  await t.test('get and stat of a missing key', async (t) => {
    const s = await make();
    const key = segmentKey('missing', sha256Hex(Uint8Array.of(1)));
    const err = await expectCode(t, s.get(key), 'NOT_FOUND', 'get');
    t.match(err?.message ?? '', key.split('/')[2]!, 'the message names the key');
    t.equal(await s.stat(key), null, 'stat is null');
    t.equal(await s.stat('missing'), null, 'stat of a one-segment key');
  });

  await t.test('delete is idempotent', async (t) => {
    const s = await make();
    const bytes = randomBytes(rnd, 1000);
    const sha = sha256Hex(bytes);
    const key = segmentKey('del', sha);
    await s.delete(key);
    t.pass('deleting a missing key resolves');
    await s.put(key, bytes, sha);
    await s.delete(key);
    t.equal(await s.stat(key), null, 'gone');
    await expectCode(t, s.get(key), 'NOT_FOUND', 'get after delete');
    t.same(await collect(s.list('')), [], 'not listed');
    await s.delete(key);
    t.pass('deleting again resolves');
    t.same(await s.put(key, bytes, sha), { written: true }, 'the key can be written again');
  });

  await t.test(`list pages through ${manyKeys} keys under a prefix`, async (t) => {
    const s = await make();
    const want: string[] = [];
    for (let i = 0; i < manyKeys; i++) want.push(`many/k${String(i).padStart(5, '0')}`);
    want.push('many/sub/deeper/x', 'many/sub/y');
    const others = ['many-not/a', 'manyx', 'other/many/a', 'man'];
    const objects = [...want, ...others].map((key) => ({ key, bytes: new TextEncoder().encode(key) }));
    if (opts.fill) await opts.fill(s, objects);
    else await mapBounded(objects, 16, ({ key, bytes }) => s.put(key, bytes, sha256Hex(bytes)));
    const listed = await collect(s.list('many/'));
    t.equal(listed.length, want.length, 'every key once');
    t.same(listed.sort(), want.slice().sort(), 'exactly the keys under the prefix');
    t.same((await collect(s.list('many/k0001'))).sort(), want.filter((k) => k.startsWith('many/k0001')), 'a prefix that ends mid-name');
    t.same((await collect(s.list('many/sub/'))).sort(), ['many/sub/deeper/x', 'many/sub/y'], 'nested');
    t.same((await collect(s.list('many'))).length, want.length + 2, 'a prefix without a slash matches "many-not/" and "manyx" too');
    t.same(await collect(s.list('nothing/here/')), [], 'an empty prefix listing');
    t.equal((await collect(s.list(''))).length, want.length + others.length, 'everything');
    // Stopping early is allowed and leaks nothing.
    let n = 0;
    for await (const key of s.list('many/')) {
      t.ok(key.startsWith('many/'));
      if (++n === 3) break;
    }
  });

  await t.test('keys with odd characters', async (t) => {
    const s = await make();
    const keys = [
      'odd/with space.arrow',
      'odd/ünïcödé/日本語.arrow',
      'odd/plus+sign',
      'odd/percent%20literal',
      'odd/percent%',
      'odd/emoji 😀',
      'odd/a&b=c?d#e;f,g@h',
      "odd/quote'\"<tag>",
      'odd/tilde~star*paren()',
      segmentKey('web logs/ü+%', sha256Hex(Uint8Array.of(7))),
    ];
    for (const key of keys) {
      const bytes = new TextEncoder().encode(`content of ${key}`);
      t.same(await s.put(key, bytes, sha256Hex(bytes)), { written: true }, `put ${key}`);
      t.equal(new TextDecoder().decode(await s.get(key)), `content of ${key}`, `get ${key}`);
      t.same(await s.stat(key), { size: bytes.length }, `stat ${key}`);
    }
    t.same((await collect(s.list(''))).sort(), keys.slice().sort(), 'listed exactly as put');
    t.same(await collect(s.list('odd/ünïcödé/')), ['odd/ünïcödé/日本語.arrow'], 'a unicode prefix');
    t.same(await collect(s.list('odd/percent%2')), ['odd/percent%20literal'], 'a prefix with % is not decoded');
    t.equal(await s.stat('odd/percent literal'), null, '%20 is not a space');
    t.equal(await s.stat('odd/plus sign'), null, '+ is not a space');
    for (const key of keys) await s.delete(key);
    t.same(await collect(s.list('')), [], 'all deleted');
  });

  await t.test('keys that are not keys are refused', async (t) => {
    const s = await make();
    const bytes = Uint8Array.of(1, 2, 3);
    const sha = sha256Hex(bytes);
    const bad = ['', '/abs', '/etc/passwd', 'a/../b', '..', '../x', 'a/..', 'a//b', 'a/./b', 'trailing/', 'nul\u0000x', 'tab\tx',
      'back\\slash', 'a/.cairn-tmp-1', `${'x'.repeat(256)}/y`, 'y/'.repeat(600) + 'z', 'lone\ud800surrogate'];
    for (const key of bad) {
      await expectCode(t, s.put(key, bytes, sha), 'INVALID', `put ${JSON.stringify(key).slice(0, 40)}`);
      await expectCode(t, s.get(key), 'INVALID', 'get');
      await expectCode(t, s.stat(key), 'INVALID', 'stat');
      await expectCode(t, s.delete(key), 'INVALID', 'delete');
    }
    await expectCode(t, collect(s.list('../')), 'INVALID', 'list ../');
    await expectCode(t, collect(s.list('a/../')), 'INVALID', 'list a/../');
    t.throws(() => segmentKey('', sha), DeepStorageError, 'segmentKey needs a datasource');
    t.throws(() => segmentKey('ds', 'abc'), DeepStorageError, 'segmentKey needs a sha256');
    t.equal(segmentKey('..', sha), `segments/%2E./${sha}.arrow`, 'a datasource of dots makes no ".." segment');
    t.same(await collect(s.list('')), [], 'nothing stored');
  });

  await t.test('concurrent puts', async (t) => {
    const s = await make();
    const objects = Array.from({ length: 24 }, () => randomBytes(rnd, 1 + Math.floor(rnd() * 300_000)));
    const keys = objects.map((b) => segmentKey('concurrent', sha256Hex(b)));
    const results = await Promise.all(objects.map((b, i) => s.put(keys[i]!, b, sha256Hex(b))));
    t.ok(results.every((r) => r.written), 'different keys: every put wrote');
    for (const [i, key] of keys.entries()) t.equal(sha256Hex(await s.get(key)), sha256Hex(objects[i]!), `object ${i} intact`);
    // Several writers of the same object at once: all succeed and one object results. (Whether
    // more than one reports written:true depends on the store: S3 cannot put exclusively.)
    const same = randomBytes(rnd, 200_000);
    const sha = sha256Hex(same);
    const racing = await Promise.all(Array.from({ length: 6 }, () => s.put(segmentKey('race', sha), same, sha)));
    t.ok(racing.some((r) => r.written), 'at least one wrote');
    t.equal(sha256Hex(await s.get(segmentKey('race', sha))), sha, 'the object is intact');
    t.equal((await collect(s.list(''))).length, keys.length + 1, 'no stray object');
  });

  await t.test('an aborted get rejects with the reason, and the store still works', async (t) => {
    const s = await make();
    const bytes = randomBytes(rnd, largeBytes);
    const sha = sha256Hex(bytes);
    const key = segmentKey('abort', sha);
    await s.put(key, bytes, sha);

    const before = new AbortController();
    const reason1 = new Error('aborted before the call');
    before.abort(reason1);
    t.equal(await rejection(s.get(key, { signal: before.signal })), reason1, 'already aborted: rejects with the reason');

    // Aborted right after the call, before any I/O could complete.
    const during = new AbortController();
    const reason2 = new Error('aborted during the call');
    const p = s.get(key, { signal: during.signal });
    during.abort(reason2);
    t.equal(await rejection(p), reason2, 'aborted in flight: rejects with the reason');

    const plain = new AbortController();
    plain.abort();
    const e = await rejection(s.get(key, { signal: plain.signal }));
    t.equal((e as Error | undefined)?.name, 'AbortError', 'abort() without a reason: an AbortError');

    t.equal(sha256Hex(await s.get(key, { signal: new AbortController().signal })), sha, 'a later get reads it whole');
    await expectCode(t, s.get('abort/missing', { signal: new AbortController().signal }), 'NOT_FOUND', 'errors are still errors');
  });

  await t.test('download writes the object to a new file and answers its size and sha256', async (t) => {
    const s = await make();
    const dir = t.testdir();
    for (const bytes of [new Uint8Array(0), Uint8Array.of(0x2a), randomBytes(rnd, largeBytes)]) {
      const sha = sha256Hex(bytes);
      const key = segmentKey('download', sha);
      await s.put(key, bytes, sha);
      const path = join(dir, `copy-${bytes.length}`);
      t.same(await s.download(key, path), { size: bytes.length, sha256: sha }, `${bytes.length} bytes: size and sha256`);
      t.equal(sha256Hex(readFileSync(path)), sha, 'the file holds the object');
    }
    // Several at once (more than a local store's copy threads).
    const objects = Array.from({ length: 7 }, () => randomBytes(rnd, 1 + Math.floor(rnd() * 400_000)));
    for (const b of objects) await s.put(segmentKey('download', sha256Hex(b)), b, sha256Hex(b));
    const got = await Promise.all(objects.map((b, i) => s.download(segmentKey('download', sha256Hex(b)), join(dir, `many-${i}`))));
    t.same(got, objects.map((b) => ({ size: b.length, sha256: sha256Hex(b) })), 'concurrent downloads each answer their own object');
    for (const [i, b] of objects.entries()) t.equal(sha256Hex(readFileSync(join(dir, `many-${i}`))), sha256Hex(b), `file ${i} intact`);
  });

  await t.test('download of a missing key, or to a path that exists, leaves the file system as it was', async (t) => {
    const s = await make();
    const dir = t.testdir();
    const missing = segmentKey('download', sha256Hex(Uint8Array.of(9)));
    await expectCode(t, s.download(missing, join(dir, 'nothing')), 'NOT_FOUND', 'a missing key');
    t.same(readdirSync(dir), [], 'no file made for it');
    const bytes = randomBytes(rnd, 10_000);
    const sha = sha256Hex(bytes);
    const key = segmentKey('download', sha);
    await s.put(key, bytes, sha);
    const taken = join(dir, 'taken');
    writeFileSync(taken, 'somebody else\'s');
    const err = await rejection(s.download(key, taken));
    t.equal((err as { code?: string } | undefined)?.code, 'EEXIST', 'an existing file: EEXIST');
    t.notOk(err instanceof DeepStorageError, 'a local file problem, not a deep storage error');
    t.equal(readFileSync(taken, 'utf8'), 'somebody else\'s', 'and it is left alone');
    const nowhere = join(dir, 'no', 'such', 'folder');
    t.equal(((await rejection(s.download(key, nowhere))) as { code?: string } | undefined)?.code, 'ENOENT', 'a missing folder: ENOENT');
    t.notOk(existsSync(nowhere));
    await expectCode(t, s.download('../escape', join(dir, 'x')), 'INVALID', 'a key that is not one');
    t.same(readdirSync(dir), ['taken'], 'nothing else appeared');
  });

  await t.test('an aborted download rejects with the reason and leaves no file', async (t) => {
    const s = await make();
    const dir = t.testdir();
    const bytes = randomBytes(rnd, largeBytes);
    const sha = sha256Hex(bytes);
    const key = segmentKey('download abort', sha);
    await s.put(key, bytes, sha);
    const before = new AbortController();
    const reason1 = new Error('aborted before the call');
    before.abort(reason1);
    t.equal(await rejection(s.download(key, join(dir, 'a'), { signal: before.signal })), reason1, 'already aborted: rejects with the reason');
    const during = new AbortController();
    const reason2 = new Error('aborted during the call');
    const p = s.download(key, join(dir, 'b'), { signal: during.signal });
    during.abort(reason2);
    t.equal(await rejection(p), reason2, 'aborted in flight: rejects with the reason');
    t.same(readdirSync(dir), [], 'no file left behind');
    t.same(await s.download(key, join(dir, 'c')), { size: bytes.length, sha256: sha }, 'a later download completes');
  });

  await t.test('an aborted put leaves nothing or the whole object, and a retry completes it', async (t) => {
    const s = await make();
    const bytes = randomBytes(rnd, largeBytes);
    const sha = sha256Hex(bytes);
    const key = segmentKey('abort put', sha);

    const before = new AbortController();
    const reason = new Error('aborted before the call');
    before.abort(reason);
    t.equal(await rejection(s.put(key, bytes, sha, { signal: before.signal })), reason, 'already aborted: rejects with the reason');
    t.equal(await s.stat(key), null, 'and stores nothing');

    const during = new AbortController();
    const p = s.put(key, bytes, sha, { signal: during.signal });
    during.abort(new Error('aborted during the call'));
    const outcome = await p.then(() => 'stored', (err: unknown) => err);
    const st = await s.stat(key);
    t.ok(st === null || st.size === bytes.length, `after the abort (${outcome instanceof Error ? outcome.message : outcome}): nothing, or the whole object (${JSON.stringify(st)})`);

    const retry = await s.put(key, bytes, sha);
    t.equal(retry.written, st === null, 'the retry writes exactly when nothing was there');
    t.equal(sha256Hex(await s.get(key)), sha, 'the object is exactly the intended one');
    t.same(await collect(s.list('')), [key], 'and the only one');
  });
}

/** Collects an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** What `p` rejects with; fails the caller's test (by returning undefined) if it resolves. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Asserts `p` rejects with a DeepStorageError of `code`; returns it. */
export async function expectCode(t: Test, p: Promise<unknown>, code: DeepStorageError['code'], what: string): Promise<DeepStorageError | undefined> {
  const err = await rejection(p);
  if (err instanceof DeepStorageError && err.code === code) {
    t.pass(`${what}: ${code}`);
    return err;
  }
  t.fail(`${what}: expected DeepStorageError ${code}, got ${err === undefined ? 'success' : String(err)}`);
  return undefined;
}

/** A tiny seeded generator (mulberry32): floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` bytes from the generator. */
export function randomBytes(rnd: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const word = Math.floor(rnd() * 4294967296);
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return out;
}
