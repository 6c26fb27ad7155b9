import t from 'tap';
import { arrayColumns, incompleteFlags, isOvershadowed, overshadowedFlags, overshadowedIds, visibleParts, visibleSegments, type TimelineSegment } from './timeline.js';

/** A tiny seeded generator (mulberry32), so that every run is replayable from the printed seed. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

let nextId = 0;
function seg(start: number, end: number, version: string, partition = 0, partitions = 1, used = true): TimelineSegment {
  return { id: `s${nextId++}`, start, end, version, partition, partitions, used };
}

/** The definition, instant by instant, on small integer timelines. */
function naiveOvershadowed(segments: readonly TimelineSegment[]): Set<string> {
  const complete = (s: TimelineSegment): boolean => {
    const group = segments.filter((x) => x.used && x.start === s.start && x.end === s.end && x.version === s.version);
    const required = Math.max(0, ...group.map((x) => x.partitions));
    return required > 0 && new Set(group.filter((x) => x.partition < required).map((x) => x.partition)).size === required;
  };
  const out = new Set<string>();
  for (const s of segments) {
    let covered = s.end > s.start;
    for (let x = s.start; x < s.end && covered; x++) {
      covered = segments.some((o) => o.version > s.version && o.start <= x && x < o.end && complete(o));
    }
    if (covered) out.add(s.id);
  }
  return out;
}

t.test('a complete higher version overshadows', async (t) => {
  const v1 = seg(0, 10, 'v1');
  const v2 = seg(0, 10, 'v2');
  t.same(visibleSegments([v1, v2]), [v2]);
  t.ok(isOvershadowed(v1, [v1, v2]));
  t.notOk(isOvershadowed(v2, [v1, v2]));
});

t.test('an incomplete higher version hides nothing, and is not read itself (as in Druid)', async (t) => {
  const v1 = seg(0, 10, 'v1');
  const v2a = seg(0, 10, 'v2', 0, 2);
  t.same(visibleSegments([v1, v2a]), [v1], 'reading v2a too would count its rows beside v1\'s');
  t.same(visibleParts([v1, v2a]), [[{ start: 0, end: 10 }], []]);
  const v2b = seg(0, 10, 'v2', 1, 2);
  t.same(visibleSegments([v1, v2a, v2b]), [v2a, v2b], 'complete once partition 1 arrives');
  const v2bUnused = { ...v2b, used: false };
  t.same(visibleSegments([v1, v2a, v2bUnused]), [v1], 'an unused partition makes the group incomplete again');
  t.same(visibleSegments([v2a]), [], 'a first version published in part is not read either');
  t.same([...incompleteFlags(arrayColumns({ start: [0, 0, 0], end: [10, 10, 10], version: ['v1', 'v2', 'v2'], partition: [0, 0, 1], partitions: [1, 2, 2], used: [1, 1, 0] }), [0, 1, 2])], [0, 1, 0], 'flags: the used segment of the incomplete group only');
});

t.test('versions compare as strings', async (t) => {
  const a = seg(0, 10, '2020-01-02T00:00:00.000Z');
  const b = seg(0, 10, '2020-01-10T00:00:00.000Z');
  const c = seg(0, 10, '10');
  const d = seg(0, 10, '9');
  t.same(visibleSegments([b, a]), [b]);
  t.same(visibleSegments([c, d]), [d], '"9" > "10" lexicographically, as in Druid');
});

t.test('coverage may come from several higher groups; partial coverage keeps a segment visible', async (t) => {
  const day = seg(0, 24, 'v1');
  const am = seg(0, 12, 'v2');
  const pm = seg(12, 24, 'v3');
  t.same(visibleSegments([day, am, pm]), [am, pm], 'v2 and v3 together cover v1');
  t.same(visibleSegments([day, am]), [day, am], 'half covered: still visible');
  const hourGap = seg(13, 24, 'v3');
  t.same(visibleSegments([day, am, hourGap]), [day, am, hourGap], 'a one-hour hole keeps v1 visible');
  t.same(visibleSegments([seg(0, 12, 'v1'), seg(0, 24, 'v1')]).length, 2, 'the same version never overshadows');
});

t.test('unused segments are flagged but not visible; they never overshadow', async (t) => {
  const v1 = seg(0, 10, 'v1', 0, 1, false);
  const v2 = seg(0, 10, 'v2');
  t.same([...overshadowedIds([v1, v2])], [v1.id]);
  t.same(visibleSegments([v1, v2]), [v2]);
  const v3 = seg(0, 10, 'v3', 0, 1, false);
  t.same(visibleSegments([v2, v3]), [v2]);
});

