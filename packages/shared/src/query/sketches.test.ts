/**
 * HyperLogLog and quantile sketch accuracy. Seeded data (the seed is printed); errors are
 * checked against the documented bounds.
 */
import t from 'tap';
import { decodeBase64, encodeBase64 } from './base64.js';
import { murmur3Utf8 } from './hash.js';
import { HLL_REGISTERS, hllAdd, hllEstimate, hllFromJSON, hllMergeInto, hllNew, hllToJSON } from './hll.js';
import { QuantileSketch } from './quantiles.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('MurmurHash3 x86_32 of UTF-8 matches the reference vectors', async (t) => {
  t.equal(murmur3Utf8('', 0), 0);
  t.equal(murmur3Utf8('', 1), 0x514e28b7);
  t.equal(murmur3Utf8('hello', 0), 0x248bfa47);
  t.equal(murmur3Utf8('The quick brown fox jumps over the lazy dog', 0), 0x2e4ff723);
  // UTF-8: 'é' is C3 A9, '中' E4 B8 AD, '😀' F0 9F 98 80; compare with hashing the bytes directly.
  const bytesHash = (bytes: number[], seed: number) => {
    let h = seed;
    const mix = (k: number) => {
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      return Math.imul(k, 0x1b873593);
    };
    let i = 0;
    for (; i + 4 <= bytes.length; i += 4) {
      h ^= mix(bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    let k = 0;
    for (let j = 0; i + j < bytes.length; j++) k |= bytes[i + j]! << (8 * j);
    if (bytes.length % 4) h ^= mix(k);
    h ^= bytes.length;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  };
  t.equal(murmur3Utf8('hello', 0), bytesHash([...'hello'].map((c) => c.charCodeAt(0)), 0), 'the byte-wise reference agrees');
  t.equal(murmur3Utf8('é中😀x', 7), bytesHash([0xc3, 0xa9, 0xe4, 0xb8, 0xad, 0xf0, 0x9f, 0x98, 0x80, 0x78], 7));
  t.equal(murmur3Utf8('\ud800', 3), bytesHash([0xef, 0xbf, 0xbd], 3), 'a lone surrogate hashes as U+FFFD');
  t.not(murmur3Utf8('a', 0), murmur3Utf8('b', 0));
});

t.test('base64 round-trips', async (t) => {
  const r = rng(1);
  for (const n of [0, 1, 2, 3, 4, 5, 100, 2048]) {
    const bytes = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    const text = encodeBase64(bytes);
    t.same(decodeBase64(text), bytes, `${n} bytes`);
    if (n > 0) t.equal(text, Buffer.from(bytes).toString('base64'));
  }
  t.throws(() => decodeBase64('abc'), TypeError);
  t.throws(() => decodeBase64('ab!='), TypeError);
});

t.test('HyperLogLog estimates within a few percent (2048 registers: 2.3% standard error)', async (t) => {
  const seed = 20240310;
  t.comment(`seed ${seed}`);
  const r = rng(seed);
  const errors: number[] = [];
  for (const n of [0, 1, 10, 100, 1_000, 5_000, 10_000, 50_000, 200_000]) {
    const regs = hllNew();
    const salt = Math.floor(r() * 1e9);
    for (let i = 0; i < n; i++) hllAdd(regs, `user-${salt}-${i}`);
    // Duplicates do not count.
    for (let i = 0; i < Math.min(n, 1000); i++) hllAdd(regs, `user-${salt}-${i}`);
    const est = hllEstimate(regs);
    if (n === 0) {
      t.equal(est, 0);
      continue;
    }
    const err = Math.abs(est - n) / n;
    errors.push(err);
    t.ok(err < 0.07, `n=${n}: estimate ${est.toFixed(1)}, error ${(err * 100).toFixed(2)}% < 7% (3 sigma)`);
  }
  const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
  t.ok(mean < 0.025, `mean error ${(mean * 100).toFixed(2)}% < 2.5%`);
});

