import t from 'tap';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from './checksum.js';
import { prng, randomBytes } from './contract.js';
import { CopyError, CopyThreads } from './copy-threads.js';

const rnd = prng(4242);

t.test('copies many files on at most threadsMax threads, in chunks, hashing as it goes', async (t) => {
  const dir = t.testdir();
  const copier = new CopyThreads(2, 4096);
  t.teardown(() => copier.close());
  // Sizes around the chunk size: empty, one byte, exactly one chunk, one more, several.
  const sizes = [0, 1, 4095, 4096, 4097, 3 * 4096 + 17, 200_000];
  const files = sizes.map((n, i) => {
    const bytes = randomBytes(rnd, n);
    writeFileSync(join(dir, `src-${i}`), bytes);
    return bytes;
  });
  const got = await Promise.all(files.map((_, i) => copier.copy(join(dir, `src-${i}`), join(dir, `dst-${i}`), 1 << 30)));
  t.ok(copier.threadCount <= 2, `${copier.threadCount} threads for ${files.length} copies`);
  t.same(got, files.map((b) => ({ size: b.length, sha256: sha256Hex(b) })), 'each answers its size and sha256');
  for (const [i, b] of files.entries()) t.equal(sha256Hex(readFileSync(join(dir, `dst-${i}`))), sha256Hex(b), `copy ${i} is identical`);
});

t.test('failures name their side and leave no destination behind', async (t) => {
  const dir = t.testdir();
  const copier = new CopyThreads(1, 4096);
  t.teardown(() => copier.close());
  const missing = await copier.copy(join(dir, 'nope'), join(dir, 'out'), 100).catch((e: unknown) => e);
  t.ok(missing instanceof CopyError && missing.side === 'src' && missing.code === 'ENOENT', 'a missing source: src ENOENT');
  writeFileSync(join(dir, 'big'), new Uint8Array(5000));
  const big = await copier.copy(join(dir, 'big'), join(dir, 'out'), 4999).catch((e: unknown) => e);
  t.ok(big instanceof CopyError && big.tooLarge, 'over the size bound: tooLarge');
  writeFileSync(join(dir, 'there'), 'mine');
  const exists = await copier.copy(join(dir, 'big'), join(dir, 'there'), 1 << 20).catch((e: unknown) => e);
  t.ok(exists instanceof CopyError && exists.side === 'dst' && exists.code === 'EEXIST', 'an existing destination: dst EEXIST');
  t.equal(readFileSync(join(dir, 'there'), 'utf8'), 'mine', 'which is left alone');
  mkdirSync(join(dir, 'sub'));
  const noDir = await copier.copy(join(dir, 'big'), join(dir, 'sub', 'missing', 'out'), 1 << 20).catch((e: unknown) => e);
  t.ok(noDir instanceof CopyError && noDir.side === 'dst' && noDir.code === 'ENOENT', 'a destination folder that does not exist: dst ENOENT');
  t.same(readdirSync(dir).sort(), ['big', 'sub', 'there'], 'no destination was left behind');
});

t.test('a stopped copy rejects with the reason and leaves nothing, wherever it was', async (t) => {
  const dir = t.testdir();
  const copier = new CopyThreads(1, 1 << 16);
  t.teardown(() => copier.close());
  writeFileSync(join(dir, 'src'), randomBytes(rnd, 8 << 20));
  // Stopped while waiting for the thread (behind another copy), and stopped as it starts: the
  // copy may be anywhere then (before its first chunk, between two, or done).
  const first = new AbortController();
  const second = new AbortController();
  const a = copier.copy(join(dir, 'src'), join(dir, 'a'), 1 << 30, first.signal).catch((e: unknown) => e);
  const b = copier.copy(join(dir, 'src'), join(dir, 'b'), 1 << 30, second.signal).catch((e: unknown) => e);
  const reason = new Error('no longer assigned');
  second.abort(reason);
  first.abort(reason);
  t.equal(await a, reason, 'the running copy rejects with the reason');
  t.equal(await b, reason, 'the waiting one too');
  t.same(readdirSync(dir), ['src'], 'nothing is left at either destination');
  t.same(await copier.copy(join(dir, 'src'), join(dir, 'c'), 1 << 30), { size: 8 << 20, sha256: sha256Hex(readFileSync(join(dir, 'src'))) }, 'the copier goes on');
});

