/**
 * Cross-checks the search against the definition, on thousands of small random histories:
 * a brute force that tries every order of the operations (no linked list, no memo) must
 * agree with it on every one. The random source is a fixed-seed generator, so runs repeat.
 */

import t from 'tap';
import { checkHistory } from './check-history.js';
import type { Input, Operation, RegisterValue, Status } from './history.js';
import { constrainsRegister, registerModel } from './register-model.js';

/** Linearizable iff some order of all `ok` ops and any subset of `info` ops respects real time
 * (b must follow a when a returns strictly before b is called) and the register. */
function bruteForce(history: readonly Operation[]): boolean {
  const ops = history.filter(constrainsRegister);
  const used = new Array<boolean>(ops.length).fill(false);
  const returnOf = (o: Operation) => (o.status === 'info' ? Infinity : o.ret);
  const search = (state: RegisterValue): boolean => {
    if (ops.every((o, i) => used[i] || o.status !== 'ok')) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const o = ops[i]!;
      // Some op still waiting returned strictly before this one was called: it must go first.
      if (ops.some((p, j) => !used[j] && j !== i && returnOf(p) < o.call)) continue;
      const next = registerModel.step(state, o);
      if (next === undefined) continue;
      used[i] = true;
      const found = search(next);
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(registerModel.initial);
}

/** mulberry32: a tiny deterministic generator. */
function generator(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** A few processes, each issuing requests one after another on small integer times. */
function randomHistory(random: (n: number) => number): Operation[] {
  const values: RegisterValue[] = [null, 0, 1, 2];
  const history: Operation[] = [];
  const processes = 2 + random(3);
  const total = 2 + random(6);
  const free = new Array<number>(processes).fill(0);
  for (let k = 0; k < total; k++) {
    const p = random(processes);
    const call = free[p]! + random(3);
    const ret = call + random(4);
    const kind = random(3);
    const input: Input =
      kind === 0
        ? { kind: 'read' }
        : kind === 1
          ? { kind: 'write', value: values[1 + random(3)]! }
          : { kind: 'cas', from: values[random(4)]!, to: values[1 + random(3)]! };
    const roll = random(10);
    const status: Status = roll < 7 ? 'ok' : roll < 8 ? 'fail' : 'info';
    const output = input.kind === 'read' && status === 'ok' ? { output: values[random(4)]! } : {};
    history.push({ process: p, key: 'x', input, call, ret: status === 'info' ? Infinity : ret, status, ...output });
    // An info op's process never returns; give later requests a fresh process number.
    free[p] = status === 'info' ? Infinity : ret + 1;
    if (free.every((f) => f === Infinity)) break;
  }
  return history.filter((o) => Number.isFinite(o.call));
}

t.test('the search agrees with brute force on random histories', async (t) => {
  const random = generator(20140501);
  const counts = { linearizable: 0, violation: 0 };
  let disagreements = 0;
  for (let i = 0; i < 5000; i++) {
    const history = randomHistory(random);
    const expected = bruteForce(history);
    const result = checkHistory(history);
    counts[result.ok ? 'linearizable' : 'violation']++;
    if (result.ok !== expected || result.verdict === 'unknown') {
      disagreements++;
      if (disagreements <= 3) t.fail(`disagreement on ${JSON.stringify(history)}: brute force says ${expected}`);
    }
  }
  t.equal(disagreements, 0, 'no disagreements');
  t.ok(counts.linearizable > 500 && counts.violation > 500, `both verdicts well represented: ${JSON.stringify(counts)}`);
});
