import t from 'tap';
import { canonicalJson, deepFreeze } from './json.js';

t.test('canonicalJson sorts keys at every level and keeps array order', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [{ y: 2, x: 'é' }, null, true] }), '{"a":[{"x":"é","y":2},null,true],"b":1}');
  t.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  t.not(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

t.test('canonicalJson refuses what JSON cannot carry, naming the path', async (t) => {
  t.throws(() => canonicalJson({ a: { b: undefined } }), { name: 'TypeError', message: /\$\.a\.b/ });
  t.throws(() => canonicalJson({ a: [1, NaN] }), { message: /\$\.a\[1\]/ });
  t.throws(() => canonicalJson({ d: new Date(0) }), { message: /\$\.d/ });
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  t.throws(() => canonicalJson(deep), { message: /deeper/ });
});

t.test('deepFreeze', async (t) => {
  const v = deepFreeze({ a: [{ b: 1 }] });
  t.ok(Object.isFrozen(v.a[0]));
});
