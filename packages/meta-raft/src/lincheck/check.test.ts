/**
 * Small hand-made histories, each showing one rule of the checker.
 */

import t from 'tap';
import { checkHistory } from './check-history.js';
import type { Input, Operation, RegisterValue, Status } from './history.js';
import { checkKvWorkload } from './kv-workload.js';
import { searchLinearization } from './check.js';
import { registerModel } from './register-model.js';

/** Builders: `[call, ret]` times, process, key 'x' unless told otherwise. */
function op(
  process: number,
  input: Input,
  call: number,
  ret: number,
  status: Status = 'ok',
  output?: RegisterValue,
  key = 'x',
): Operation {
  return { process, key, input, call, ret, status, ...(output === undefined ? {} : { output }) };
}
const read = (p: number, value: RegisterValue, call: number, ret: number, key = 'x') =>
  op(p, { kind: 'read' }, call, ret, 'ok', value, key);
const write = (p: number, value: RegisterValue, call: number, ret: number, status: Status = 'ok', key = 'x') =>
  op(p, { kind: 'write', value }, call, ret, status, undefined, key);
const cas = (p: number, from: RegisterValue, to: RegisterValue, call: number, ret: number, status: Status = 'ok') =>
  op(p, { kind: 'cas', from, to }, call, ret, status);

t.test('a sequential history is linearizable', async (t) => {
  const result = checkHistory([
    read(1, null, 0, 1),
    write(1, 1, 2, 3),
    read(2, 1, 4, 5),
    write(2, 'a', 6, 7),
    read(1, 'a', 8, 9),
  ]);
  t.equal(result.ok, true);
  t.equal(result.verdict, 'linearizable');
  t.same(result.keys.map((key) => [key.key, key.verdict, key.operations]), [['x', 'linearizable', 5]]);
});

t.test('an empty history is linearizable', async (t) => {
  t.equal(checkHistory([]).ok, true);
});

t.test('a stale read after a completed write is a violation', async (t) => {
  const result = checkHistory([write(1, 1, 0, 1), write(1, 2, 2, 3), read(2, 1, 4, 5)]);
  t.equal(result.ok, false);
  if (result.verdict !== 'violation') return t.fail(`expected a violation, got ${result.verdict}`);
  t.equal(result.key, 'x');
  t.equal(result.prefixLength, 2, 'both writes fit, the read does not');
  t.equal(result.valueAfterPrefix, 2);
  t.equal(result.stuck.input.kind, 'read');
  t.equal(result.candidates.length, 1);
  t.match(result.reason, /key "x": not linearizable/);
  t.match(result.reason, /p2 read→1 ok \[4\.\.5\]/);
  t.comment(result.reason);
});

t.test('concurrent writes may be seen in either order', async (t) => {
  // Writes of 1 and 2 overlap; one reader sees 1 then 2, another 2 then... only if consistent.
  const either = [write(1, 1, 0, 10), write(2, 2, 0, 10)];
  t.equal(checkHistory([...either, read(3, 1, 1, 2), read(3, 2, 3, 4)]).ok, true, '1 then 2');
  t.equal(checkHistory([...either, read(3, 2, 1, 2), read(3, 1, 3, 4)]).ok, true, '2 then 1');
  t.equal(checkHistory([...either, read(3, 2, 11, 12)]).ok, true, '2 last');
  t.equal(checkHistory([...either, read(3, 1, 11, 12)]).ok, true, '1 last');
  // But two later readers cannot disagree about which came last.
  const split = checkHistory([...either, read(3, 1, 11, 12), read(4, 2, 13, 14)]);
  t.equal(split.verdict, 'violation', 'readers after both writes disagree');
  // Nor can a read see 1, then 2, then 1 again.
  const flipFlop = checkHistory([...either, read(3, 1, 1, 2), read(3, 2, 3, 4), read(3, 1, 5, 6)]);
  t.equal(flipFlop.verdict, 'violation', 'no value comes back');
});

