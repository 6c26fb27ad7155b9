/**
 * Compiled row filters against the reference: for random filters over a random segment, the
 * rows each selection method picks are exactly the rows where the shared three-valued
 * evaluator says TRUE.
 */
import { compileFilter, parseQuery, segmentCell, TRUE, type Filter } from '@cairn/shared';
import t from 'tap';
import { Columns } from './columns.js';
import { chunkRows } from './execution.js';
import {
  AndFilter,
  CodeRangeFilter,
  CodeTableFilter,
  complementRanges,
  compileRowFilter,
  ConstFilter,
  nextDown,
  nextUp,
  OrFilter,
  PostingsFilter,
  splitTimeFilter,
  type RowFilter,
} from './filter-program.js';
import { randomFilter } from './test-support/gen.js';
import { Rng } from './test-support/rng.js';
import { randomTable, segmentOf } from './test-support/table.js';
import { segmentFromRows } from './segment-from-rows.js';

const seed = Number(process.env['CAIRN_SEED'] ?? 4242);

function normalized(raw: unknown): Filter {
  return parseQuery({ queryType: 'scan', dataSource: 'x', intervals: ['1000/3000'], filter: raw }).filter!;
}

/** The postings selections in a compiled filter, by how many spans they read. */
function postingsIn(f: RowFilter, found = { one: 0, several: 0 }): { one: number; several: number } {
  if (f instanceof PostingsFilter) {
    if (f.spanRows.length === 1) found.one++;
    else found.several++;
    postingsIn(f.probe, found);
  } else if (f instanceof AndFilter || f instanceof OrFilter) {
    for (const p of f.parts) postingsIn(p, found);
  }
  return found;
}

/**
 * Lengths of the row ranges read in turn: 31 ranges of 33 put both ends of a range at every
 * offset within a 32-row word, then long, one-row and odd ones.
 */
const rangeRows = [...Array<number>(31).fill(33), 1000, 1, 95, 31, 7];

/**
 * Every filter three ways: as compiled by default, with the inverted-index path forced on every
 * code table it can serve (share bound 1), and with it off (0). The rows are read in ranges of
 * varied lengths (`rangeRows`), so postings are clipped at both ends everywhere.
 */
t.test('compiled filters select exactly the rows the reference evaluator accepts', async (t) => {
  t.comment(`seed ${seed}`);
  const rng = new Rng(seed);
  const table = randomTable(rng, 3000);
  const segment = segmentOf(table, table.rows, table.start, table.end);
  const columns = new Columns(segment);
  const sel = new Int32Array(chunkRows);
  const mask = new Uint8Array(chunkRows);
  const forced = { one: 0, several: 0 };
  for (let q = 0; q < 300; q++) {
    const filter = normalized(randomFilter(rng, table).json);
    const reference = compileFilter(filter);
    const want: number[] = [];
    for (let i = 0; i < segment.rowCount; i++) if (reference((c) => segmentCell(segment, c, i)) === TRUE) want.push(i);
    for (const mode of [undefined, 1, 0]) {
      const compiled = compileRowFilter(filter, columns, { postingsShareMax: mode });
      if (mode === 1) postingsIn(compiled, forced);
      const got: number[] = [];
      for (let lo = 0, r = 0; lo < segment.rowCount; lo += rangeRows[r++ % rangeRows.length]!) {
        const hi = Math.min(segment.rowCount, lo + rangeRows[r % rangeRows.length]!);
        const n = compiled.select(lo, hi, sel);
        for (let k = 0; k < n; k++) got.push(sel[k]!);
        // write / and / or / refine agree with select, and touch no byte past the range.
        mask[hi - lo] = 7;
        compiled.write(lo, hi, mask);
        let viaMask = 0;
        for (let i = 0; i < hi - lo; i++) viaMask += mask[i]!;
        if (viaMask !== n) t.fail(`write disagrees with select on ${JSON.stringify(filter)}`);
        for (let i = lo; i < hi; i++) sel[i - lo] = i;
        if (compiled.refine(sel, hi - lo) !== n) t.fail(`refine disagrees with select on ${JSON.stringify(filter)}`);
        mask.fill(1, 0, hi - lo);
        compiled.and(lo, hi, mask);
        let viaAnd = 0;
        for (let i = 0; i < hi - lo; i++) viaAnd += mask[i]!;
        mask.fill(0, 0, hi - lo);
        compiled.or(lo, hi, mask);
        let viaOr = 0;
        for (let i = 0; i < hi - lo; i++) viaOr += mask[i]!;
        if (viaAnd !== n || viaOr !== n) t.fail(`and/or disagree with select on ${JSON.stringify(filter)}`);
        if (mask[hi - lo] !== 7) t.fail(`a mask was written past its range on ${JSON.stringify(filter)}`);
      }
      if (got.length !== want.length || got.some((r, i) => r !== want[i])) {
        t.fail(`filter ${JSON.stringify(filter)} (postingsShareMax ${mode}): ${got.length} rows vs ${want.length}`);
        return;
      }
    }
  }
  t.ok(forced.one >= 30 && forced.several >= 30, `the forced runs read postings: ${forced.one} of one span, ${forced.several} of several`);
  t.pass('300 random filters, three ways each');
});

