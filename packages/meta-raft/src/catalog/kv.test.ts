import t from 'tap';
import { Catalog } from './catalog.js';
import type { CatalogCommand } from './commands.js';
import { Prng } from '../core/prng.js';

/** A catalog and the records its writes would leave in storage. */
function harness() {
  const catalog = new Catalog();
  let index = 0;
  const stored = new Map<string, string>();
  const apply = (cmd: CatalogCommand | Record<string, unknown>) => {
    const { result, writes } = catalog.apply(cmd, { index: ++index, term: 1 });
    for (const w of writes) w.value === null ? stored.delete(w.key) : stored.set(w.key, w.value);
    return { result: result as any, writes };
  };
  return { catalog, apply, stored };
}

const put = (key: string, value: string, prevKv?: boolean) => ({ type: 'kvPut' as const, at: 0, key, value, ...(prevKv ? { prevKv } : {}) });

t.test('revisions: 1 at start, +1 per changing write; per-key versions', async (t) => {
  const { catalog, apply } = harness();
  t.equal(catalog.kvRevision(), 1);
  t.same(apply(put('a', '1')).result, { ok: true, revision: 2 });
  t.same(apply(put('a', '2', true)).result, {
    ok: true,
    revision: 3,
    prevKv: { key: 'a', value: '1', createRevision: 2, modRevision: 2, version: 1 },
  });
  t.same(catalog.kvRange({ key: 'a' }).kvs, [{ key: 'a', value: '2', createRevision: 2, modRevision: 3, version: 2 }]);
  const none = apply({ type: 'kvDeleteRange', at: 0, key: 'zzz' });
  t.same(none.result, { ok: true, revision: 3, deleted: 0 }, 'deleting nothing changes nothing');
  t.same(none.writes, []);
  t.same(apply({ type: 'kvDeleteRange', at: 0, key: 'a', prevKv: true }).result, {
    ok: true,
    revision: 4,
    deleted: 1,
    prevKvs: [{ key: 'a', value: '2', createRevision: 2, modRevision: 3, version: 2 }],
  });
  apply(put('a', '3'));
  t.same(catalog.kvRange({ key: 'a' }).kvs[0], { key: 'a', value: '3', createRevision: 5, modRevision: 5, version: 1 }, 'a delete resets version and createRevision');
});

t.test('range semantics follow etcd', async (t) => {
  const { catalog, apply } = harness();
  for (const k of ['a', 'ab', 'b', 'ba', 'c', '\xff']) t.equal(apply(put(k, k === '\xff' ? '!' : k.toUpperCase())).result.ok, true);
  const keys = (r: { kvs: { key: string }[] }) => r.kvs.map((kv) => kv.key);
  t.same(keys(catalog.kvRange({ key: 'ab' })), ['ab'], 'no rangeEnd: one key');
  t.same(keys(catalog.kvRange({ key: 'nope' })), []);
  t.same(keys(catalog.kvRange({ key: 'b', rangeEnd: '\0' })), ['b', 'ba', 'c', '\xff'], '"\\0": every key >= key');
  t.same(keys(catalog.kvRange({ key: '\0', rangeEnd: '\0' })), ['a', 'ab', 'b', 'ba', 'c', '\xff'], 'everything');
  t.same(keys(catalog.kvRange({ key: 'a', rangeEnd: 'b' })), ['a', 'ab'], '[key, rangeEnd)');
  t.same(keys(catalog.kvRange({ key: 'c', rangeEnd: 'a' })), [], 'rangeEnd before key: empty');
  t.same(catalog.kvRange({ key: 'a', rangeEnd: '\0', limit: 2 }), {
    revision: 7,
    count: 6,
    more: true,
    kvs: [
      { key: 'a', value: 'A', createRevision: 2, modRevision: 2, version: 1 },
      { key: 'ab', value: 'AB', createRevision: 3, modRevision: 3, version: 1 },
    ],
  });
  t.same(catalog.kvRange({ key: 'a', rangeEnd: '\0', countOnly: true }), { revision: 7, count: 6, more: false, kvs: [] });
  t.notOk('value' in catalog.kvRange({ key: 'a', keysOnly: true }).kvs[0]!, 'keysOnly');
  t.throws(() => catalog.kvRange({ key: '' }), /key is not provided/);
  t.throws(() => catalog.kvRange({ key: '\u0100' }), /byte string/);
});

