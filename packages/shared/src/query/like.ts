/**
 * SQL LIKE patterns as Druid's `like` filter reads them: `%` is any run of characters, `_` one
 * character, and the escape character (if any) makes the next character literal.
 */

const REGEXP_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/**
 * Compiles a LIKE pattern into an anchored RegExp (dotAll, so `%` spans newlines; `_` is one UTF-16 unit, as in Java).
 * @example likeToRegExp('D%', null).test('Doe') === true
 */
export function likeToRegExp(pattern: string, escape: string | null): RegExp {
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (escape !== null && c === escape) {
      i++;
      if (i >= pattern.length) throw new TypeError(`LIKE pattern ${JSON.stringify(pattern)} ends with the escape character`);
      out += pattern[i]!.replace(REGEXP_SPECIAL, '\\$&');
    } else if (c === '%') {
      out += '.*';
    } else if (c === '_') {
      out += '.';
    } else {
      out += c.replace(REGEXP_SPECIAL, '\\$&');
    }
  }
  return new RegExp(`${out}$`, 's');
}
