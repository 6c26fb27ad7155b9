/**
 * The driver keeps the planner's input (the assignments joined with the loaded sets) up to date
 * across cycles instead of rebuilding it. These tests run it against a real catalog behind a
 * stand-in Raft node, change the catalog behind its back as an operator would (setAssignments,
 * removeWorker, publishes, a compacted log) and check every cycle against the plan a fresh
 * map-form input of the same state gives: the same decisions, with no full read of the
 * assignments once the join is built.
 */
import t from 'tap';
import { hashIdSet, newerVersion } from '@cairn/shared';
import { until } from '@cairn/shared/testing';
import { Catalog } from '../catalog/catalog.js';
import type { CommandResult } from '../catalog/index.js';
import type { Entry } from '../core/index.js';
import { NOW, loadForever, segmentInput, workerInput } from '../coordinator/fixtures.js';
import { plan } from '../coordinator/planner.js';
import type { Plan, PlannerWorker } from '../coordinator/types.js';
import { CatalogMachine, encodeCommand } from './catalog-machine.js';
import { CLOSED_BEAT_GRACE_MS, CoordinatorDriver, nextCycleDelayMs, type HeartbeatAnswer, type HeartbeatReport } from './coordinator-driver.js';
import { createLogger } from './logger.js';
import type { RaftNode } from './raft-node.js';

/**
 * What the driver uses of a Raft node: a leader whose log applies each proposal at once. With
 * `lagging`, the applied index stays behind what the machine applied, as between a real node's
 * apply and its `advance`.
 */
class StandInNode {
  readonly machine = new CatalogMachine(new Catalog());
  private readonly entries: Entry[] = [];
  readonly core = {
    role: 'leader' as 'leader' | 'follower',
    term: 1,
    log: {
      applied: 0,
      committed: 0,
      offset: 0,
      entry: (index: number): Entry | undefined => (index <= this.core.log.offset ? undefined : this.entries[index - 1]),
    },
  };
  /** The driver's own proposals, decoded. */
  readonly proposed: { changes: { segmentId: string; add: string[]; remove: string[] }[] }[] = [];

  lagging = false;

  write(command: Record<string, unknown> & { type: string }): CommandResult {
    return this.append(encodeCommand(command));
  }

  async propose<T>(data: Uint8Array): Promise<T> {
    this.proposed.push(JSON.parse(new TextDecoder().decode(data)) as StandInNode['proposed'][number]);
    return this.append(data) as T;
  }

  /** Forgets every applied entry, as a compaction does. */
  compact(): void {
    this.core.log.offset = this.core.log.applied;
  }

  private append(data: Uint8Array): CommandResult {
    const index = this.entries.length + 1;
    this.entries.push({ index, term: 1, type: 'normal', data });
    const { result } = this.machine.apply(data, { index, term: 1 });
    this.core.log.committed = index;
    if (!this.lagging) this.core.log.applied = index;
    return result;
  }
}

const seg = (ds: string, d: number, version = 'v1') => segmentInput(ds, d, { version });
const worker = workerInput;

/** The plan of a map-form input built from scratch from the catalog and the heartbeats: what the driver must match. */
function reference(catalog: Catalog, loaded: ReadonlyMap<string, ReadonlySet<string>>, beats: ReadonlyMap<string, number>, now: number): Plan {
  const used = catalog.segments({ includeOvershadowed: true });
  const visible = new Set(catalog.segments().map((s) => s.id));
  const { periodMs: _period, ...config } = catalog.coordinatorConfig();
  return plan({
    now,
    segments: used,
    overshadowed: new Set(used.filter((s) => !visible.has(s.id)).map((s) => s.id)),
    rules: catalog.allRules(),
    defaultRules: catalog.defaultRules(),
    workers: catalog.workers().map(
      (w): PlannerWorker => ({
        id: w.id,
        tier: w.tier,
        dc: w.dc,
        capacityBytes: w.capacityBytes,
        state: w.state,
        lastHeartbeatAt: beats.get(w.id) ?? null,
        loaded: loaded.get(w.id) ?? new Set(),
        loadQueue: new Set(),
        queryCounts: new Map(),
      }),
    ),
    assignments: new Map(catalog.assignments().map((a) => [a.segmentId, a.workerIds])),
    config,
  });
}

