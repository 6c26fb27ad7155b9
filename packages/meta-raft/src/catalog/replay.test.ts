import t from 'tap';
import { overshadowedIds, visibleSegments, type SegmentInput } from '@cairn/shared';
import { Catalog } from './catalog.js';

/**
 * The persistence invariant, checked on random command sequences: the records written by every
 * `apply`, replayed into a map (as LevelDB would hold them), rebuild a catalog that answers
 * every query exactly as the live one, and that goes on applying commands exactly as it does.
 * Also: every write is a real change (no rewrite of an equal value, no delete of a missing
 * key), and `records()` equals the map, in sorted order.
 *
 * Replay a failure with CATALOG_SEED=<seed> npx tap packages/meta-raft/src/catalog/replay.test.ts
 */

/** A tiny seeded generator (mulberry32): every run is a function of its printed seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, chance: (p: number) => next() < p, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof prng>;

const DATASOURCES = ['a', 'a_b', 'b'];
const VERSIONS = ['v1', 'v2', 'v3'];
const WORKERS = ['w1', 'w2', 'w3'];
const KV_KEYS = ['a', 'ab', 'b', '\x00', '\xff', 'k\x01'];
const day = (d: number) => Date.UTC(2020, 0, 1) + d * 86_400_000;

function segmentInput(r: Rng): SegmentInput {
  const d = r.int(6);
  const partitions = 1 + r.int(2);
  return {
    dataSource: r.pick(DATASOURCES),
    start: day(d),
    end: day(d + 1 + (r.chance(0.2) ? 1 : 0)),
    version: r.pick(VERSIONS),
    partition: r.int(partitions),
    partitions,
    size: r.int(1000),
    rows: r.int(100),
    schema: r.chance(0.8) ? { columns: ['ts', 'x'] } : { columns: ['ts', 'y'], n: r.int(3) },
    // Mostly the same content per id, sometimes not (a conflict).
    checksum: (r.chance(0.9) ? 'a' : 'b').repeat(64),
    location: 'deep/1',
  };
}

function randomCommand(r: Rng, live: Catalog, at: number): Record<string, unknown> {
  const known = live.segments({ includeUnused: true, includeOvershadowed: true });
  const anySegmentId = () => (known.length > 0 && r.chance(0.9) ? r.pick(known).id : 'missing_segment');
  const kvRange = () => {
    const key = r.pick(KV_KEYS);
    return r.chance(0.4) ? { key } : { key, rangeEnd: r.chance(0.3) ? '\0' : r.pick(KV_KEYS) };
  };
  const kind = r.int(100);
  if (kind < 25) {
    const segments = Array.from({ length: 1 + r.int(4) }, () => segmentInput(r));
    return { type: 'publishSegments', at, ingestionId: `ing-${r.int(40)}`, segments };
  }
  if (kind < 35) {
    const ds = r.pick(DATASOURCES);
    return r.chance(0.5)
      ? { type: 'markSegments', at, dataSource: ds, used: r.chance(0.5), interval: `${new Date(day(r.int(4))).toISOString()}/P${1 + r.int(4)}D` }
      : { type: 'markSegments', at, dataSource: ds, used: r.chance(0.5), segmentIds: [anySegmentId(), anySegmentId()] };
  }
  if (kind < 38) return { type: 'createDatasource', at, name: r.pick([...DATASOURCES, 'c']) };
  if (kind < 40) return { type: 'deleteDatasource', at, name: r.pick([...DATASOURCES, 'zz']) };
  if (kind < 45) {
    const rules = r.pick([
      [],
      [{ type: 'loadByPeriod', period: 'P1M', tieredReplicants: { hot: 2 } }, { type: 'dropForever' }],
      [{ type: 'loadForever', tieredReplicants: { cold: 1 } }],
      [{ type: 'loadForever', tieredReplicants: { cold: -1 } }], // invalid
    ]);
    return { type: 'setRules', at, dataSource: r.pick(['_default', ...DATASOURCES]), rules };
  }
  if (kind < 52) {
    const id = r.pick(WORKERS);
    return {
      type: 'registerWorker',
      at,
      worker: { id, url: `http://${id}`, tier: r.pick(['hot', 'cold']), dc: 'dc1', capacityBytes: 1000, version: r.pick(['1', '2']), ...(r.chance(0.3) ? { state: 'active' } : {}) },
    };
  }
  if (kind < 54) return { type: 'removeWorker', at, id: r.pick(WORKERS) };
  if (kind < 57) return { type: 'setWorkerState', at, id: r.pick(WORKERS), state: r.pick(['active', 'decommissioning']) };
  if (kind < 70) {
    const changes = Array.from({ length: 1 + r.int(3) }, () => ({
      segmentId: anySegmentId(),
      ...(r.chance(0.7) ? { add: [r.pick(WORKERS)] } : {}),
      ...(r.chance(0.4) ? { remove: [r.pick(WORKERS)] } : {}),
    }));
    return { type: 'setAssignments', at, changes };
  }
  if (kind < 80) return { type: 'kvPut', at, key: r.pick(KV_KEYS), value: r.pick(['', 'x', 'y\xff']), prevKv: r.chance(0.5) };
  if (kind < 86) return { type: 'kvDeleteRange', at, ...kvRange(), prevKv: r.chance(0.5) };
  if (kind < 96) {
    const op = () =>
      r.pick([
        { requestPut: { key: r.pick(KV_KEYS), value: 't' } },
        { requestRange: kvRange() },
        { requestDeleteRange: kvRange() },
      ]);
    const target = r.pick(['VERSION', 'CREATE', 'MOD', 'VALUE'] as const);
    const compare = {
      key: r.pick(KV_KEYS),
      target,
      result: r.pick(['EQUAL', 'NOT_EQUAL', 'GREATER', 'LESS']),
      ...(target === 'VALUE' ? { value: r.pick(['', 'x', 't']) } : { [{ VERSION: 'version', CREATE: 'createRevision', MOD: 'modRevision' }[target]]: r.int(5) }),
    };
    return { type: 'kvTxn', at, compare: [compare], success: [op(), op()], failure: [op()] };
  }
  return r.pick([{ type: 'bogus', at }, { type: 'kvPut', at, key: '', value: 'x' }, { type: 'publishSegments', at, ingestionId: 'x', segments: [{}] }]);
}

/** Every query, with arguments drawn from the state, as one comparable value. */
function answers(c: Catalog, r: Rng): unknown {
  const all = c.segments({ includeUnused: true, includeOvershadowed: true });
  const someIds = [...all.slice(0, 3), ...all.slice(-3)].map((s) => s.id);
  const interval = `${new Date(day(r.int(6))).toISOString()}/P${1 + r.int(3)}D`;
  return {
    datasources: c.datasources(),
    segments: [
      c.segments(),
      c.segments({ includeOvershadowed: true }),
      c.segments({ includeUnused: true }),
      all,
      ...DATASOURCES.map((dataSource) => c.segments({ dataSource, interval })),
      c.segments({ interval, includeUnused: true }),
      c.segments({ completeOnly: true }),
      ...DATASOURCES.map((dataSource) => c.segments({ dataSource, interval, completeOnly: true })),
    ],
    segment: [...someIds, 'missing'].map((id) => c.segment(id)),
    rules: [c.allRules(), c.defaultRules(), ...DATASOURCES.map((d) => c.rules(d))],
    workers: [c.workers(), ...WORKERS.map((w) => c.worker(w))],
    assignments: [c.assignments(), ...WORKERS.map((workerId) => c.assignments({ workerId })), ...someIds.map((segmentId) => c.assignments({ segmentId }))],
    kv: [c.kvRange({ key: '\0', rangeEnd: '\0' }), c.kvRange({ key: 'a', rangeEnd: 'b', limit: 1 }), c.kvRange({ key: 'a', rangeEnd: '\0', countOnly: true }), c.kvRevision()],
    stats: c.stats(),
  };
}