t.test('ties: a call at the instant of a return is concurrent with it', async (t) => {
  // The read is called at 5, when the write returns: either order is allowed.
  t.equal(checkHistory([write(1, 1, 0, 5), read(2, null, 5, 6)]).ok, true);
  // Strictly after the return, the read must see the write.
  t.equal(checkHistory([write(1, 1, 0, 5), read(2, null, 6, 7)]).verdict, 'violation');
});

t.test('an info write that never took effect', async (t) => {
  const result = checkHistory([
    write(1, 1, 0, Infinity, 'info'),
    read(2, null, 1, 2),
    read(2, null, 10, 11),
    read(3, null, 100, 101),
  ]);
  t.equal(result.ok, true);
});

t.test('an info write that took effect later', async (t) => {
  const result = checkHistory([
    write(1, 1, 0, Infinity, 'info'),
    read(2, null, 10, 11),
    read(3, 1, 20, 21),
    read(2, 1, 30, 31),
  ]);
  t.equal(result.ok, true);
});

t.test('an info write takes effect at most once', async (t) => {
  // Seen, then gone again with no other write: not linearizable.
  const result = checkHistory([write(1, 1, 0, Infinity, 'info'), read(2, 1, 10, 11), read(2, null, 20, 21)]);
  t.equal(result.verdict, 'violation');
});

t.test('an info write cannot take effect before it is called', async (t) => {
  const result = checkHistory([read(2, 1, 0, 1), write(1, 1, 5, Infinity, 'info')]);
  t.equal(result.verdict, 'violation');
});

t.test('info reads and failed ops are dropped', async (t) => {
  const result = checkHistory([
    write(1, 1, 0, 1),
    op(2, { kind: 'read' }, 2, Infinity, 'info'),
    write(3, 99, 2, 3, 'fail'),
    read(1, 1, 4, 5),
  ]);
  t.equal(result.ok, true);
  t.equal(result.keys[0]?.operations, 2);
});

t.test('two keys are checked independently', async (t) => {
  const history = [
    write(1, 1, 0, 1, 'ok', 'a'),
    write(2, 1, 0, 1, 'ok', 'b'),
    read(1, 1, 2, 3, 'a'),
    // Key b: a read after the write still sees absent.
    read(2, null, 2, 3, 'b'),
    write(1, 2, 4, 5, 'ok', 'a'),
    read(1, 2, 6, 7, 'a'),
  ];
  const result = checkHistory(history);
  t.equal(result.ok, false);
  t.equal(result.verdict, 'violation');
  if (result.verdict === 'violation') t.equal(result.key, 'b');
  t.same(
    result.keys.map((key) => [key.key, key.verdict]),
    [
      ['a', 'linearizable'],
      ['b', 'violation'],
    ],
  );
  // The same history would fail as one register (a's value 1 then 2 vs b's null): keys
  // really are separate, not merged.
  t.equal(checkHistory(history.filter((o) => o.key === 'a')).ok, true);
});

t.test('cas semantics', async (t) => {
  t.equal(checkHistory([write(1, 1, 0, 1), cas(1, 1, 2, 2, 3), read(1, 2, 4, 5)]).ok, true, 'cas from the current value');
  t.equal(checkHistory([cas(1, null, 5, 0, 1), read(1, 5, 2, 3)]).ok, true, 'cas from absent');
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(1, 3, 2, 2, 3)]).verdict,
    'violation',
    'an ok cas from a value the register never held',
  );
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(1, 3, 2, 2, 3, 'fail'), read(1, 1, 4, 5)]).ok,
    true,
    'a failed cas has no effect',
  );
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(1, '1', 2, 2, 3)]).verdict,
    'violation',
    "values compare with ===: '1' is not 1",
  );
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(2, 1, 2, 2, Infinity, 'info'), read(1, 2, 10, 11)]).ok,
    true,
    'an info cas that took effect',
  );
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(2, 1, 2, 2, Infinity, 'info'), read(1, 1, 10, 11)]).ok,
    true,
    'an info cas that did not',
  );
  // Two concurrent cas from 1 cannot both succeed.
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(2, 1, 2, 2, 5), cas(3, 1, 3, 2, 5)]).verdict,
    'violation',
    'two cas from the same value cannot both succeed',
  );
  // But a chain can, in the right order, even if listed the other way round.
  t.equal(
    checkHistory([write(1, 1, 0, 1), cas(3, 2, 3, 2, 5), cas(2, 1, 2, 2, 5), read(1, 3, 6, 7)]).ok,
    true,
    'concurrent cas chain 1→2→3',
  );
});