const decisions = (p: Plan) => [...p.assign.map((a) => `${a.segmentId} +${a.workerId}`), ...p.unassign.map((u) => `${u.segmentId} -${u.workerId}`)].sort();
const proposedDecisions = (c: StandInNode['proposed'][number] | undefined) =>
  (c?.changes ?? []).flatMap((ch) => [...(ch.add ?? []).map((w) => `${ch.segmentId} +${w}`), ...(ch.remove ?? []).map((w) => `${ch.segmentId} -${w}`)]).sort();

t.test('cycle after cycle, the kept join plans as a fresh map-form input would', async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  let now = NOW;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now);
  let fullReads = 0;
  const assignments = catalog.assignments.bind(catalog);
  catalog.assignments = (q = {}) => {
    if (q.segmentId === undefined && q.workerId === undefined) fullReads++;
    return assignments(q);
  };
  const entries = catalog.assignmentEntries.bind(catalog);
  catalog.assignmentEntries = () => {
    fullReads++;
    return entries();
  };

  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [1, 2, 3, 4, 5, 6, 7, 8].flatMap((d) => [seg('a', d), seg('b', d)]) }).ok);
  for (const [id, dc] of [['w1', 'dc1'], ['w2', 'dc2'], ['w3', 'dc1'], ['w4', 'dc2']] as const) t.ok(node.write({ type: 'registerWorker', worker: worker(id, dc) }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(2)] }).ok);

  const loaded = new Map<string, ReadonlySet<string>>();
  const beats = new Map<string, number>();
  /** Live workers load what they are assigned; `lagging` ones only half of it (sorted, every other one). */
  const heartbeat = (silent: ReadonlySet<string>, lagging: ReadonlySet<string>) => {
    for (const w of catalog.workers()) {
      if (silent.has(w.id)) continue;
      const mine = catalog.assignments({ workerId: w.id }).map((a) => a.segmentId);
      const list = lagging.has(w.id) ? mine.filter((_, i) => i % 2 === 0) : mine;
      const report: HeartbeatReport = {
        loadedHash: hashIdSet(list),
        loaded: list,
        loadQueue: mine.length - list.length,
        cacheBytes: 0,
        queuedUnits: 0,
        queryCounts: {},
        latencyMs: { p50: 1, p99: 2 },
        assignmentsHash: '',
      };
      // The list is built from the assignments as they are now: the worker has applied an answer
      // computed now (without one, the driver would rightly distrust segments given back to it).
      const fresh = driver.onHeartbeat(w.id, { ...report, loaded: undefined })!;
      driver.onHeartbeat(w.id, { ...report, appliedVersion: fresh.version });
      loaded.set(w.id, new Set(list));
      beats.set(w.id, now);
    }
  };

  const steps: Record<number, { what: string; change: () => void }> = {
    3: {
      what: 'an operator moves a segment',
      change: () => {
        const a = catalog.assignments()[0]!;
        const to = ['w1', 'w2', 'w3', 'w4'].find((w) => !a.workerIds.includes(w))!;
        t.ok(node.write({ type: 'setAssignments', changes: [{ segmentId: a.segmentId, add: [to], remove: [a.workerIds[0]!] }] }).ok);
      },
    },
    5: {
      what: 'new segments, one overshadowing another',
      change: () => t.ok(node.write({ type: 'publishSegments', ingestionId: 'i2', segments: [seg('a', 9), seg('b', 9), seg('a', 8, 'v2')] }).ok),
    },
    7: { what: 'a worker removed with its assignments', change: () => t.ok(node.write({ type: 'removeWorker', id: 'w2' }).ok) },
    8: { what: 'a worker registered', change: () => t.ok(node.write({ type: 'registerWorker', worker: worker('w5', 'dc2') }).ok) },
    10: {
      what: 'an operator change the compacted log no longer holds',
      change: () => {
        const a = catalog.assignments()[1]!;
        t.ok(node.write({ type: 'setAssignments', changes: [{ segmentId: a.segmentId, remove: [a.workerIds[0]!] }] }).ok);
        node.compact();
      },
    },
    12: { what: 'segments marked unused', change: () => t.ok(node.write({ type: 'markSegments', dataSource: 'b', used: false, segmentIds: catalog.segments({ dataSource: 'b' }).slice(0, 3).map((s) => s.id) }).ok) },
    13: {
      what: 'an operator change applied before the applied index moved',
      change: () => {
        node.lagging = true;
        // A segment the last commit did not touch: its re-read must come from this entry alone.
        const last = new Set((node.proposed.at(-1)?.changes ?? []).map((c) => c.segmentId));
        const a = catalog.assignments().find((x) => x.workerIds.length === 2 && !last.has(x.segmentId))!;
        t.ok(node.write({ type: 'setAssignments', changes: [{ segmentId: a.segmentId, remove: [a.workerIds[0]!] }] }).ok);
      },
    },
    14: {
      what: 'the applied index catches up',
      change: () => {
        node.lagging = false;
        node.core.log.applied = node.core.log.committed;
      },
    },
  };

  const reads: number[] = [];
  for (let cycle = 0; cycle < 16; cycle++) {
    steps[cycle]?.change();
    // w3 lags behind for a while, then catches up; w4 is silent for a few cycles (down, in grace).
    heartbeat(cycle >= 9 && cycle < 12 ? new Set(['w4']) : new Set(), cycle < 6 ? new Set(['w3']) : new Set());
    const expected = reference(catalog, loaded, beats, now);
    const before = node.proposed.length;
    const readsBefore = fullReads;
    await driver.cycle();
    reads.push(fullReads - readsBefore);
    const status = driver.status();
    t.equal(status.waiting, null, `cycle ${cycle} planned`);
    t.same(status.stats, expected.stats, `cycle ${cycle}${steps[cycle] ? ` (${steps[cycle]!.what})` : ''}: the same stats`);
    t.same(proposedDecisions(node.proposed.length > before ? node.proposed.at(-1) : undefined), decisions(expected), `cycle ${cycle}: the same decisions`);
    now += 10_000; // two heartbeat timeouts: w4, once silent, is down at the next cycle
  }
  t.same(
    reads,
    [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0],
    'a full read of the assignments only to build the join, after a worker removal and past a compacted log',
  );
  t.ok(node.proposed.length >= 6, `the cycles had work to do: ${node.proposed.length} commits`);
});