t.test('a copy whose thread dies fails, leaves nothing, and the next copy gets a new thread', async (t) => {
  const dir = t.testdir();
  const copier = new CopyThreads(1, 4096);
  t.teardown(() => copier.close());
  writeFileSync(join(dir, 'src'), randomBytes(rnd, 64 * 1024));
  // close() terminates the thread under a copy in flight.
  const inFlight = copier.copy(join(dir, 'src'), join(dir, 'dst'), 1 << 20).catch((e: unknown) => e);
  await copier.close();
  const err = await inFlight;
  t.ok(err instanceof Error, `the copy in flight fails (${(err as Error).message})`);
  t.notOk(existsSync(join(dir, 'dst')), 'without leaving its destination');
  await t.rejects(copier.copy(join(dir, 'src'), join(dir, 'dst2'), 1 << 20), /closed/, 'a closed copier refuses new copies');

  const again = new CopyThreads(1, 4096);
  t.teardown(() => again.close());
  t.same(await again.copy(join(dir, 'src'), join(dir, 'dst3'), 1 << 20), { size: 64 * 1024, sha256: sha256Hex(readFileSync(join(dir, 'src'))) }, 'a new copier works');
});

t.test('a thread that dies before it created the destination leaves a file already there alone', async (t) => {
  const dir = t.testdir();
  const fifo = join(dir, 'src');
  if (spawnSync('mkfifo', [fifo]).status !== 0) {
    t.comment('mkfifo is not available: nothing to test here');
    return;
  }
  // Someone else's file at the destination: the thread would answer EEXIST if it got that far.
  writeFileSync(join(dir, 'dst'), 'not the copier\'s');
  const copier = new CopyThreads(1, 4096);
  // Opening the source (a FIFO without a writer) blocks the thread before it touches the
  // destination; close() terminates it there (or before it took the job at all).
  const inFlight = copier.copy(fifo, join(dir, 'dst'), 1 << 20).catch((e: unknown) => e);
  let closed = false;
  const closing = copier.close().then(() => (closed = true));
  // A thread blocked in open() only stops once the open returns: give the FIFO a writer.
  const deadline = Date.now() + 10_000;
  while (!closed && Date.now() < deadline) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: no reader (yet, or any more)
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await closing;
  t.ok((await inFlight) instanceof Error, 'the copy fails');
  t.equal(readFileSync(join(dir, 'dst'), 'utf8'), 'not the copier\'s', 'the file that was there is untouched');
});

/** Bytes of `path` in the page cache (util-linux fincore), or null where fincore is missing. */
function resident(path: string): number | null {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '-o', 'RES', path], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

const TMPFS_MAGIC = 0x01021994;

t.test('direct copies (O_DIRECT) are byte-identical at every size and bypass the page cache', async (t) => {
  const dir = t.testdir();
  const chunk = 1 << 16;
  const sizes = [0, 1, 4095, 4096, 4097, chunk - 1, chunk, chunk + 1, 3 * chunk + 17, 200_000, 1_000_001];
  const files = sizes.map((n, i) => {
    const bytes = randomBytes(rnd, n);
    writeFileSync(join(dir, `src-${i}`), bytes);
    return bytes;
  });
  const big = files.length - 1;
  let direct: number | null = null;
  for (const [label, copier] of [['direct, 64 KiB chunks', new CopyThreads(2, chunk, true)], ['direct, chunks not a whole number of blocks (copied the ordinary way)', new CopyThreads(2, 5000, true)]] as const) {
    t.teardown(() => copier.close());
    const tag = label.length;
    const got = await Promise.all(files.map((_, i) => copier.copy(join(dir, `src-${i}`), join(dir, `dst-${tag}-${i}`), 1 << 30)));
    // Before anything reads the copy back (which would bring it into the page cache).
    direct ??= resident(join(dir, `dst-${tag}-${big}`));
    t.same(got, files.map((b) => ({ size: b.length, sha256: sha256Hex(b) })), `${label}: each answers its size and sha256`);
    for (const [i, b] of files.entries()) {
      const copy = readFileSync(join(dir, `dst-${tag}-${i}`));
      t.ok(copy.length === b.length && copy.equals(b), `${label}: copy of ${b.length} bytes is identical (no padding left)`);
    }
  }
  // Where direct I/O is real (not tmpfs) and fincore can tell: a direct copy leaves the page
  // cache without the destination's pages, an ordinary one with them.
  if (direct === null || statfsSync(dir).type === TMPFS_MAGIC) {
    t.comment('fincore missing or a tmpfs folder: page cache not checked');
    return;
  }
  const plain = new CopyThreads(1, chunk, false);
  t.teardown(() => plain.close());
  await plain.copy(join(dir, `src-${big}`), join(dir, 'dst-plain'), 1 << 30);
  t.equal(direct, 0, 'the direct copy is not in the page cache');
  t.ok((resident(join(dir, 'dst-plain')) ?? 0) > 0, 'the ordinary copy is');
});

