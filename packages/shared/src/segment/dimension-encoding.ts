import type { DimensionColumn } from './types.js';

/**
 * Dictionary-encodes string values: the dictionary is sorted (code order is value order, so a
 * range filter on values is a range of codes) and null becomes code -1.
 */
export function encodeDimension(name: string, values: readonly (string | null)[]): DimensionColumn {
  const distinct = new Set<string>();
  for (const v of values) if (v !== null) distinct.add(v);
  const dictionary = [...distinct].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const codeOf = new Map<string, number>();
  dictionary.forEach((v, i) => codeOf.set(v, i));
  const codes = new Int32Array(values.length);
  let hasNulls = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === null) {
      codes[i] = -1;
      hasNulls = true;
    } else {
      codes[i] = codeOf.get(v)!;
    }
  }
  return { name, codes, dictionary, hasNulls };
}
