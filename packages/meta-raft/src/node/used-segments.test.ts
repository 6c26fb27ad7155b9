/**
 * The coordinator's segment list followed from the catalog (`UsedSegments`) and the windowed
 * overshadow query it relies on (`Catalog.overshadowedNear`) agree with a full listing after every
 * command of random runs: publishes of several versions, interval lengths and partition counts
 * (complete and incomplete groups), out of timeline order, and marks.
 */
import t from 'tap';
import type { SegmentInput } from '@cairn/shared';
import { Catalog } from '../catalog/catalog.js';
import { Prng } from '../core/prng.js';
import { UsedSegments } from './used-segments.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2024, 0, 1);

function randomSegments(rnd: Prng, n: number): SegmentInput[] {
  const out: SegmentInput[] = [];
  for (let k = 0; k < n; k++) {
    const hours = rnd.pick([1, 1, 2, 6]);
    const start = BASE + rnd.int(48) * HOUR;
    const partitions = rnd.between(1, 2);
    const version = rnd.pick(['v1', 'v2', 'v3']);
    // Publish every partition of the group most of the time, so higher versions complete groups.
    for (let partition = 0; partition < partitions; partition++) {
      if (partition > 0 && rnd.chance(0.2)) continue;
      out.push({
        dataSource: rnd.pick(['a', 'b']),
        start,
        end: start + hours * HOUR,
        version,
        partition,
        partitions,
        size: 1,
        rows: 1,
        schema: {},
        checksum: '0'.repeat(64),
        location: `x/${start}/${hours}/${version}/${partition}`,
      });
    }
  }
  return out;
}

/** The truth: every used segment and the overshadowed ones, from the catalog's full listings. */
function listed(catalog: Catalog) {
  const used = catalog.segments({ includeOvershadowed: true });
  const visible = new Set(catalog.segments().map((s) => s.id));
  return { used: used.map((s) => s.id).sort(), overshadowed: used.filter((s) => !visible.has(s.id)).map((s) => s.id).sort() };
}

t.test('followed publish by publish, the list and its overshadowed set equal a full listing', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = new Prng(seed);
    const catalog = new Catalog();
    const used = new UsedSegments({ budget: 0, staleMinMs: Number.POSITIVE_INFINITY });
    let index = 0;
    let listings = 0;
    const list = catalog.usedSegmentBriefs.bind(catalog);
    catalog.usedSegmentBriefs = () => {
      listings++;
      return list();
    };
    let marks = 0;
    for (let step = 0; step < 25; step++) {
      if (rnd.chance(0.15) && catalog.segmentSlots() > 0) {
        const all = catalog.segments({ includeOvershadowed: true, includeUnused: true }).filter((s) => s.dataSource === 'a');
        if (all.length === 0) continue;
        const r = catalog.apply({ type: 'markSegments', at: 1, dataSource: 'a', segmentIds: rnd.shuffle(all).slice(0, 3).map((s) => s.id), used: rnd.chance(0.5) }, { index: ++index, term: 1 });
        if ((r.result as { changed?: number }).changed) marks++;
      } else {
        catalog.apply({ type: 'publishSegments', at: 1, ingestionId: `i${step}`, segments: randomSegments(rnd, rnd.between(1, 6)) }, { index: ++index, term: 1 });
      }
      const view = used.sync(catalog);
      const truth = listed(catalog);
      t.same(view.segments.map((s) => s.id).sort(), truth.used, `seed ${seed}, step ${step}: the used segments`);
      t.same([...view.overshadowed].sort(), truth.overshadowed, `seed ${seed}, step ${step}: the overshadowed ones`);
      t.equal(view.stale, false);
    }
    t.ok(listings <= 1 + marks, `seed ${seed}: listed ${listings} times for ${marks} marks`);
  }
});

