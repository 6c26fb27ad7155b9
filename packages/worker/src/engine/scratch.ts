/**
 * Typed arrays reused from one segment to the next. A groupBy over 100 segments allocated ~2.5 MB
 * of per-group state per segment (group counts, sums, seen flags) and dropped it: V8 counts such
 * ArrayBuffers as external memory, and every ~64 MB of it triggered a full mark-compact of the
 * whole heap (150 ms with 10M rows of segments loaded), which cost more than the aggregation.
 *
 * Arrays are lent for one `runOnSegment` call (`scratch`), all given back when it ends
 * (`releaseScratch`, in a finally), and never reach its result. Lending is by power-of-two
 * capacity (the caller gets a view of the length it asked for, filled); at most
 * `scratchPooledBytesMax` stay pooled. Synchronous code only: the engine never yields mid-call.
 */

type Typed = Float64Array | Int32Array | Uint8Array;
type Ctor<T extends Typed> = { new (n: number): T; readonly name: string };

/** Below this many elements an array is cheap to allocate (and often on V8's heap): not pooled. */
const pooledLengthMin = 64;
export const scratchPooledBytesMax = 128 << 20;

/** Free arrays per constructor, by log2 of their length. */
const free = new Map<Ctor<Typed>, Typed[][]>();
let pooledBytes = 0;
const lent: Typed[] = [];

/** A zeroed (or `fill`ed) array of length n, valid until `releaseScratch`; with `dirty`, its contents are whatever they were (the caller writes before it reads). */
export function scratch<T extends Typed>(ctor: Ctor<T>, n: number, fill = 0, dirty = false): T {
  if (n < pooledLengthMin) {
    const a = new ctor(n);
    if (fill !== 0) a.fill(fill);
    return a;
  }
  const bits = 32 - Math.clz32(n - 1);
  let base = free.get(ctor as Ctor<Typed>)?.[bits]?.pop() as T | undefined;
  if (base) pooledBytes -= base.byteLength;
  else base = new ctor(2 ** bits);
  lent.push(base);
  const view = base.subarray(0, n) as T;
  if (!dirty) view.fill(fill);
  return view;
}

/** Gives back every array lent since the last call. */
export function releaseScratch(): void {
  for (const a of lent) {
    if (pooledBytes + a.byteLength > scratchPooledBytesMax) continue;
    const ctor = a.constructor as Ctor<Typed>;
    let byBits = free.get(ctor);
    if (!byBits) free.set(ctor, (byBits = []));
    const bits = 31 - Math.clz32(a.length);
    (byBits[bits] ??= []).push(a);
    pooledBytes += a.byteLength;
  }
  lent.length = 0;
}
