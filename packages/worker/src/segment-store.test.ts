/**
 * The worker's load path against a real local deep storage: a segment is served only once its
 * bytes matched the catalog's checksum, whatever deep storage or the cache hands back (a corrupt
 * or truncated object, a cache file torn or rotten after the load).
 */
import t, { type Test } from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatInstant } from '@cairn/shared';
import { LocalDeepStorage, segmentKey, sha256Hex } from '@cairn/shared/deep-storage';
import type { DeepStorage } from '@cairn/shared/deep-storage';
import { writeSegment } from '@cairn/shared/segment';
import { SegmentCache } from './segment-cache.js';
import type { AssignedSegment } from './segment-cache.js';
import { DECODED_BYTES_PER_FILE_BYTE, FRESH_VERIFIED_MS, SegmentStore } from './segment-store.js';
import { invertedIndex, invertedIndexBytesHeld, releaseInvertedIndexes } from './engine/inverted-index.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);

/** A test folder with a local deep storage and a worker cache in it. */
function folders(t: Test) {
  const root = t.testdir();
  return { root, deep: new LocalDeepStorage({ type: 'local', path: join(root, 'deep') }), cache: new SegmentCache(join(root, 'cache'), 1 << 30) };
}

/** A small real segment for hour `index`, stored in `deep`; its catalog entry. */
async function segment(deep: DeepStorage, index: number, rows = 500): Promise<{ assigned: AssignedSegment; bytes: Uint8Array }> {
  const start = T0 + index * HOUR;
  const time = new Float64Array(rows).map((_, i) => start + Math.floor((i * HOUR) / rows));
  const w = writeSegment({
    dataSource: 'events', start, end: start + HOUR, version: formatInstant(T0), partition: 0, partitions: 1, rollup: false, queryGranularity: 'none',
    time,
    dimensions: [{ name: 'page', codes: new Int32Array(rows).map((_, i) => i % 3), dictionary: ['a', 'b', 'c'], hasNulls: false }],
    metrics: [{ name: 'value', type: 'long', values: new Float64Array(rows).map((_, i) => i + index), hasNulls: false, spec: { name: 'value', type: 'longSum', fieldName: 'value' } }],
  });
  const location = segmentKey('events', w.checksum);
  await deep.put(location, w.bytes, w.checksum);
  return { assigned: { id: w.id, dataSource: 'events', location, checksum: w.checksum, size: w.bytes.length }, bytes: w.bytes };
}

/** Resolves at the store's next onLoaded / onDrained / onError (events, not sleeps). */
function events() {
  const loaded: string[] = [];
  const errors: string[] = [];
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  return {
    loaded,
    errors,
    handlers: {
      onLoaded: (id: string) => { loaded.push(id); notify(); },
      onDrained: () => notify(),
      onError: (_id: string, err: Error) => { errors.push(err.message); notify(); },
    },
    async until(what: string, ok: () => boolean): Promise<void> {
      const deadline = Date.now() + 20_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((r) => {
          wake = r;
          // Also wake on a retry's timer firing: a bounded poll, not a sleep standing in for an event.
          setTimeout(r, 50);
        });
      }
    },
  };
}

