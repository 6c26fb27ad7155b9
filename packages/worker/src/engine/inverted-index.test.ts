/**
 * Inverted indexes against a plain reference (rows per code, in order), and their memory bound:
 * least recently used indexes are released past it, and one that alone does not fit is not built.
 */
import t from 'tap';
import { buildInvertedIndex, invertedIndex, invertedIndexBytes, invertedIndexBytesHeld, releaseInvertedIndex, releaseInvertedIndexes } from './inverted-index.js';
import { Rng } from './test-support/rng.js';

const seed = Number(process.env['CAIRN_SEED'] ?? 77);

/** Random codes in [-1, card) with a skew, so some codes are frequent and some absent. */
function randomCodes(rng: Rng, rows: number, card: number): Int32Array {
  const codes = new Int32Array(rows);
  for (let i = 0; i < rows; i++) codes[i] = rng.chance(0.1) ? -1 : Math.floor(rng.next() * rng.next() * card);
  return codes;
}

t.test(`an index lists every row under its code, in order (seed ${seed})`, async (t) => {
  t.comment(`seed ${seed}; replay: CAIRN_SEED=${seed} npx tap packages/worker/src/engine/inverted-index.test.ts`);
  const rng = new Rng(seed);
  for (const [rows, card] of [[0, 0], [1, 1], [1000, 1], [5000, 7], [20000, 300], [3000, 5000]] as const) {
    const codes = randomCodes(rng, rows, card);
    const { offsets, rows: list } = buildInvertedIndex(codes, card);
    const want: number[][] = Array.from({ length: card + 1 }, () => []);
    for (let i = 0; i < rows; i++) want[codes[i]! + 1]!.push(i);
    t.equal(offsets.length, card + 2);
    t.equal(offsets[card + 1], rows, `${rows} rows, ${card} codes: the last offset is the row count`);
    const got = want.map((_, c) => [...list.subarray(offsets[c]!, offsets[c + 1]!)]);
    t.same(got, want, `${rows} rows, ${card} codes: rows per code (slot 0: null)`);
  }
});

t.test('indexes are memoized per codes array and bounded in bytes', async (t) => {
  releaseInvertedIndexes();
  const rng = new Rng(seed + 1);
  const a = randomCodes(rng, 1000, 10);
  const b = randomCodes(rng, 1000, 10);
  const c = randomCodes(rng, 1000, 10);
  const one = invertedIndexBytes(1000, 10);
  const bound = 2 * one;
  const ia = invertedIndex(a, 10, bound)!;
  t.equal(invertedIndex(a, 10, bound), ia, 'the second call returns the same index');
  t.equal(invertedIndexBytesHeld(), one);
  const ib = invertedIndex(b, 10, bound)!;
  t.equal(invertedIndexBytesHeld(), 2 * one, 'two fit');
  t.equal(invertedIndex(a, 10, bound), ia, 'a is now the most recently used');
  invertedIndex(c, 10, bound);
  t.equal(invertedIndexBytesHeld(), 2 * one, 'a third releases one');
  t.equal(invertedIndex(a, 10, bound), ia, 'a was used more recently than b and stays');
  const ib2 = invertedIndex(b, 10, bound)!;
  t.not(ib2, ib, 'b was released and is built anew');
  t.same([...ib2.rows], [...ib.rows], 'identical to the first');
  t.equal(invertedIndexBytesHeld(), 2 * one);
  t.equal(invertedIndex(randomCodes(rng, 3000, 10), 10, bound), null, 'an index larger than the bound is not built');
  t.equal(invertedIndexBytesHeld(), 2 * one, 'and releases nothing');
  releaseInvertedIndex(a);
  t.equal(invertedIndexBytesHeld(), one, 'a segment store releases the index of a column it drops');
  releaseInvertedIndex(a);
  t.equal(invertedIndexBytesHeld(), one, 'twice is once');
  t.not(invertedIndex(a, 10, bound), ia, 'built anew on its next use');
  releaseInvertedIndexes();
  t.equal(invertedIndexBytesHeld(), 0);
});
