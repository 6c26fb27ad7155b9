/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-8 bytes, computed without allocating: code points
 * are encoded on the fly (lone surrogates as U+FFFD, as TextEncoder does). The same string gives
 * the same hash everywhere, which is what lets sketches from different segments merge.
 */

function mixK(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** Murmur3's finalizer: a bijection on 32-bit integers that spreads every input bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * @example murmur3Utf8('', 0) === 0
 * @example murmur3Utf8('hello', 0) === 0x248bfa47
 */
export function murmur3Utf8(s: string, seed: number): number {
  let h = seed | 0;
  let k = 0;
  let filled = 0; // bytes in k
  let length = 0;
  const push = (byte: number): void => {
    k |= byte << (filled * 8);
    filled++;
    if (filled === 4) {
      h ^= mixK(k);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
      k = 0;
      filled = 0;
    }
  };
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      push(c);
      length += 1;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) {
      push(0xc0 | (c >> 6));
      push(0x80 | (c & 63));
      length += 2;
    } else if (c < 0x10000) {
      push(0xe0 | (c >> 12));
      push(0x80 | ((c >> 6) & 63));
      push(0x80 | (c & 63));
      length += 3;
    } else {
      push(0xf0 | (c >> 18));
      push(0x80 | ((c >> 12) & 63));
      push(0x80 | ((c >> 6) & 63));
      push(0x80 | (c & 63));
      length += 4;
    }
  }
  if (filled > 0) h ^= mixK(k);
  h ^= length;
  return fmix32(h);
}