t.test('SegmentCache.download: verified bytes are renamed into place; anything else leaves nothing', async (t) => {
  const { deep, cache } = folders(t);
  const good = await segment(deep, 0);
  t.equal(await cache.download(good.assigned, deep), good.bytes.length, 'answers the bytes downloaded');
  t.ok(cache.has(good.assigned), 'the cache has it');
  t.same(new Uint8Array(await cache.read(good.assigned)), good.bytes, 'byte for byte');
  t.same(readdirSync(cache.dir), [`${good.assigned.checksum}.arrow`], 'one file, named by its checksum, no temporary left');
  t.equal(cache.usedBytes, good.bytes.length);

  // Deep storage holds other bytes under the key than the catalog's checksum says (bit rot in
  // the store), then a truncated copy (a partial upload by some other tool).
  const other = await segment(deep, 1);
  const objectPath = join(deep.root, other.assigned.location);
  const flipped = other.bytes.slice();
  flipped[flipped.length >> 1] ^= 0x40;
  writeFileSync(objectPath, flipped);
  await t.rejects(cache.download(other.assigned, deep), /checksum/, 'a corrupt object is refused');
  writeFileSync(objectPath, other.bytes.subarray(0, other.bytes.length - 100));
  await t.rejects(cache.download(other.assigned, deep), /bytes/, 'a truncated object is refused');
  await t.rejects(cache.download({ ...other.assigned, location: segmentKey('events', 'f'.repeat(64)) }, deep), { code: 'NOT_FOUND' }, 'a missing object is an error');
  t.notOk(cache.has(other.assigned), 'none of them counts as cached');
  t.same(readdirSync(cache.dir), [`${good.assigned.checksum}.arrow`], 'and none left a file');
  t.equal(cache.usedBytes, good.bytes.length, 'nor any bytes');
});

t.test('SegmentStore: a corrupt download is retried until deep storage serves the right bytes; a rotten cache file is refused at decode and fetched again', async (t) => {
  const { deep, cache } = folders(t);
  const ev = events();
  let clock = 0;
  const store = new SegmentStore(cache, deep, { loadConcurrencyMax: 2, decodedBytesMax: 1 << 30 }, ev.handlers, () => clock);
  const segs = await Promise.all([0, 1, 2].map((i) => segment(deep, i)));
  const bad = segs[1]!;
  const objectPath = join(deep.root, bad.assigned.location);
  const flipped = bad.bytes.slice();
  flipped[100] ^= 0x01;
  writeFileSync(objectPath, flipped);

  store.reconcile(segs.map((s) => s.assigned));
  await ev.until('the two good segments to load and the bad one to fail', () => ev.loaded.length === 2 && ev.errors.length >= 1);
  t.match(ev.errors[0], /checksum/, 'the corrupt download failed its checksum');
  t.notOk(store.isLoaded(bad.assigned.id), 'the corrupt segment is not loaded');
  t.equal(await store.get(bad.assigned.id), null, 'nor served');

  writeFileSync(objectPath, bad.bytes); // deep storage repaired
  await ev.until('the retry to load it', () => store.isLoaded(bad.assigned.id));
  t.same(ev.loaded.sort(), segs.map((s) => s.assigned.id).sort(), 'all three loaded, the bad one on a retry');
  const served = await store.get(bad.assigned.id);
  t.equal(served?.rowCount, 500, 'and served');

  // Bit rot in the cache after the load (past the window in which a fresh download's first decode
  // trusts the download's check): the decode refuses it, the file goes, and it is fetched anew.
  clock += FRESH_VERIFIED_MS + 1;
  const victim = segs[2]!;
  const cached = cache.path(victim.assigned.checksum);
  const rotten = readFileSync(cached);
  rotten[rotten.length - 10] ^= 0x08;
  writeFileSync(cached, rotten);
  const loadsBefore = store.loadsDone;
  t.equal(await store.get(victim.assigned.id), null, 'a rotten cache file is not served');
  t.ok(ev.errors.some((e) => /checksum/.test(e)), 'and reported');
  await ev.until('the rotten file to be fetched again', () => store.loadsDone > loadsBefore && store.isLoaded(victim.assigned.id));
  t.equal((await store.get(victim.assigned.id))?.rowCount, 500, 'the fresh copy is served');
  t.same(readdirSync(cache.dir).sort(), segs.map((s) => `${s.assigned.checksum}.arrow`).sort(), 'exactly the three verified files in the cache');
});