t.test('publishes extend the segment list without listing it again; a costly listing after marks waits for its budget, and drops a stale list could get wrong are withheld', async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  let listings = 0;
  const list = catalog.usedSegmentBriefs.bind(catalog);
  catalog.usedSegmentBriefs = () => {
    listings++;
    return list();
  };
  let now = NOW;
  // Any list counts as costly, and the budget is switched between never and always.
  const refresh = { budget: Number.POSITIVE_INFINITY, staleMinMs: 0 };
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now, refresh);
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [1, 2, 3].map((d) => seg('a', d)) }).ok);
  for (const [id, dc] of [['w1', 'dc1'], ['w2', 'dc2']] as const) t.ok(node.write({ type: 'registerWorker', worker: worker(id, dc) }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(2)] }).ok);
  const beat = () => {
    for (const w of catalog.workers()) {
      const mine = catalog.assignments({ workerId: w.id }).map((a) => a.segmentId);
      driver.onHeartbeat(w.id, { loadedHash: hashIdSet(mine), loaded: mine, loadQueue: 0, cacheBytes: 0, queuedUnits: 0, queryCounts: {}, latencyMs: { p50: 1, p99: 2 }, assignmentsHash: '' });
    }
  };
  const cycle = async () => {
    beat();
    const before = node.proposed.length;
    await driver.cycle();
    now += 1000;
    return proposedDecisions(node.proposed.length > before ? node.proposed.at(-1) : undefined);
  };
  const idOf = (d: number) => catalog.segments({ includeOvershadowed: true, includeUnused: true }).find((s) => s.location === seg('a', d).location)!.id;

  t.equal((await cycle()).length, 6, 'the first cycle lists the segments and places two replicas of each');
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i2', segments: [seg('a', 4)] }).ok);
  t.same(await cycle(), [`${idOf(4)} +w1`, `${idOf(4)} +w2`].sort(), 'a new segment is placed at the next cycle');
  // A higher version of day 4 overshadows the first one (the list learns it from the publish alone).
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i3', segments: [seg('a', 4, 'v2')] }).ok);
  const v2 = catalog.segments().find((s) => s.location === seg('a', 4, 'v2').location)!.id;
  t.same(await cycle(), [`${v2} +w1`, `${v2} +w2`, `${idOf(4)} -w1`, `${idOf(4)} -w2`].sort(), 'the new version is placed, the overshadowed one dropped');
  t.same(await cycle(), [], 'and nothing is left to do');
  t.equal(listings, 1, 'publishes never listed the segments again');

  refresh.budget = 0;
  t.ok(node.write({ type: 'markSegments', dataSource: 'a', segmentIds: [idOf(1)], used: false }).ok);
  t.same(await cycle(), [`${idOf(1)} -w1`, `${idOf(1)} -w2`].sort(), 'a segment marked unused: listed again, its replicas dropped');
  t.equal(listings, 2);

  refresh.budget = Number.POSITIVE_INFINITY;
  t.ok(node.write({ type: 'markSegments', dataSource: 'a', segmentIds: [idOf(1)], used: true }).ok);
  t.ok(node.write({ type: 'setAssignments', changes: [{ segmentId: idOf(1), add: ['w1'] }] }).ok, 'an operator places it on w1');
  const stale = await cycle();
  t.notOk(stale.some((d) => d.startsWith(idOf(1))), `marked used again, it is not dropped as unused on the stale list (${stale.join(', ') || 'no decisions'})`);
  t.same(catalog.assignments({ segmentId: idOf(1) })[0]?.workerIds, ['w1'], 'w1 keeps it');
  t.equal(listings, 2, 'the costly listing waits');

  refresh.budget = 0;
  t.same(await cycle(), [`${idOf(1)} +w2`], 'once listed again, it gets its second replica');
  t.equal(listings, 3);
});