t.test('unsorted input with starts far apart (the rank fallback of the sort)', async (t) => {
  const far = 2 ** 52;
  const segments = [seg(far, far + 10, 'v2'), seg(1, 2, 'v1'), seg(far, far + 10, 'v1'), seg(0, 3, 'v2'), seg(0, 1, 'v1', 1, 2), seg(3, 4, 'v0')];
  t.same(
    visibleSegments(segments).map((s) => s.id),
    [segments[0]!.id, segments[3]!.id, segments[5]!.id],
  );
});

t.test('datasources are kept apart', async (t) => {
  const a = { ...seg(0, 10, 'v1'), dataSource: 'a' };
  const b = { ...seg(0, 10, 'v2'), dataSource: 'b' };
  t.same(visibleSegments([a, b]), [a, b]);
});

/**
 * Up to 14 segments on a small grid, some of them unused; with `twoDatasources`, about one in
 * five goes to datasource b (one more draw per segment).
 */
function randomTimeline(rnd: (n: number) => number, twoDatasources: boolean): TimelineSegment[] {
  const segments: TimelineSegment[] = [];
  const count = 1 + rnd(14);
  for (let i = 0; i < count; i++) {
    const start = rnd(12);
    const end = start + 1 + rnd(6);
    const partitions = 1 + rnd(3);
    const version = `v${rnd(4)}`;
    const partition = rnd(partitions + 1) % partitions;
    const dataSource = twoDatasources && rnd(5) === 0 ? 'b' : 'a';
    if (segments.some((s) => s.dataSource === dataSource && s.start === start && s.end === end && s.version === version && s.partition === partition)) continue;
    segments.push({ ...seg(start, end, version, partition, partitions, rnd(6) !== 0), dataSource });
  }
  return segments;
}

t.test('agrees with the instant-by-instant definition on random timelines', async (t) => {
  const seed = 20240601;
  t.comment(`seed ${seed}`);
  const rnd = prng(seed);
  for (let round = 0; round < 1500; round++) {
    const segments = randomTimeline(rnd, false);
    const got = [...overshadowedIds(segments)].sort();
    const want = [...naiveOvershadowed(segments)].sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.fail(`round ${round}: got ${got} want ${want}: ${JSON.stringify(segments)}`);
      return;
    }
  }
  t.pass('1500 random timelines');
});

/** visibleParts by the definition: the instants of each segment no complete higher group covers, as runs. */
function naiveVisibleParts(segments: readonly TimelineSegment[]): { start: number; end: number }[][] {
  const complete = (s: TimelineSegment): boolean => {
    const group = segments.filter((x) => x.used && x.start === s.start && x.end === s.end && x.version === s.version && x.dataSource === s.dataSource);
    const required = Math.max(0, ...group.map((x) => x.partitions));
    return required > 0 && new Set(group.filter((x) => x.partition < required).map((x) => x.partition)).size === required;
  };
  return segments.map((s) => {
    const parts: { start: number; end: number }[] = [];
    if (!s.used || !complete(s)) return parts; // an incomplete group is not read at all
    for (let x = s.start; x < s.end; x++) {
      const covered = segments.some((o) => o.dataSource === s.dataSource && o.version > s.version && o.start <= x && x < o.end && complete(o));
      if (covered) continue;
      const last = parts[parts.length - 1];
      if (last && last.end === x) last.end = x + 1;
      else parts.push({ start: x, end: x + 1 });
    }
    return parts;
  });
}

t.test('visibleParts: what a query reads of each segment', async (t) => {
  const iv = (start: number, end: number) => ({ start, end });
  const day = seg(0, 24, 'v1');
  const hour = seg(3, 4, 'v2');
  t.same(visibleParts([day, hour]), [[iv(0, 3), iv(4, 24)], [iv(3, 4)]], 'nested: the day loses the newer hour');
  t.same(visibleParts([day, seg(20, 30, 'v2')])[0], [iv(0, 20)], 'overlapping its end');
  t.same(visibleParts([day, seg(-5, 2, 'v2')])[0], [iv(2, 24)], 'overlapping its start');
  t.same(visibleParts([day, seg(2, 4, 'v2'), seg(3, 6, 'v3'), seg(10, 12, 'v4')])[0], [iv(0, 2), iv(6, 10), iv(12, 24)], 'several newer versions');
  const parts = visibleParts([seg(2, 4, 'v2'), seg(3, 6, 'v3'), day]);
  t.same(parts[0], [iv(2, 3)], 'a newer version is clipped by a newer one still');
  t.same(parts[1], [iv(3, 6)]);
  t.same(visibleParts([day, seg(0, 12, 'v2'), seg(12, 24, 'v3')])[0], [], 'full cover: not visible at all');
  t.same(visibleParts([day, seg(0, 24, 'v2')])[0], [], 'full cover by one segment');
  t.same(visibleParts([day, seg(3, 4, 'v2', 0, 2)])[0], [iv(0, 24)], 'an incomplete newer group covers nothing');
  t.same(visibleParts([day, seg(3, 4, 'v2', 0, 2), seg(3, 4, 'v2', 1, 2)])[0], [iv(0, 3), iv(4, 24)], 'until it is complete');
  t.same(visibleParts([day, seg(3, 4, 'v2', 0, 1, false)])[0], [iv(0, 24)], 'an unused newer segment covers nothing');
  t.same(visibleParts([{ ...day, used: false }, hour])[0], [], 'an unused segment is not read');
  t.same(visibleParts([day, seg(3, 4, 'v0')])[0], [iv(0, 24)], 'an older version covers nothing');
  t.same(visibleParts([{ ...day, dataSource: 'a' }, { ...hour, dataSource: 'b' }])[0], [iv(0, 24)], 'datasources are kept apart');
  const p0 = seg(0, 24, 'v1', 0, 2);
  const p1 = seg(0, 24, 'v1', 1, 2);
  t.same(visibleParts([p0, p1, hour]).slice(0, 2), [[iv(0, 3), iv(4, 24)], [iv(0, 3), iv(4, 24)]], 'every partition of a group alike');
});