/** What `runSeed` needs of a tap test. */
interface Checker {
  fail(message: string): void;
  ok(value: boolean, message: string): void;
}

function runSeed(t: Checker, seed: number, steps: number): void {
  const r = prng(seed);
  const live = new Catalog({ ingestionsRememberedMax: 25 });
  const stored = new Map<string, string>();
  let shadow: Catalog | null = null;
  let failures = 0;
  const check = (ok: boolean, what: string) => {
    if (!ok && failures++ < 5) t.fail(`seed ${seed}: ${what}`);
  };
  for (let step = 1; step <= steps; step++) {
    const cmd = randomCommand(r, live, 1_000 + step);
    const out = live.apply(cmd, { index: step, term: 1 });
    for (const w of out.writes) {
      if (w.value === null) check(stored.delete(w.key), `step ${step}: deletes missing record ${w.key}`);
      else {
        check(stored.get(w.key) !== w.value, `step ${step}: rewrites ${w.key} with an equal value`);
        stored.set(w.key, w.value);
      }
    }
    if (!out.result.ok) check(out.writes.length === 0, `step ${step}: a failed command wrote`);
    if (shadow !== null) {
      const again = shadow.apply(cmd, { index: step, term: 1 });
      const [mine, theirs] = [JSON.stringify(out), JSON.stringify(again)];
      check(mine === theirs, `step ${step}: the reloaded catalog applied ${JSON.stringify(cmd)} differently: ${theirs.slice(0, 400)} instead of ${mine.slice(0, 400)}`);
    }
    if (step % 20 === 0) {
      const reloaded = Catalog.fromRecords([...stored].sort(() => r.int(3) - 1), { ingestionsRememberedMax: 25 });
      const querySeed = r.int(1e9);
      check(JSON.stringify(answers(reloaded, prng(querySeed))) === JSON.stringify(answers(live, prng(querySeed))), `step ${step}: the reloaded catalog answers differently`);
      const records = [...live.records()];
      const sorted = [...stored].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      check(JSON.stringify(records) === JSON.stringify(sorted), `step ${step}: records() differs from the persisted writes`);
      for (const ds of DATASOURCES) {
        const all = live.segments({ dataSource: ds, includeUnused: true, includeOvershadowed: true });
        const overshadowed = overshadowedIds(all);
        const notOvershadowed = live.segments({ dataSource: ds }).map((s) => s.id);
        check(JSON.stringify(notOvershadowed) === JSON.stringify(all.filter((s) => s.used && !overshadowed.has(s.id)).map((s) => s.id)), `step ${step}: used segments of ${ds} not overshadowed disagree with overshadowedIds`);
        const read = live.segments({ dataSource: ds, completeOnly: true }).map((s) => s.id);
        check(JSON.stringify(read) === JSON.stringify(visibleSegments(all).map((s) => s.id)), `step ${step}: what queries read of ${ds} disagrees with visibleSegments`);
      }
      shadow = reloaded;
    }
  }
  const s = live.stats();
  t.ok(failures === 0, `seed ${seed}: ${steps} commands; ${s.segments} segments (${s.usedSegments} used), ${s.assignments} assignments, ${s.kvKeys} kv keys at revision ${s.kvRevision}`);
}

const fromEnv = Number(process.env.CATALOG_SEED);
const seeds = Number.isInteger(fromEnv) && fromEnv > 0 ? [fromEnv] : [1, 2, 3, 4, 5, 6, 7, 8];
t.test('reloading from persisted writes answers every query as the live catalog', async (t) => {
  for (const seed of seeds) {
    t.comment(`seed ${seed} (replay: CATALOG_SEED=${seed})`);
    runSeed(t, seed, 600);
  }
});