t.test('the step budget turns a hopeless search into unknown', async (t) => {
  // 24 overlapping writes of distinct values and an overlapping read of a value nobody wrote:
  // there is no linearization, and proving it means visiting every subset of the writes.
  const history: Operation[] = [];
  for (let i = 0; i < 24; i++) history.push(write(i, i, 0, 100));
  history.push(read(99, 'never written', 0, 100));
  const result = checkHistory(history, { maxSteps: 1000 });
  t.equal(result.ok, false);
  t.equal(result.verdict, 'unknown');
  if (result.verdict === 'unknown') {
    t.equal(result.key, 'x');
    t.match(result.reason, /gave up after 1000 steps/);
  }
  t.equal(result.keys[0]?.steps, 1000, 'stops exactly at the budget');
  // A small version of the same shape gets a definite answer within the default budget.
  const small = history.slice(0, 8).concat(read(99, 'never written', 0, 100));
  t.equal(checkHistory(small).verdict, 'violation');
});

t.test('deterministic: the same history gives the same result', async (t) => {
  const history = [write(1, 1, 0, 10), write(2, 2, 0, 10), read(3, 1, 11, 12), read(4, 2, 13, 14)];
  t.same(checkHistory(history), checkHistory(history));
});

t.test('the search returns a witness linearization', async (t) => {
  const ops = [write(1, 1, 0, 10), write(2, 2, 0, 10), read(3, 1, 1, 2), read(3, 2, 3, 4)];
  const outcome = searchLinearization(ops, registerModel);
  if (outcome.verdict !== 'linearizable') return t.fail(outcome.verdict);
  t.same(
    outcome.linearization.map((o) => o.input.kind === 'write' ? `w${String(o.input.value)}` : `r${String(o.output)}`),
    ['w1', 'r1', 'w2', 'r2'],
  );
});

t.test('malformed times are rejected', async (t) => {
  t.throws(() => checkHistory([write(1, 1, 5, 4)]), RangeError);
  t.throws(() => checkHistory([write(1, 1, 0, Infinity)]), RangeError, 'ok needs a finite return');
  t.throws(() => checkHistory([write(1, 1, NaN, 4)]), RangeError);
});

t.test('checkKvWorkload: put/get/cas on many keys', async (t) => {
  const result = checkKvWorkload([
    { process: 1, key: 'k1', type: 'put', value: 'v1', status: 'ok', call: 0, ret: 2 },
    { process: 2, key: 'k2', type: 'put', value: 7, status: 'info', call: 0 },
    { process: 3, key: 'k1', type: 'get', result: 'v1', status: 'ok', call: 3, ret: 4 },
    { process: 3, key: 'k2', type: 'get', result: 7, status: 'ok', call: 5, ret: 6 },
    { process: 1, key: 'k3', type: 'cas', from: null, to: 1, status: 'ok', call: 3, ret: 4 },
    { process: 1, key: 'k3', type: 'get', result: null, status: 'ok', call: 5, ret: 6 },
    { process: 4, key: 'k1', type: 'cas', from: 'zzz', to: 'v2', status: 'fail', call: 5, ret: 6 },
    { process: 4, key: 'k1', type: 'get', status: 'info', call: 7 },
  ]);
  t.equal(result.ok, false);
  if (result.verdict === 'violation') {
    t.equal(result.key, 'k3', 'k3 lost the cas');
  } else {
    t.fail(`expected a violation, got ${result.verdict}`);
  }
  t.same(
    [...result.perKey],
    [
      ['k1', 'linearizable'],
      ['k2', 'linearizable'],
      ['k3', 'violation'],
    ],
  );
  t.throws(
    () => checkKvWorkload([{ process: 1, key: 'k', type: 'get', status: 'ok', call: 0, ret: 1 }]),
    TypeError,
    'an ok get must say what it read',
  );
  t.equal(checkKvWorkload([]).ok, true);
});