t.test('cycles take at most a budget-th of the loop: the next waits for the period, or for budget - 1 times the loop time taken', async (t) => {
  t.equal(nextCycleDelayMs(1000, 50, 40, 10), 950, 'a cheap cycle: the rest of the period');
  t.equal(nextCycleDelayMs(1000, 300, 200, 10), 1800, 'a costly one: nine times its loop time');
  t.equal(nextCycleDelayMs(1000, 5000, 20, 10), 180, 'waiting for a commit does not count');
  t.equal(nextCycleDelayMs(5, 10, 0, 10), 10, 'never sooner than 10 ms');
});

const report = (loaded: readonly string[], assignmentsHash: string): HeartbeatReport => ({
  loadedHash: hashIdSet(loaded), loaded: [...loaded], loadQueue: 0, cacheBytes: 0, queuedUnits: 0, queryCounts: {}, latencyMs: { p50: 1, p99: 2 }, assignmentsHash,
});

t.test('a held heartbeat is answered when a cycle commits new assignments for its worker, by a newer beat, by a lost leadership, or after waitMs; answers carry increasing versions', async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => NOW);
  t.teardown(() => driver.stop());
  for (const [id, dc] of [['w1', 'dc1'], ['w2', 'dc1']] as const) t.ok(node.write({ type: 'registerWorker', worker: worker(id, dc) }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  const empty = hashIdSet([]);
  for (const w of ['w1', 'w2']) driver.onHeartbeat(w, report([], empty));

  // Nothing assigned yet, nothing new: the answer is held (an hour, longer than any deadline here).
  const first = driver.onHeartbeat('w1', report([], empty))!;
  t.equal(first.assignments, undefined, 'no news');
  let answered: Awaited<ReturnType<CoordinatorDriver['hold']>> | null = null;
  void driver.hold('w1', first, empty, 3_600_000).then((a) => { answered = a; });
  t.equal(driver.heldCount, 1, 'held');
  await driver.cycle(); // nothing published: nothing to decide
  t.equal(answered, null, 'a cycle that changed nothing for w1 leaves it held');

  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [1, 2, 3, 4].map((d) => seg('a', d)) }).ok);
  await driver.cycle();
  await until('the held beat to be answered', () => answered !== null);
  const got = answered as unknown as HeartbeatAnswer;
  const mine = catalog.assignments({ workerId: 'w1' }).map((a) => a.segmentId);
  t.ok(mine.length > 0, 'the cycle placed segments on w1');
  t.same(got.assignments?.map((a) => a.id).sort(), [...mine].sort(), 'the held answer carries the new assignments');
  t.equal(got.assignmentsHash, hashIdSet(mine));
  t.ok(got.version[0] === 1 && got.version[1] > first.version[1], 'and a newer version than the answer it held');
  t.equal(driver.heldCount, 0);

  // A beat that already holds its assignments is held; the next beat answers it.
  const hash = hashIdSet(mine);
  const a1 = driver.onHeartbeat('w1', report([], hash))!;
  let byNext: HeartbeatAnswer | null = null;
  void driver.hold('w1', a1, hash, 3_600_000).then((a) => { byNext = a; });
  const a2 = driver.onHeartbeat('w1', report(mine, hash))!;
  await until('the older held beat to be answered by the newer one', () => byNext !== null);
  t.equal((byNext as unknown as HeartbeatAnswer).assignments, undefined, 'nothing new for it');
  t.ok((byNext as unknown as HeartbeatAnswer).version[1] > a1.version[1], 'answered as of its release');

  // waitMs passes.
  const timedOut = await driver.hold('w1', a2, hash, 20);
  t.equal(timedOut.assignments, undefined, 'after waitMs: the answer, with nothing new');

  // A lost leadership answers what is held.
  let byRole: HeartbeatAnswer | null = null;
  void driver.hold('w2', driver.onHeartbeat('w2', report([], hashIdSet(catalog.assignments({ workerId: 'w2' }).map((a) => a.segmentId))))!, hashIdSet(catalog.assignments({ workerId: 'w2' }).map((a) => a.segmentId)), 3_600_000).then((a) => { byRole = a; });
  node.core.role = 'follower';
  await driver.cycle();
  await until('the held beat to be answered on losing leadership', () => byRole !== null);
  t.equal(driver.heldCount, 0, 'nothing held by a follower');
  t.throws(() => driver.onHeartbeat('w2', report([], '')), { name: 'RaftError', code: 'NOT_LEADER' }, 'and a new beat is sent on to the leader (the relay takes NOT_LEADER)');
});