// Copies onto file systems that refuse O_DIRECT (ramfs, another file system than the source's)
// or run out of room (a 260 KiB tmpfs), in a private mount namespace so nothing outside the test
// sees the mounts. Needs unshare(1) and the right to mount (root); skipped otherwise.
const mountNamespace = spawnSync('unshare', ['-m', '--propagation', 'private', 'true']);
const noMountNamespace = mountNamespace.status === 0 ? false : `cannot make a mount namespace here (unshare: ${mountNamespace.stderr?.toString().trim() || mountNamespace.error?.message})`;

t.test('copies onto a file system without O_DIRECT or onto another one succeed, and onto a full one fail cleanly', { skip: noMountNamespace }, async (t) => {
  const dir = t.testdir();
  const ram = join(dir, 'ram');
  const small = join(dir, 'small');
  mkdirSync(ram);
  mkdirSync(small);
  const src = join(dir, 'src');
  const bytes = randomBytes(rnd, 300_000);
  writeFileSync(src, bytes);
  const script = join(dir, 'copy.mjs');
  const module = new URL('./copy-threads.ts', import.meta.url).pathname;
  writeFileSync(script, `
    import { readFileSync, existsSync } from 'node:fs';
    import { createHash } from 'node:crypto';
    const { CopyThreads } = await import(${JSON.stringify(module)});
    const c = new CopyThreads(1, 1 << 16, true);
    const out = {};
    const ramDst = ${JSON.stringify(join(ram, 'dst'))};
    out.ram = await c.copy(${JSON.stringify(src)}, ramDst, 1 << 30).catch((e) => ({ error: e.message, code: e.code, side: e.side }));
    out.ramFileSha = existsSync(ramDst) ? createHash('sha256').update(readFileSync(ramDst)).digest('hex') : null;
    const fullDst = ${JSON.stringify(join(small, 'dst'))};
    out.full = await c.copy(${JSON.stringify(src)}, fullDst, 1 << 30).catch((e) => ({ error: e.message, code: e.code, side: e.side }));
    out.fullLeft = existsSync(fullDst);
    await c.close();
    // The default copier (no O_DIRECT) onto the same two file systems.
    const plain = new CopyThreads(1, 1 << 16);
    const ramPlainDst = ${JSON.stringify(join(ram, 'dst-plain'))};
    out.ramPlain = await plain.copy(${JSON.stringify(src)}, ramPlainDst, 1 << 30).catch((e) => ({ error: e.message, code: e.code, side: e.side }));
    out.ramPlainFileSha = existsSync(ramPlainDst) ? createHash('sha256').update(readFileSync(ramPlainDst)).digest('hex') : null;
    const fullPlainDst = ${JSON.stringify(join(small, 'dst-plain'))};
    out.fullPlain = await plain.copy(${JSON.stringify(src)}, fullPlainDst, 1 << 30).catch((e) => ({ error: e.message, code: e.code, side: e.side }));
    out.fullPlainLeft = existsSync(fullPlainDst);
    await plain.close();
    console.log(JSON.stringify(out));
  `);
  const tsx = new URL('../../../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
    `mount -t ramfs ramfs '${ram}' && mount -t tmpfs -o size=266240 tmpfs '${small}' && exec '${process.execPath}' --import '${tsx}' '${script}'`], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, `the copies ran (${r.stderr.trim().slice(0, 300)})`);
  type Outcome = { size?: number; sha256?: string; error?: string; code?: string; side?: string };
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { ram: Outcome; ramFileSha: string | null; full: Outcome; fullLeft: boolean; ramPlain: Outcome; ramPlainFileSha: string | null; fullPlain: Outcome; fullPlainLeft: boolean };
  const sha = sha256Hex(bytes);
  t.same(out.ram, { size: bytes.length, sha256: sha }, 'onto ramfs (no O_DIRECT): the copy succeeds the ordinary way');
  t.equal(out.ramFileSha, sha, 'and the file there is the source');
  t.equal(out.full.code, 'ENOSPC', `onto a full tmpfs: ENOSPC (${out.full.error})`);
  t.equal(out.full.side, 'dst', 'on the destination side');
  t.notOk(out.fullLeft, 'and nothing is left there');
  t.same(out.ramPlain, { size: bytes.length, sha256: sha }, 'the default copier onto ramfs (another file system): the copy succeeds');
  t.equal(out.ramPlainFileSha, sha, 'and the file there is the source');
  t.equal(out.fullPlain.code, 'ENOSPC', `the default copier onto a full tmpfs: ENOSPC (${out.fullPlain.error})`);
  t.equal(out.fullPlain.side, 'dst', 'on the destination side');
  t.notOk(out.fullPlainLeft, 'and nothing is left there');
});