t.test('HyperLogLog merges as a union and its state survives JSON', async (t) => {
  const a = hllNew();
  const b = hllNew();
  for (let i = 0; i < 30_000; i++) hllAdd(a, `k${i}`);
  for (let i = 20_000; i < 50_000; i++) hllAdd(b, `k${i}`);
  const u = hllNew();
  for (let i = 0; i < 50_000; i++) hllAdd(u, `k${i}`);
  const m = hllFromJSON(hllToJSON(a));
  hllMergeInto(m, hllFromJSON(JSON.parse(JSON.stringify(hllToJSON(b)))));
  t.same(m, u, 'merging registers equals adding everything to one sketch');
  const small = hllNew();
  for (let i = 0; i < 50; i++) hllAdd(small, `s${i}`);
  const text = hllToJSON(small);
  t.equal(text[0], 'S', 'few registers set: sparse');
  t.ok(text.length < 300);
  t.same(hllFromJSON(text), small);
  t.equal(hllToJSON(u)[0], 'D', 'many registers set: dense');
  t.equal(hllToJSON(hllNew()), '');
  t.equal(hllFromJSON('').length, HLL_REGISTERS);
  t.throws(() => hllFromJSON('Xabc'), TypeError);
  t.throws(() => hllFromJSON(42), TypeError);
});

function rankOf(sorted: Float64Array, v: number): [number, number] {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  let hi2 = lo;
  while (hi2 < sorted.length && sorted[hi2] === v) hi2++;
  return [lo / sorted.length, hi2 / sorted.length];
}

t.test('the quantile sketch is exact up to 2k values', async (t) => {
  const s = new QuantileSketch(8);
  const values = [5, 1, 4, 2, 3, NaN, 9, 8, 7, 6];
  for (const v of values) s.update(v);
  t.equal(s.n, 9, 'NaN (null) is ignored');
  t.same(s.quantiles([0, 0.5, 1]), [1, 5, 9]);
  t.same(new QuantileSketch(8).quantiles([0.5]), [NaN]);
  t.throws(() => new QuantileSketch(100), TypeError);
});

t.test('quantile rank error stays within about 1.7% for k = 128, across merges', async (t) => {
  const seed = 77;
  t.comment(`seed ${seed}`);
  const r = rng(seed);
  const distributions: [string, () => number][] = [
    ['uniform', () => r() * 1000],
    ['exponential', () => -Math.log(1 - r()) * 50],
    ['lognormal', () => Math.exp(3 + 1.5 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()))],
    ['discrete', () => Math.floor(r() * 20)],
  ];
  let worst = 0;
  for (const [name, draw] of distributions) {
    const n = 200_000;
    const parts = 1 + Math.floor(r() * 20);
    const sketches = Array.from({ length: parts }, () => new QuantileSketch(128));
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = draw();
      sketches[Math.floor(r() * parts)]!.update(data[i]!);
    }
    const merged = QuantileSketch.fromJSON(JSON.parse(JSON.stringify(sketches[0]!.toJSON())));
    for (const s of sketches.slice(1)) merged.merge(QuantileSketch.fromJSON(JSON.parse(JSON.stringify(s.toJSON()))));
    t.equal(merged.n, n, `${name}: n`);
    const sorted = data.slice().sort();
    for (const f of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
      const v = merged.quantile(f);
      const [lo, hi] = rankOf(sorted, v);
      const err = f < lo ? lo - f : f > hi ? f - hi : 0;
      worst = Math.max(worst, err);
    }
    t.equal(merged.quantile(0), sorted[0]);
    t.equal(merged.quantile(1), sorted[n - 1]);
    t.ok(JSON.stringify(merged.toJSON()).length < 40_000, `${name}: the state stays small (${JSON.stringify(merged.toJSON()).length} chars)`);
  }
  t.ok(worst <= 0.02, `worst rank error ${(worst * 100).toFixed(2)}% <= 2%`);
});

t.test('malformed sketch states are rejected', async (t) => {
  const s = new QuantileSketch(4);
  for (let i = 0; i < 50; i++) s.update(i);
  const json = s.toJSON();
  t.throws(() => QuantileSketch.fromJSON({ ...json, n: json.n + 1 }), /n is/);
  t.throws(() => QuantileSketch.fromJSON({ ...json, levels: [[1, 2]] }), /level size/);
  t.throws(() => QuantileSketch.fromJSON(null), TypeError);
  t.throws(() => new QuantileSketch(4).merge(new QuantileSketch(8)), /cannot merge/);
});