t.test('a heartbeat that reports loads done brings the next cycle forward', async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'));
  t.ok(node.write({ type: 'setCoordinatorConfig', config: { periodMs: 600_000 }, at: NOW }).ok, 'a period of ten minutes: any second cycle here comes early');
  t.ok(node.write({ type: 'registerWorker', worker: worker('w1', 'dc1') }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [1, 2].map((d) => seg('a', d)) }).ok);
  driver.onHeartbeat('w1', report([], ''));
  let cycles = 0;
  driver.onCycle = () => cycles++;
  driver.start();
  t.teardown(() => driver.stop());
  await until('the first cycle', () => cycles === 1);
  const mine = catalog.assignments({ workerId: 'w1' }).map((a) => a.segmentId);
  t.equal(mine.length, 2, 'it placed both segments');
  t.equal(driver.status().stats?.unavailable, 2, 'not loaded yet');

  driver.onHeartbeat('w1', report([], hashIdSet(mine)));
  t.equal(cycles, 1, 'a beat with the same loaded list changes nothing');
  driver.onHeartbeat('w1', report(mine, hashIdSet(mine)));
  await until('a cycle after the beat that reported the loads', () => cycles === 2);
  t.equal(driver.status().stats?.unavailable, 0, 'which reports them loaded');
});