t.test('overshadowedNear equals the full timeline over random intervals, with the cached flags and without', async (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const rnd = new Prng(1000 + seed);
    const catalog = new Catalog();
    for (let step = 0; step < 8; step++) catalog.apply({ type: 'publishSegments', at: 1, ingestionId: `i${step}`, segments: randomSegments(rnd, 5) }, { index: step + 1, term: 1 });
    for (let q = 0; q < 10; q++) {
      const dataSource = rnd.pick(['a', 'b']);
      const start = BASE + rnd.int(50) * HOUR;
      const interval = { start, end: start + rnd.between(1, 8) * HOUR };
      const windowed = catalog.overshadowedNear(dataSource, interval);
      const truth = listed(catalog);
      const flagged = new Set(truth.overshadowed);
      const expected = catalog
        .segments({ dataSource, includeOvershadowed: true })
        .filter((s) => s.start < interval.end && s.end > interval.start)
        .map((s) => `${s.id}=${flagged.has(s.id) ? 1 : 0}`)
        .sort();
      const got = windowed.ids.map((id, i) => `${id}=${windowed.flags[i]}`).sort();
      // listed() computed the whole datasource's flags, so this second call reads the cached ones.
      const cached = catalog.overshadowedNear(dataSource, interval);
      t.same(got, expected, `seed ${seed}, query ${q}: windowed`);
      t.same(cached.ids.map((id, i) => `${id}=${cached.flags[i]}`).sort(), expected, `seed ${seed}, query ${q}: cached`);
    }
  }
});

t.test('a costly listing is redone within its budget only; publishes are followed meanwhile', async (t) => {
  let now = 0;
  const limits = { budget: 10, staleMinMs: 0 };
  const catalog = new Catalog();
  const used = new UsedSegments(limits, () => now);
  const rnd = new Prng(7);
  let index = 0;
  catalog.apply({ type: 'publishSegments', at: 1, ingestionId: 'first', segments: randomSegments(rnd, 4) }, { index: ++index, term: 1 });
  t.ok(used.sync(catalog).segments.length > 0);
  const a = catalog.segments({ dataSource: 'a', includeOvershadowed: true });
  const b = catalog.segments({ dataSource: 'b', includeOvershadowed: true });
  const victim = (a.length > 0 ? a : b)[0]!;
  catalog.apply({ type: 'markSegments', at: 1, dataSource: victim.dataSource, segmentIds: [victim.id], used: false }, { index: ++index, term: 1 });
  catalog.apply({ type: 'publishSegments', at: 1, ingestionId: 'second', segments: randomSegments(rnd, 2) }, { index: ++index, term: 1 });
  t.equal(used.sync(catalog).stale, false, 'a listing that took no time (this clock stands still) is always redone');
  // A clock that advances 50 ms per reading: every listing costs 50 ms.
  const slow = new UsedSegments(limits, () => (now += 50));
  slow.sync(catalog);
  catalog.apply({ type: 'markSegments', at: 1, dataSource: victim.dataSource, segmentIds: [victim.id], used: true }, { index: ++index, term: 1 });
  catalog.apply({ type: 'publishSegments', at: 1, ingestionId: 'third', segments: randomSegments(rnd, 2) }, { index: ++index, term: 1 });
  const stale = slow.sync(catalog);
  t.equal(stale.stale, true, 'listed 50 ms ago at a cost of 50 ms: within its budget of 500 ms, so stale');
  t.notOk(stale.segments.some((s) => s.id === victim.id), 'the segment marked used again is not in it yet');
  const published = new Set(listed(catalog).used);
  t.ok(stale.segments.every((s) => published.has(s.id) || s.id === victim.id), 'what it lists is used');
  t.equal(stale.segments.length, published.size - 1, 'the third publish is followed meanwhile');
  now += 1000;
  const fresh = slow.sync(catalog);
  t.equal(fresh.stale, false, 'past its budget it is listed again');
  t.same(fresh.segments.map((s) => s.id).sort(), listed(catalog).used);
});