t.test('txn: compares, branches, one revision for all writes, reads see earlier writes', async (t) => {
  const { catalog, apply } = harness();
  apply(put('lock', 'owner-1')); // revision 2
  const cas = (expectVersion: number) =>
    apply({
      type: 'kvTxn',
      at: 0,
      compare: [{ key: 'lock', target: 'VERSION', result: 'EQUAL', version: expectVersion }],
      success: [{ requestPut: { key: 'lock', value: 'owner-2', prevKv: true } }, { requestPut: { key: 'other', value: 'x' } }, { requestRange: { key: 'lock' } }],
      failure: [{ requestRange: { key: 'lock' } }],
    }).result;
  const lost = cas(7);
  t.equal(lost.succeeded, false);
  t.equal(lost.revision, 2, 'a read-only branch does not move the revision');
  t.equal(lost.responses[0].responseRange.kvs[0].value, 'owner-1');
  const won = cas(1);
  t.equal(won.succeeded, true);
  t.equal(won.revision, 3, 'one revision for the whole txn');
  t.same(won.responses[0], { responsePut: { prevKv: { key: 'lock', value: 'owner-1', createRevision: 2, modRevision: 2, version: 1 } } });
  t.same(won.responses[2].responseRange.kvs[0], { key: 'lock', value: 'owner-2', createRevision: 2, modRevision: 3, version: 2 }, 'the read sees the put');
  t.equal(catalog.kvRange({ key: 'other' }).kvs[0]!.modRevision, 3);
});

t.test('txn compares on missing keys and each target/result', async (t) => {
  const { apply } = harness();
  apply(put('k', 'm')); // rev 2, version 1
  const check = (compare: object) => apply({ type: 'kvTxn', at: 0, compare: [compare], success: [], failure: [] }).result.succeeded;
  t.equal(check({ key: 'missing', target: 'CREATE', result: 'EQUAL', createRevision: 0 }), true, 'missing key: createRevision 0');
  t.equal(check({ key: 'missing', target: 'CREATE', result: 'EQUAL' }), true, 'an omitted comparand is 0, as in proto3 JSON');
  t.equal(check({ key: 'missing', target: 'VERSION', result: 'LESS', version: 1 }), true);
  t.equal(check({ key: 'missing', target: 'MOD', result: 'EQUAL', modRevision: 0 }), true);
  t.equal(check({ key: 'missing', target: 'VALUE', result: 'EQUAL', value: '' }), false, 'etcd: a value compare on a missing key always fails');
  t.equal(check({ key: 'missing', target: 'VALUE', result: 'NOT_EQUAL', value: 'x' }), false);
  t.equal(check({ key: 'k', target: 'VALUE', result: 'GREATER', value: 'a' }), true);
  t.equal(check({ key: 'k', target: 'VALUE', result: 'LESS', value: 'a' }), false);
  t.equal(check({ key: 'k', target: 'MOD', result: 'NOT_EQUAL', modRevision: 2 }), false);
  t.equal(check({ key: 'k', target: 'CREATE', result: 'GREATER', createRevision: 1 }), true);
});