t.test('a held heartbeat whose connection closes: the worker is down CLOSED_BEAT_GRACE_MS later unless it beats again', async (t) => {
  const node = new StandInNode();
  let now = NOW;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now);
  t.teardown(() => driver.stop());
  t.ok(node.write({ type: 'setCoordinatorConfig', config: { heartbeatTimeoutMs: 60_000 }, at: NOW }).ok);
  for (const [id, dc] of [['w1', 'dc1'], ['w2', 'dc1']] as const) t.ok(node.write({ type: 'registerWorker', worker: worker(id, dc) }).ok);
  const live = (id: string) => driver.timeline(undefined).workers.find((w) => w.id === id)!.live;
  const hold = (id: string, closed?: AbortSignal) => driver.hold(id, driver.onHeartbeat(id, report([], hashIdSet([])))!, hashIdSet([]), 3_600_000, closed);

  const c1 = new AbortController();
  const answered = hold('w1', c1.signal);
  void hold('w2'); // a relayed beat: no signal, so no closed connection can be told
  now += 1000;
  c1.abort();
  await answered;
  t.ok(live('w1'), 'just after the close, still live');
  now += CLOSED_BEAT_GRACE_MS + 1;
  t.notOk(live('w1'), 'down once the short grace passed, long before heartbeatTimeoutMs');
  t.ok(live('w2'), 'the other worker is unaffected');
  driver.onHeartbeat('w1', report([], hashIdSet([])));
  t.ok(live('w1'), 'a new beat makes it live again');

  // A live worker whose connection broke beats again at once: it stays live.
  const c2 = new AbortController();
  void hold('w1', c2.signal);
  c2.abort();
  now += 10;
  driver.onHeartbeat('w1', report([], hashIdSet([])));
  now += CLOSED_BEAT_GRACE_MS + 1;
  t.ok(live('w1'), 'a worker that beat again after the close stays live');
});

t.test('a segment removed from a worker and given back before its next report counts as queued, not loaded: the queue bound holds', async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  let now = NOW;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now);
  t.teardown(() => driver.stop());
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [1, 2, 3, 4, 5].map((d) => seg('a', d)) }).ok);
  for (const id of ['w1', 'w2']) t.ok(node.write({ type: 'registerWorker', worker: worker(id, 'dc1') }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  t.ok(node.write({ type: 'setCoordinatorConfig', config: { loadQueueMax: 1, balance: false }, at: now }).ok);
  const ids = catalog.segments().map((s) => s.id).sort();
  // s1..s4 on both workers, s5 on w1 only: w1 is the fuller one, so its copies are the surplus.
  t.ok(node.write({ type: 'setAssignments', changes: ids.map((id, i) => ({ segmentId: id, add: i < 4 ? ['w1', 'w2'] : ['w1'] })) }).ok);
  const beat = (id: string, loaded = catalog.assignments({ workerId: id }).map((a) => a.segmentId)) => {
    driver.onHeartbeat(id, report(loaded, ''));
  };
  beat('w1');
  beat('w2');
  await driver.cycle();
  t.same(catalog.assignments({ workerId: 'w1' }).map((a) => a.segmentId), [ids[4]], 'one replica wanted: w1 lost s1..s4');
  // w1 dropped them at once but does not report until later; two replicas are wanted again.
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(2)] }).ok);
  const queue = () => driver.status().stats!.workers.find((w) => w.id === 'w1')!.loadQueue;
  for (let i = 0; i < 2; i++) {
    now += 500;
    beat('w2');
    await driver.cycle();
    t.equal(queue(), 1, `cycle ${i + 1}: w1 has one segment to load, its bound`);
  }
  t.equal(catalog.assignments({ workerId: 'w1' }).length, 2, 'so it was given back only one (s5 and one more)');
  now += 500;
  beat('w1', [ids[4]!]);
  beat('w2');
  await driver.cycle();
  t.ok(queue() <= 1, `after w1 reports, its queue is within loadQueueMax 1 (${queue()})`);
});