t.test('dictionary leaves become tables, code ranges or constants', async (t) => {
  const rows = Array.from({ length: 6000 }, (_, i) => ({ __time: i, d: `v${String(i % 5000).padStart(4, '0')}`, s: i % 3 === 0 ? null : `s${i % 3}` }));
  const segment = segmentFromRows({ dimensions: ['d', 's'], metrics: [], rows });
  const columns = new Columns(segment);
  const f = (raw: unknown) => compileRowFilter(normalized(raw), columns);
  t.type(f({ type: 'bound', dimension: 'd', lower: 'v0100', upper: 'v4000' }), CodeRangeFilter, 'a lexicographic bound over many rows of a large sorted dictionary is a code range');
  t.type(f({ type: 'bound', dimension: 'd', lower: 'v0100', upper: 'v0200' }), PostingsFilter, 'over a few rows it reads the inverted index');
  t.type(f({ type: 'selector', dimension: 's', value: 's1' }), PostingsFilter, 'one code, a third of the rows: its postings');
  t.type(f({ type: 'in', dimension: 's', values: ['s1', 's2'] }), CodeTableFilter, 'two codes, two thirds of the rows: a code table');
  t.type(f({ type: 'in', dimension: 'd', values: ['v0001', 'v0002', 'v0003'] }), PostingsFilter, 'three codes, 6 rows: postings');
  t.same(f({ type: 'selector', dimension: 'missing', value: null }), new ConstFilter(true), 'a missing column is all null');
  t.same(f({ type: 'selector', dimension: 'd', value: 'nope' }), new ConstFilter(false));
  t.same(
    f({ type: 'or', fields: [{ type: 'selector', dimension: 's', value: 's1' }, { type: 'not', field: { type: 'selector', dimension: 's', value: 's1' } }] }),
    f({ type: 'not', field: { type: 'null', column: 's' } }),
    'a or not(a) merges into one table: "not null" under three-valued logic',
  );
  t.same(f({ type: 'and', fields: [{ type: 'true' }, { type: 'or', fields: [{ type: 'false' }, { type: 'true' }] }] }), new ConstFilter(true));
  const range = f({ type: 'bound', dimension: 'd', lower: 'v0100', upper: 'v0200', upperStrict: true }) as CodeRangeFilter;
  const sel = new Int32Array(chunkRows);
  t.equal(range.select(0, 6000, sel), 200, 'v0100..v0199 occur at rows 100..199 and 5100..5199');
});

t.test('numeric helpers', async (t) => {
  t.ok(nextUp(1) > 1 && nextUp(1) - 1 < 1e-15);
  t.equal(nextDown(nextUp(1)), 1);
  t.equal(nextUp(0), Number.MIN_VALUE);
  t.equal(nextUp(-Infinity), -Number.MAX_VALUE);
  t.same(complementRanges([[1, 2]]), [[-Infinity, nextDown(1)], [nextUp(2), Infinity]]);
  t.same(complementRanges([[-Infinity, 5]]), [[nextUp(5), Infinity]]);
  t.same(complementRanges([]), [[-Infinity, Infinity]]);
});

t.test('filters on __time become row ranges', async (t) => {
  const f = normalized({
    type: 'and',
    fields: [
      { type: 'interval', dimension: '__time', intervals: ['2020-01-01/2020-01-02', '2020-01-05/2020-01-06'] },
      { type: 'bound', dimension: '__time', lower: String(Date.UTC(2020, 0, 1, 12)), lowerStrict: true, ordering: 'numeric' },
      { type: 'selector', dimension: 'd', value: 'a' },
    ],
  });
  const { time, rest } = splitTimeFilter(f);
  t.same(time, [
    { start: Date.UTC(2020, 0, 1, 12) + 1, end: Date.UTC(2020, 0, 2) },
    { start: Date.UTC(2020, 0, 5), end: Date.UTC(2020, 0, 6) },
  ]);
  t.same(rest, { type: 'selector', dimension: 'd', value: 'a' });
  t.same(splitTimeFilter(normalized({ type: 'not', field: { type: 'interval', dimension: '__time', intervals: ['2020/2021'] } })).time, null, 'negated: left to the row filter');
});