t.test('txn refuses duplicate keys in a branch, as etcd', async (t) => {
  const { apply } = harness();
  const bad = [
    [{ requestPut: { key: 'a', value: '1' } }, { requestPut: { key: 'a', value: '2' } }],
    [{ requestPut: { key: 'ab', value: '1' } }, { requestDeleteRange: { key: 'a', rangeEnd: 'b' } }],
    [{ requestDeleteRange: { key: 'a', rangeEnd: '\0' } }, { requestPut: { key: 'z', value: '1' } }],
  ];
  for (const ops of bad) {
    const r = apply({ type: 'kvTxn', at: 0, compare: [], success: [], failure: ops }).result;
    t.same(r, { ok: false, error: { code: 'INVALID', message: 'duplicate key given in txn request' } });
  }
  const ok = apply({ type: 'kvTxn', at: 0, compare: [], success: [{ requestDeleteRange: { key: 'a', rangeEnd: 'c' } }, { requestDeleteRange: { key: 'b' } }, { requestPut: { key: 'c', value: '' } }], failure: [] });
  t.equal(ok.result.ok, true, 'overlapping deletes and a put outside them are fine');
});

t.test('keys and values are bytes: hex in records, byte order in ranges', async (t) => {
  const { catalog, apply, stored } = harness();
  apply(put('\x00\xff', '\x01\x80'));
  apply(put('\x7f', ''));
  t.same([...stored.keys()].sort(), ['kv/00ff', 'kv/7f', 'kvrev']);
  t.equal(stored.get('kv/00ff'), '{"c":2,"m":2,"v":1,"d":"0180"}');
  const reloaded = Catalog.fromRecords([...stored]);
  t.same(reloaded.kvRange({ key: '\0', rangeEnd: '\0' }), catalog.kvRange({ key: '\0', rangeEnd: '\0' }));
  t.equal(reloaded.kvRevision(), 3);
  const bad = apply({ type: 'kvPut', at: 0, key: 'é€', value: 'x' }).result;
  t.equal(bad.error.code, 'INVALID');
  t.match(bad.error.message, /^key: must be a byte string/);
});

t.test('random puts, deletes and ranges agree with a sorted model, and records come out in order', async (t) => {
  const seed = Number(process.env['KV_SEED'] ?? 20261206);
  t.comment(`seed ${seed} (KV_SEED)`);
  const rnd = new Prng(seed);
  const { catalog, apply } = harness();
  const model = new Map<string, string>();
  const keyOf = () => `k${rnd.u32() % 200}`;
  const sortedModel = () => [...model.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let step = 0; step < 3000; step++) {
    const r = rnd.u32() % 10;
    if (r < 5) {
      const k = keyOf();
      const v = `v${step}`;
      apply(put(k, v));
      model.set(k, v);
    } else if (r < 7) {
      const [a, b] = [keyOf(), keyOf()].sort();
      apply({ type: 'kvDeleteRange', at: 0, key: a!, rangeEnd: b! });
      for (const k of [...model.keys()]) if (k >= a! && k < b!) model.delete(k);
    } else if (r < 9) {
      const [a, b] = [keyOf(), keyOf()].sort();
      const limit = rnd.u32() % 4;
      const got = catalog.kvRange({ key: a!, rangeEnd: b!, limit });
      const want = sortedModel().filter((k) => k >= a! && k < b!);
      const shown = limit > 0 ? want.slice(0, limit) : want;
      if (got.count !== want.length || got.kvs.map((kv) => `${kv.key}=${kv.value}`).join() !== shown.map((k) => `${k}=${model.get(k)}`).join()) {
        t.fail(`step ${step}: range [${a}, ${b}) limit ${limit}: got ${got.count} ${JSON.stringify(got.kvs.map((kv) => kv.key))}, want ${want.length} ${JSON.stringify(shown)}`);
        return;
      }
    } else {
      const kvKeys = [...catalog.records()].filter(([k]) => k.startsWith('kv/')).map(([k]) => k);
      const inOrder = kvKeys.every((k, i) => i === 0 || kvKeys[i - 1]! < k);
      if (!inOrder || kvKeys.length !== model.size) {
        t.fail(`step ${step}: records out of order or missing (${kvKeys.length} of ${model.size})`);
        return;
      }
    }
  }
  const restored = Catalog.fromRecords(catalog.records());
  t.same(restored.kvRange({ key: '\0', rangeEnd: '\0' }).kvs.map((kv) => kv.key), sortedModel(), 'a catalog restored from the records lists every key in order');
  t.pass('3000 random steps agree with the model');
});