t.test("a new leader does not plan on a worker's first beat without its loaded list: it waits for the list", async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  let now = NOW;
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [1, 2, 3].map((d) => seg('a', d)) }).ok);
  for (const id of ['w1', 'w2']) t.ok(node.write({ type: 'registerWorker', worker: worker(id, 'dc1') }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  const ids = catalog.segments().map((s) => s.id).sort();
  t.ok(node.write({ type: 'setCoordinatorConfig', config: { balance: false }, at: now }).ok, 'no balancing, so that any move would be a mistake');
  t.ok(node.write({ type: 'setAssignments', changes: ids.map((id) => ({ segmentId: id, add: ['w1'] })) }).ok, 'w1 holds everything (as under the old leader)');
  // The new leader's driver: w1's beat carries only the hash of its list (the old leader held it), w2 has nothing.
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now);
  t.teardown(() => driver.stop());
  const answer = driver.onHeartbeat('w1', { ...report(ids, ''), loaded: undefined });
  t.equal(answer?.loadedHash, null, 'the answer asks w1 for its list');
  driver.onHeartbeat('w2', report([], ''));
  await driver.cycle();
  t.match(driver.status().waiting ?? '', /w1/, 'the cycle waits for w1\'s list');
  t.equal(node.proposed.length, 0, 'and decides nothing: w1\'s segments are not taken for lost');
  now += 1000;
  driver.onHeartbeat('w1', report(ids, ''));
  await driver.cycle();
  t.equal(driver.status().waiting, null, 'with the list it plans');
  t.equal(driver.status().stats?.unavailable, 0, 'every segment loaded on w1');
  t.equal(node.proposed.length, 0, 'and nothing moves');
});

t.test('answers carry the term this node led in: an old leader\'s late answer never outranks the new leader\'s', async (t) => {
  const oldNode = new StandInNode();
  const newNode = new StandInNode();
  for (const n of [oldNode, newNode]) {
    t.ok(n.write({ type: 'registerWorker', worker: worker('w1', 'dc1') }).ok);
    t.ok(n.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  }
  const oldLeader = new CoordinatorDriver(oldNode as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'));
  const newLeader = new CoordinatorDriver(newNode as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'));
  t.teardown(() => { oldLeader.stop(); newLeader.stop(); });
  const empty = hashIdSet([]);
  // A long-lived leader has answered many beats.
  for (let i = 0; i < 1000; i++) oldLeader.onHeartbeat('w1', report([], empty));
  const applied = oldLeader.onHeartbeat('w1', report([], empty))!;
  const held = oldLeader.hold('w1', applied, empty, 3_600_000);
  // It hands over: it adopts the successor's term as it steps down, then answers what it held.
  oldNode.core.term = 2;
  oldNode.core.role = 'follower';
  newNode.core.term = 2;
  await oldLeader.cycle();
  const late = await held;
  t.equal(late.version[0], 1, `the late answer is stamped with the term it led in (${late.version.join('.')})`);
  // The worker took the late answer if newer; the new leader's first answers must still win.
  const workerSaw = newerVersion(late.version, applied.version) ? late.version : applied.version;
  t.ok(newNode.write({ type: 'publishSegments', ingestionId: 'i1', segments: [seg('a', 1)] }).ok);
  newLeader.onHeartbeat('w1', report([], empty));
  await newLeader.cycle();
  await newLeader.cycle();
  const answer = newLeader.onHeartbeat('w1', report([], empty))!;
  t.equal(answer.assignments?.length, 1, 'the new leader assigns the segment to w1');
  t.ok(newerVersion(answer.version, workerSaw), `and the worker takes its answer (${answer.version.join('.')} after ${workerSaw.join('.')})`);
});

t.test('leadership lost and won back between two cycles starts afresh: the lists are heard again', async (t) => {
  const node = new StandInNode();
  let now = NOW;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now);
  t.teardown(() => driver.stop());
  t.ok(node.write({ type: 'registerWorker', worker: worker('w1', 'dc1') }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [seg('a', 1)] }).ok);
  driver.onHeartbeat('w1', report([], hashIdSet([])));
  await driver.cycle();
  t.equal(driver.status().waiting, null, 'term 1: it planned');
  // Another node led in term 2 and this one leads again in term 3, all between two cycles.
  node.core.term = 3;
  now += 100;
  await driver.cycle();
  t.match(driver.status().waiting, /waiting for the first heartbeat of w1/, 'term 3: it waits for w1\'s list before planning');
});

t.test('a loaded list sent before the worker heard of a removal does not count the segment given back to it', async (t) => {
  const node = new StandInNode();
  const catalog = node.machine.catalog;
  let now = NOW;
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => now);
  t.teardown(() => driver.stop());
  for (const id of ['w1', 'w2']) t.ok(node.write({ type: 'registerWorker', worker: worker(id, 'dc1') }).ok);
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  t.ok(node.write({ type: 'setCoordinatorConfig', config: { balance: false }, at: now }).ok);
  t.ok(node.write({ type: 'publishSegments', ingestionId: 'i1', segments: [seg('a', 1)] }).ok);
  const s = catalog.segments()[0]!.id;
  const mine = (w: string) => catalog.assignments({ workerId: w }).map((a) => a.segmentId);
  // s on w1 and w2, both loaded; each worker applied a fresh answer.
  t.ok(node.write({ type: 'setAssignments', changes: [{ segmentId: s, add: ['w1', 'w2'] }] }).ok);
  const versions = new Map<string, readonly [number, number]>();
  const beat = (w: string, loaded: readonly string[], applied = versions.get(w) ?? null) => {
    const a = driver.onHeartbeat(w, { ...report([...loaded], hashIdSet(mine(w))), appliedVersion: applied })!;
    return a;
  };
  for (const w of ['w1', 'w2']) versions.set(w, beat(w, [], null).version);
  for (const w of ['w1', 'w2']) beat(w, [s]);
  // Each worker's next report is on its way (as of the answer it applied: s assigned, loaded)...
  const staleOf = new Map(versions);
  // ...while a cycle drops the surplus replica (one replica is the rule) and commits it.
  await driver.cycle();
  const victim = ['w1', 'w2'].find((w) => !mine(w).includes(s));
  t.ok(victim !== undefined && mine(victim === 'w1' ? 'w2' : 'w1').includes(s), `the cycle took s from one worker (${victim})`);
  const w = victim!;
  const stale = staleOf.get(w)!;
  // The stale report arrives after the commit: s still in its list.
  beat(w, [s], stale);
  // An operator gives s back before the worker's next report (it dropped s when it heard).
  t.ok(node.write({ type: 'setAssignments', changes: [{ segmentId: s, add: [w] }] }).ok);
  t.notOk(driver.timeline(undefined).segments[0]!.loadedOn.includes(w), 'the serving view does not count s as loaded there');
  // The worker applies an answer computed now, which assigns s again, and reports it not loaded yet...
  const fresh = driver.onHeartbeat(w, { ...report([], hashIdSet([])), loaded: undefined })!;
  t.same(fresh.assignments?.map((a) => a.id), [s], 'it is told s is its again');
  beat(w, [], fresh.version);
  // ...then loaded, as of that same answer: now it counts.
  beat(w, [s], fresh.version);
  t.ok(driver.timeline(undefined).segments[0]!.loadedOn.includes(w), 'a list as of an answer after the removal counts s');
  // Two beats crossed: a list older than the one held is not taken.
  beat(w, [], stale);
  t.ok(driver.timeline(undefined).segments[0]!.loadedOn.includes(w), 'an older list arriving late does not replace a newer one');
});

