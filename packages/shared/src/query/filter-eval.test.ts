import t from 'tap';
import { compileFilter, compileLeaf, FALSE, TRUE, UNKNOWN, type CellValue, type LeafFilter } from './filter-eval.js';
import { likeToRegExp } from './like.js';
import { compareAlphanumeric, compareNullableNumbers, compareNullableStrings, compareNumericStrings, compareStrlen, parseNumber } from './ordering.js';
import type { Filter } from './types.js';

const truth = (leaf: LeafFilter, v: CellValue) => compileLeaf(leaf)(v);

t.test('selector and in: null matches only a null value; otherwise null is UNKNOWN', async (t) => {
  t.equal(truth({ type: 'selector', dimension: 'd', value: 'a' }, 'a'), TRUE);
  t.equal(truth({ type: 'selector', dimension: 'd', value: 'a' }, 'b'), FALSE);
  t.equal(truth({ type: 'selector', dimension: 'd', value: 'a' }, null), UNKNOWN);
  t.equal(truth({ type: 'selector', dimension: 'd', value: null }, null), TRUE);
  t.equal(truth({ type: 'selector', dimension: 'd', value: null }, ''), FALSE, 'the empty string is not null');
  t.equal(truth({ type: 'selector', dimension: 'm', value: '1.0' }, 1), TRUE, 'numbers compare as numbers');
  t.equal(truth({ type: 'selector', dimension: 'm', value: 'x' }, 1), FALSE);
  t.equal(truth({ type: 'in', dimension: 'd', values: ['a', 'b'] }, 'b'), TRUE);
  t.equal(truth({ type: 'in', dimension: 'd', values: ['a', 'b'] }, null), UNKNOWN);
  t.equal(truth({ type: 'in', dimension: 'd', values: ['a', null] }, null), TRUE);
  t.equal(truth({ type: 'in', dimension: 'd', values: ['a', null] }, 'c'), FALSE);
  t.equal(truth({ type: 'in', dimension: 'd', values: [] }, 'c'), FALSE, 'empty in matches nothing');
});

t.test('bound: orderings, strictness, and null matching only without a lower bound', async (t) => {
  const b = (lower: string | null, upper: string | null, ordering: 'lexicographic' | 'numeric' | 'strlen' | 'alphanumeric', strict = false): LeafFilter => ({
    type: 'bound',
    dimension: 'd',
    lower,
    upper,
    lowerStrict: strict,
    upperStrict: strict,
    ordering,
  });
  t.equal(truth(b('10', '9', 'lexicographic'), '100'), TRUE, 'lexicographically 10 <= 100 <= 9');
  t.equal(truth(b('10', '9', 'numeric'), '100'), FALSE);
  t.equal(truth(b('2', '10', 'numeric'), '5'), TRUE);
  t.equal(truth(b('2', '10', 'numeric', true), '10'), FALSE, 'strict upper');
  t.equal(truth(b('2', '10', 'numeric', true), '2'), FALSE, 'strict lower');
  t.equal(truth(b('2', null, 'numeric'), 'abc'), FALSE, 'non-numbers sort before numbers');
  t.equal(truth(b(null, '2', 'numeric'), 'abc'), TRUE);
  t.equal(truth(b(null, 'b', 'lexicographic'), null), TRUE, 'no lower bound: null matches');
  t.equal(truth(b('a', 'b', 'lexicographic'), null), UNKNOWN);
  t.equal(truth(b('aa', 'aa', 'strlen'), 'zz'), FALSE);
  t.equal(truth(b('aa', 'zzz', 'strlen'), 'zz'), TRUE);
  t.equal(truth(b('a2', 'a10', 'alphanumeric'), 'a9'), TRUE);
  t.equal(truth(b(null, '150', 'numeric'), 100), TRUE, 'on a number');
});

t.test('range and equals never match null; typed comparisons', async (t) => {
  const r = (lower: string | number | null, upper: string | number | null, type: 'STRING' | 'LONG' | 'DOUBLE', lowerOpen = false, upperOpen = false): LeafFilter => ({
    type: 'range',
    column: 'x',
    matchValueType: type,
    lower,
    upper,
    lowerOpen,
    upperOpen,
  });
  t.equal(truth(r(null, 'm', 'STRING'), null), UNKNOWN);
  t.equal(truth(r(null, 'm', 'STRING'), 'a'), TRUE);
  t.equal(truth(r(1, 5, 'LONG'), '3'), TRUE, 'numbers in strings compare as numbers');
  t.equal(truth(r(1, 5, 'LONG'), 'x'), FALSE, 'non-numbers do not match');
  t.equal(truth(r(1, 5, 'LONG', true), 1), FALSE);
  t.equal(truth(r(1, 5, 'DOUBLE', false, true), 4.999), TRUE);
  t.equal(truth(r(1, 5, 'DOUBLE', false, true), 5), FALSE);
  t.equal(truth({ type: 'equals', column: 'x', matchValueType: 'STRING', matchValue: 'a' }, 'a'), TRUE);
  t.equal(truth({ type: 'equals', column: 'x', matchValueType: 'LONG', matchValue: 7 }, '7'), TRUE);
  t.equal(truth({ type: 'equals', column: 'x', matchValueType: 'LONG', matchValue: 7 }, null), UNKNOWN);
  t.equal(truth({ type: 'null', column: 'x' }, null), TRUE);
  t.equal(truth({ type: 'null', column: 'x' }, 0), FALSE);
});