t.test('visibleParts agrees with the instant-by-instant definition on random timelines', async (t) => {
  const seed = 20250117;
  t.comment(`seed ${seed}`);
  const rnd = prng(seed);
  for (let round = 0; round < 1500; round++) {
    const segments = randomTimeline(rnd, true);
    const got = JSON.stringify(visibleParts(segments));
    const want = JSON.stringify(naiveVisibleParts(segments));
    if (got !== want) {
      t.fail(`round ${round}: got ${got} want ${want}: ${JSON.stringify(segments)}`);
      return;
    }
    // Consistent with visibleSegments: visible exactly when some part is.
    const visible = new Set(visibleSegments(segments).map((s) => s.id));
    const parts = visibleParts(segments);
    if (segments.some((s, i) => visible.has(s.id) !== parts[i]!.length > 0)) {
      t.fail(`round ${round}: visibleParts and visibleSegments disagree: ${JSON.stringify(segments)}`);
      return;
    }
  }
  t.pass('1500 random timelines');
});

t.test('a million segments (measured, not asserted)', async (t) => {
  // 9,000 hours x 100 partitions at v1, and every 9th hour re-ingested as a complete v2 with
  // 100 partitions: 1,000,000 segments of which the 100,000 v1 segments under v2 are overshadowed.
  const hour = 3_600_000;
  const n = 1_000_000;
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const version: string[] = new Array(n);
  const partition = new Int32Array(n);
  const partitions = new Int32Array(n).fill(100);
  const used = new Uint8Array(n).fill(1);
  let k = 0;
  for (let h = 0; k < n; h++) {
    for (const v of h % 9 === 0 ? ['v1', 'v2'] : ['v1']) {
      for (let p = 0; p < 100; p++, k++) {
        start[k] = h * hour;
        end[k] = (h + 1) * hour;
        version[k] = v;
        partition[k] = p;
      }
    }
  }
  const cols = arrayColumns({ start, end, version, partition, partitions, used });
  const inOrder = Int32Array.from({ length: n }, (_, i) => i);
  let t0 = performance.now();
  const flags = overshadowedFlags(cols, inOrder);
  const sortedMs = performance.now() - t0;
  t.equal(flags.reduce((a, b) => a + b, 0), 100_000);

  // The same segments in random order, as a client might hand them over.
  const perm = Int32Array.from(inOrder);
  const rnd = prng(7);
  for (let i = n - 1; i > 0; i--) {
    const j = rnd(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const pick = <T>(a: ArrayLike<T>, make: (n: number) => { [i: number]: T }) => {
    const out = make(n);
    for (let i = 0; i < n; i++) out[i] = a[perm[i]!]!;
    return out;
  };
  const shuffledCols = arrayColumns({
    start: pick(start, (m) => new Float64Array(m)) as Float64Array,
    end: pick(end, (m) => new Float64Array(m)) as Float64Array,
    version: pick(version, (m) => new Array<string>(m)) as string[],
    partition: pick(partition, (m) => new Int32Array(m)) as Int32Array,
    partitions,
    used,
  });
  t0 = performance.now();
  const flags2 = overshadowedFlags(shuffledCols, inOrder);
  const shuffledMs = performance.now() - t0;
  let same = true;
  for (let i = 0; i < n; i++) if (flags2[i] !== flags[perm[i]!]) same = false;
  t.ok(same, 'the same answer for shuffled segments');
  t.comment(`1,000,000 segments: ${sortedMs.toFixed(0)} ms in timeline order, ${shuffledMs.toFixed(0)} ms shuffled`);
});
