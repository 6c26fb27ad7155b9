import t from 'tap';
import { Prng } from './prng.js';
import { majorityIndex, quorumSize, voteResult } from './quorum.js';

t.test('majorityIndex agrees with a naive definition on random inputs', async (t) => {
  const seed = 9001;
  t.comment(`seed ${seed}`);
  const r = new Prng(seed);
  for (let round = 0; round < 2000; round++) {
    const n = r.between(1, 7);
    const ids = [...Array(n).keys()].map((i) => `n${i}`);
    const match = new Map(ids.map((id) => [id, r.between(0, 20)]));
    // Naive: the largest index that at least a quorum of voters have reached.
    let naive = 0;
    for (let i = 0; i <= 20; i++) if (ids.filter((id) => match.get(id)! >= i).length >= quorumSize(n)) naive = i;
    const got = majorityIndex(ids, (id) => match.get(id)!);
    if (got !== naive) t.fail(`round ${round}: ${JSON.stringify([...match])} gave ${got}, expected ${naive}`);
  }
  t.pass('2000 random configurations');
});

t.test('voteResult', async (t) => {
  const voters = ['a', 'b', 'c'];
  t.equal(voteResult(voters, new Map([['a', true]])), 'pending');
  t.equal(voteResult(voters, new Map([['a', true], ['b', true]])), 'won');
  t.equal(voteResult(voters, new Map([['a', true], ['b', false], ['c', false]])), 'lost');
  t.equal(voteResult(['a', 'b', 'c', 'd'], new Map([['a', true], ['b', true]])), 'pending', 'two of four is not a majority');
});