t.test('SegmentStore: onProgress each time the queue halves from its high point, onDrained when it empties', async (t) => {
  const root = t.testdir();
  const cache = new SegmentCache(join(root, 'cache'), 1 << 30);
  // Deep storage whose downloads finish one by one, when the test says: the order is deterministic.
  const gates: (() => void)[] = [];
  const deep: Pick<DeepStorage, 'download'> = {
    download: async (key, path) => {
      await new Promise<void>((r) => gates.push(r));
      const bytes = new TextEncoder().encode(key);
      writeFileSync(path, bytes);
      return { size: bytes.length, sha256: sha256Hex(bytes) };
    },
  };
  const calls: string[] = [];
  const store = new SegmentStore(cache, deep as DeepStorage, { loadConcurrencyMax: 1, decodedBytesMax: 1 << 20 }, {
    onProgress: () => calls.push(`progress at ${store.queueLength}`),
    onDrained: () => calls.push('drained'),
  });
  const fake = (i: number): AssignedSegment => {
    const location = `k/${i}`;
    const bytes = new TextEncoder().encode(location);
    return { id: `s${i}`, dataSource: 'events', location, checksum: sha256Hex(bytes), size: bytes.length };
  };
  /** Lets the one load in flight finish and the store react. */
  const finishOne = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
    const before = store.loadsDone;
    while (store.loadsDone === before) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  const first = Array.from({ length: 10 }, (_, i) => fake(i));
  store.reconcile(first);
  t.equal(store.queueLength, 10);
  for (let i = 0; i < 5; i++) await finishOne();
  t.same(calls, ['progress at 5'], 'half of 10 left: one progress call');
  // A refill (the coordinator heard): the high point is the new queue, 5 + 7 = 12.
  store.reconcile([...first, ...Array.from({ length: 7 }, (_, i) => fake(10 + i))]);
  t.equal(store.queueLength, 12);
  for (let i = 0; i < 12; i++) await finishOne();
  t.same(calls, ['progress at 5', 'progress at 6', 'progress at 3', 'progress at 1', 'drained'], 'then at 6, 3 and 1 left, and drained at 0');
  t.equal(store.loadedIds().length, 17, 'all loaded');
});

t.test('SegmentStore: the first decode of a file this process just downloaded and verified does not hash it again; every other decode does', async (t) => {
  const { root, deep, cache } = folders(t);
  const ev = events();
  let clock = 0;
  // Decoded segments are not kept (a bound of one byte), so every get decodes the file again.
  const store = new SegmentStore(cache, deep, { loadConcurrencyMax: 2, decodedBytesMax: 1 }, ev.handlers, () => clock);
  const [a, b] = await Promise.all([0, 1].map((i) => segment(deep, i)));
  store.reconcile([a!.assigned, b!.assigned]);
  await ev.until('both to load', () => store.isLoaded(a!.assigned.id) && store.isLoaded(b!.assigned.id));

  t.equal((await store.get(a!.assigned.id))?.rowCount, 500, 'a fresh download is served');
  t.equal(store.decodesUnhashed, 1, 'its first decode trusted the download\'s check');
  t.equal((await store.get(a!.assigned.id))?.rowCount, 500);
  t.equal(store.decodesUnhashed, 1, 'its second decode hashed it');

  clock += FRESH_VERIFIED_MS + 1;
  const rotten = readFileSync(cache.path(b!.assigned.checksum));
  rotten[rotten.length - 10] ^= 0x08;
  writeFileSync(cache.path(b!.assigned.checksum), rotten);
  t.equal(await store.get(b!.assigned.id), null, 'a first decode later than the window hashes, and refuses a rotten file');
  t.equal(store.decodesUnhashed, 1);

  // A restart: the files found in the cache were not verified by this process.
  const again = new SegmentCache(join(root, 'cache'), 1 << 30);
  again.scan();
  const restarted = new SegmentStore(again, deep, { loadConcurrencyMax: 2, decodedBytesMax: 1 }, {}, () => clock);
  restarted.reconcile([a!.assigned]);
  t.equal((await restarted.get(a!.assigned.id))?.rowCount, 500, 'a cached file is served after a restart');
  t.equal(restarted.decodesUnhashed, 0, 'after hashing it');
});

