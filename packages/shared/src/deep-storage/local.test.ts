import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from './checksum.js';
import { collect, deepStorageContract, expectCode } from './contract.js';
import { createDeepStorage, LocalDeepStorage, segmentKey, TEMP_PREFIX } from './index.js';

t.test('the contract, on a local directory', async (t) => {
  let n = 0;
  await deepStorageContract(t, async () => createDeepStorage({ type: 'local', path: join(t.testdir(), `store-${++n}`) }));
});

t.test('the contract, on a local directory with directIo (downloads past the page cache)', async (t) => {
  let n = 0;
  await deepStorageContract(t, async () => createDeepStorage({ type: 'local', path: join(t.testdir(), `store-${++n}`), directIo: true }));
});

t.test('a crash mid-write leaves no partial object under the real key', async (t) => {
  const root = t.testdir();
  const s = new LocalDeepStorage({ type: 'local', path: root });
  const bytes = new TextEncoder().encode('the whole segment');
  const sha = sha256Hex(bytes);
  const key = segmentKey('crash', sha);
  // What a writer killed between write and link leaves: half the bytes in a temporary file in
  // the object's directory, and nothing under the key.
  const dir = join(root, 'segments', 'crash');
  mkdirSync(dir, { recursive: true });
  const leftover = join(dir, `${TEMP_PREFIX}4242-1-deadbeef`);
  writeFileSync(leftover, bytes.subarray(0, 8));
  await expectCode(t, s.get(key), 'NOT_FOUND', 'get does not see the temporary file');
  t.equal(await s.stat(key), null, 'nor does stat');
  t.same(await collect(s.list('')), [], 'nor list');
  t.same(await collect(s.list('segments/crash/')), [], 'nor list of its own directory');

  t.same(await s.put(key, bytes, sha), { written: true }, 'the retried put writes the object');
  t.equal(new TextDecoder().decode(await s.get(key)), 'the whole segment');
  t.same(await collect(s.list('')), [key], 'only the object is listed');
  t.ok(existsSync(leftover), 'another writer\'s temporary file is left alone');
  t.same(readdirSync(dir).filter((f) => f.startsWith(TEMP_PREFIX)), [leftover.slice(dir.length + 1)], 'put cleans up only its own');

  t.equal(await s.sweepTemporaries(60_000, Date.now() - 3_600_000), 0, 'a young temporary file survives the sweep');
  t.equal(await s.sweepTemporaries(0), 1, 'an old one is swept');
  t.notOk(existsSync(leftover));
  t.equal(new TextDecoder().decode(await s.get(key)), 'the whole segment', 'the object is untouched');
});

t.test('a put that fails before publishing leaves no temporary file behind', async (t) => {
  const root = t.testdir();
  const s = new LocalDeepStorage({ type: 'local', path: root });
  const bytes = new Uint8Array(100_000).fill(7);
  const sha = sha256Hex(bytes);
  const key = segmentKey('aborted', sha);
  const ac = new AbortController();
  const p = s.put(key, bytes, sha, { signal: ac.signal });
  ac.abort(new Error('stop'));
  await t.rejects(p, { message: 'stop' });
  t.equal(await s.stat(key), null, 'nothing under the key');
  const dir = join(root, 'segments', 'aborted');
  t.same(existsSync(dir) ? readdirSync(dir) : [], [], 'no temporary file');
});

t.test('racing writers of one key: exactly one publishes, the others see its content', async (t) => {
  const s = new LocalDeepStorage({ type: 'local', path: t.testdir() });
  const same = new Uint8Array(300_000).fill(1);
  const results = await Promise.all(Array.from({ length: 8 }, () => s.put('race/same', same, sha256Hex(same))));
  t.equal(results.filter((r) => r.written).length, 1, 'same content: one written, the others find it there');
  // Different content under one key (a bug upstream): link(2) is exclusive, so exactly one wins
  // and every other writer gets CONFLICT; nothing is ever replaced.
  const contents = Array.from({ length: 8 }, (_, i) => new Uint8Array(300_000).fill(10 + i));
  const outcomes = await Promise.all(contents.map((b) => s.put('race/different', b, sha256Hex(b)).then(
    (r) => (r.written ? 'written' : 'skipped'),
    (err: unknown) => (err instanceof Error && 'code' in err ? String(err.code) : String(err)),
  )));
  t.equal(outcomes.filter((o) => o === 'written').length, 1, 'one writer wins');
  t.equal(outcomes.filter((o) => o === 'CONFLICT').length, 7, 'the others are refused');
  const stored = sha256Hex(await s.get('race/different'));
  t.equal(stored, sha256Hex(contents[outcomes.indexOf('written')]!), 'the stored object is the winner\'s');
});

t.test('path traversal keys are refused and touch nothing outside the root', async (t) => {
  const base = t.testdir({ 'secret.txt': 'do not touch', store: {} });
  const root = join(base, 'store');
  const s = new LocalDeepStorage({ type: 'local', path: root });
  const bytes = new TextEncoder().encode('overwritten!');
  const sha = sha256Hex(bytes);
  for (const key of ['../secret.txt', 'a/../../secret.txt', `/${join(base, 'secret.txt')}`, join(base, 'secret.txt'), '..', 'a/b/../../../secret.txt']) {
    await expectCode(t, s.put(key, bytes, sha), 'INVALID', `put ${key}`);
    await expectCode(t, s.get(key), 'INVALID', `get ${key}`);
    await expectCode(t, s.delete(key), 'INVALID', `delete ${key}`);
    await expectCode(t, s.stat(key), 'INVALID', `stat ${key}`);
  }
  await expectCode(t, collect(s.list('../')), 'INVALID', 'list ../');
  t.equal(readFileSync(join(base, 'secret.txt'), 'utf8'), 'do not touch', 'the file outside the root is intact');
  t.same(readdirSync(root), [], 'nothing written in the root either');
});

t.test('a symlink inside the root is not followed out by list', async (t) => {
  const base = t.testdir({ outside: { 'x.arrow': 'outside' }, store: { segments: {} } });
  symlinkSync(join(base, 'outside'), join(base, 'store', 'segments', 'link'));
  const s = new LocalDeepStorage({ type: 'local', path: join(base, 'store') });
  t.same(await collect(s.list('')), [], 'symlinked directories are not walked');
});

t.test('an object and a key below it collide (a file system has no such keys)', async (t) => {
  const s = new LocalDeepStorage({ type: 'local', path: t.testdir() });
  const a = Uint8Array.of(1);
  await s.put('a', a, sha256Hex(a));
  await expectCode(t, s.put('a/b', a, sha256Hex(a)), 'CONFLICT', 'a key below an object');
  await expectCode(t, s.get('a/b'), 'NOT_FOUND', 'get below an object');
  t.equal(await s.stat('a/b'), null);
  await s.delete('a/b');
  t.pass('delete below an object is a no-op');
});

t.test('objects over objectBytesMax are refused', async (t) => {
  const s = new LocalDeepStorage({ type: 'local', path: t.testdir() }, { objectBytesMax: 10 });
  const big = new Uint8Array(11);
  await expectCode(t, s.put('big', big, sha256Hex(big)), 'INVALID', 'put');
  t.equal(await s.stat('big'), null);
  // One stored by someone else: get and download refuse it too, download leaving no file.
  const root = s.root;
  writeFileSync(join(root, 'big'), big);
  await expectCode(t, s.get('big'), 'INVALID', 'get');
  const out = join(root, 'out');
  mkdirSync(out);
  await expectCode(t, s.download('big', join(out, 'big')), 'INVALID', 'download');
  t.same(readdirSync(out), [], 'nothing left by the download');
});