t.test('regex, like, search and interval', async (t) => {
  t.equal(truth({ type: 'regex', dimension: 'd', pattern: '^50' }, '5012'), TRUE);
  t.equal(truth({ type: 'regex', dimension: 'd', pattern: '1' }, 'a1b'), TRUE, 'find(), not a full match');
  t.equal(truth({ type: 'regex', dimension: 'd', pattern: '1' }, null), UNKNOWN);
  t.equal(truth({ type: 'like', dimension: 'd', pattern: 'D%', escape: null }, 'Doe'), TRUE);
  t.equal(truth({ type: 'like', dimension: 'd', pattern: 'D_e', escape: null }, 'Doe'), TRUE);
  t.equal(truth({ type: 'like', dimension: 'd', pattern: 'D_e', escape: null }, 'Dooe'), FALSE);
  t.equal(truth({ type: 'like', dimension: 'd', pattern: '100\\%', escape: '\\' }, '100%'), TRUE);
  t.equal(truth({ type: 'like', dimension: 'd', pattern: '100\\%', escape: '\\' }, '1000'), FALSE);
  t.equal(truth({ type: 'like', dimension: 'd', pattern: 'a.c', escape: null }, 'abc'), FALSE, 'regex characters are literal');
  t.equal(truth({ type: 'like', dimension: 'd', pattern: '%', escape: null }, 'line\nbreak'), TRUE);
  t.throws(() => likeToRegExp('ab\\', '\\'), /ends with the escape character/);
  t.equal(truth({ type: 'search', dimension: 'd', query: { type: 'insensitive_contains', value: 'FOO' } }, 'a foo b'), TRUE);
  t.equal(truth({ type: 'search', dimension: 'd', query: { type: 'contains', value: 'FOO', caseSensitive: true } }, 'a foo b'), FALSE);
  t.equal(truth({ type: 'search', dimension: 'd', query: { type: 'fragment', values: ['a', 'B'], caseSensitive: false } }, 'xbxa'), TRUE);
  const iv: LeafFilter = { type: 'interval', dimension: '__time', intervals: [{ start: 10, end: 20 }, { start: 30, end: 40 }] };
  t.same([9, 10, 19, 20, 35, 40].map((v) => truth(iv, v)), [FALSE, TRUE, TRUE, FALSE, TRUE, FALSE]);
});

t.test('three-valued logic: not(leaf) passes only where the leaf is FALSE', async (t) => {
  const notA: Filter = { type: 'not', field: { type: 'selector', dimension: 'd', value: 'a' } };
  const f = compileFilter(notA);
  t.equal(f(() => 'b'), TRUE);
  t.equal(f(() => 'a'), FALSE);
  t.equal(f(() => null), UNKNOWN, 'NOT (d = a) is unknown for a null d, as in SQL');
  const or = compileFilter({ type: 'or', fields: [{ type: 'selector', dimension: 'd', value: 'a' }, { type: 'true' }] });
  t.equal(or(() => null), TRUE, 'UNKNOWN or TRUE');
  const and = compileFilter({ type: 'and', fields: [{ type: 'selector', dimension: 'd', value: 'a' }, { type: 'false' }] });
  t.equal(and(() => null), FALSE, 'UNKNOWN and FALSE');
  const notNull = compileFilter({ type: 'not', field: { type: 'null', column: 'd' } });
  t.equal(notNull(() => null), FALSE);
  t.equal(notNull(() => 'x'), TRUE);
});

t.test('orderings', async (t) => {
  t.equal(parseNumber('1e3'), 1000);
  t.equal(parseNumber(' 1'), null);
  t.equal(parseNumber(''), null);
  t.equal(parseNumber('0x10'), null);
  t.same(['10', 'abc', '9', '-1', '2.5', 'Z'].sort(compareNumericStrings), ['Z', 'abc', '-1', '2.5', '9', '10']);
  t.same(['a10', 'a2', 'a1b', 'b', 'a02'].sort(compareAlphanumeric), ['a1b', 'a2', 'a02', 'a10', 'b']);
  t.same(['ccc', 'b', 'aa', 'a'].sort(compareStrlen), ['a', 'b', 'aa', 'ccc']);
  t.same(['b', null, 'a'].sort((x, y) => compareNullableStrings(x, y, compareStrlen)), [null, 'a', 'b']);
  t.same([3, null, NaN, 1].sort(compareNullableNumbers).slice(2), [1, 3], 'null and NaN first');
});
