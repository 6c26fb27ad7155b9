/**
 * Canonical JSON: object keys sorted, no whitespace. Two JSON values are deeply equal exactly
 * when their canonical texts are equal, which is how the catalog interns segment schemas.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Nesting deeper than this is refused, so a hostile value cannot exhaust the stack. */
export const jsonDepthMax = 64;

/**
 * The canonical text of a JSON value. Throws a `TypeError` naming the offending path for
 * anything JSON cannot carry (undefined, functions, NaN, Infinity, class instances).
 * @example canonicalJson({ b: 1, a: [true] }) === '{"a":[true],"b":1}'
 */
export function canonicalJson(value: unknown, path = '$'): string {
  return write(value, path, 0);
}

function write(value: unknown, path: string, depth: number): string {
  if (depth > jsonDepthMax) throw new TypeError(`${path}: nested deeper than ${jsonDepthMax}`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => write(v, `${path}[${i}]`, depth + 1)).join(',')}]`;
  const proto = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], `${path}.${k}`, depth + 1)}`).join(',')}}`;
  }
  throw new TypeError(`${path}: ${typeof value} is not a JSON value`);
}

/** Freezes a JSON value and everything inside it, so that a shared (interned) value cannot be changed by one holder. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