t.test('the serving view leaves out a version whose partitions are not all published, until they are', async (t) => {
  const node = new StandInNode();
  const driver = new CoordinatorDriver(node as unknown as RaftNode<CatalogMachine>, createLogger({}, 'silent'), () => NOW);
  t.teardown(() => driver.stop());
  t.ok(node.write({ type: 'setRules', dataSource: '_default', rules: [loadForever(1)] }).ok);
  const part = (version: string, partition: number) => ({ ...seg('web', 3, version), partition, partitions: 2 });
  t.ok(node.write({ type: 'publishSegments', at: NOW, ingestionId: 'i1', segments: [part('v1', 0), part('v1', 1)] }).ok);
  t.ok(node.write({ type: 'publishSegments', at: NOW, ingestionId: 'i2', segments: [part('v2', 0)] }).ok);
  const served = () => driver.timeline('web').segments.map((s) => `${s.version}/${s.partition}`);
  t.same(served(), ['v1/0', 'v1/1'], 'half of v2 is not served: queries would count its rows beside v1\'s');
  const before = driver.timeline('web').etag;
  t.ok(node.write({ type: 'publishSegments', at: NOW, ingestionId: 'i3', segments: [part('v2', 1)] }).ok);
  t.same(served(), ['v2/0', 'v2/1'], 'complete: v2 replaces v1');
  t.not(driver.timeline('web').etag, before, 'and the ETag changed');
});