t.test('SegmentStore: a segment leaving the decoded cache gives back its inverted indexes at once', async (t) => {
  const { deep, cache } = folders(t);
  const ev = events();
  // Room for one decoded segment: decoding the second evicts the first.
  const [a, b] = await Promise.all([0, 1].map((i) => segment(deep, i)));
  const store = new SegmentStore(cache, deep, { loadConcurrencyMax: 2, decodedBytesMax: a!.assigned.size * DECODED_BYTES_PER_FILE_BYTE }, ev.handlers);
  store.reconcile([a!.assigned, b!.assigned]);
  await ev.until('both to load', () => store.isLoaded(a!.assigned.id) && store.isLoaded(b!.assigned.id));
  releaseInvertedIndexes();
  const first = (await store.get(a!.assigned.id))!;
  const page = first.dimensions.get('page')!;
  t.ok(invertedIndex(page.codes, page.dictionary.length), 'a filter built the index of a');
  const held = invertedIndexBytesHeld();
  t.ok(held > 0);
  await store.get(b!.assigned.id);
  t.equal(invertedIndexBytesHeld(), 0, 'evicting a released its index');
  const again = (await store.get(a!.assigned.id))!;
  const p2 = again.dimensions.get('page')!;
  invertedIndex(p2.codes, p2.dictionary.length);
  t.equal(invertedIndexBytesHeld(), held);
  store.reconcile([b!.assigned]);
  t.equal(invertedIndexBytesHeld(), 0, 'an unassigned segment released its index');
});

t.test('SegmentStore: a download that ends after its segment left keeps no file; loads in flight count against the capacity; a load without room is tried again once there is room', async (t) => {
  const root = t.testdir();
  // Room for two of the 10-byte fakes below.
  const cache = new SegmentCache(join(root, 'cache'), 25);
  const gates = new Map<string, () => void>();
  const deep: Pick<DeepStorage, 'download'> = {
    download: async (key, path) => {
      await new Promise<void>((r) => gates.set(key, r));
      gates.delete(key);
      const bytes = new TextEncoder().encode(key);
      writeFileSync(path, bytes);
      return { size: bytes.length, sha256: sha256Hex(bytes) };
    },
  };
  const ev = events();
  const store = new SegmentStore(cache, deep as DeepStorage, { loadConcurrencyMax: 4, decodedBytesMax: 1 << 20 }, ev.handlers);
  const fake = (name: string): AssignedSegment => {
    const location = `fake/${name}`.padEnd(10, '.');
    const bytes = new TextEncoder().encode(location);
    return { id: name, dataSource: 'events', location, checksum: sha256Hex(bytes), size: bytes.length };
  };
  const [a, b, c] = [fake('a'), fake('b'), fake('c')];
  const release = async (s: AssignedSegment) => {
    await ev.until(`${s.id}'s download to start`, () => gates.has(s.location));
    gates.get(s.location)!();
  };

  store.reconcile([a, b, c]);
  await ev.until('two downloads to start', () => gates.size === 2);
  t.same([...gates.keys()].sort(), [a.location, b.location], 'two loads fit with the third counted in flight: c waits, not three at once');
  t.match(ev.errors.join('\n'), /no room in the cache for 10 bytes .*20 being downloaded/, 'c is told there is no room yet');

  // a leaves while it downloads; b lands.
  store.reconcile([b, c]);
  await release(a);
  await release(b);
  await ev.until('b loaded', () => ev.loaded.includes('b'));
  const files = () => readdirSync(join(root, 'cache')).filter((f) => f.endsWith('.arrow'));
  await ev.until('a\'s late file to go', () => !cache.has(a) && !files().includes(`${a.checksum}.arrow`));
  t.notOk(ev.loaded.includes('a'), 'a, unassigned mid-download, is not reported loaded');
  t.same(files(), [`${b.checksum}.arrow`], 'only b\'s file is in the cache');

  // Room is back (a's file went): c is tried again and loads.
  await release(c);
  await ev.until('c loaded', () => ev.loaded.includes('c'));
  t.same(store.loadedIds().sort(), ['b', 'c'], 'b and c are loaded');
  t.ok(cache.usedBytes <= 25, `the cache stays within its capacity (${cache.usedBytes} of 25 bytes)`);
});
