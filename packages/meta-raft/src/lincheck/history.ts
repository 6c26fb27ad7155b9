/**
 * The vocabulary of a recorded history: what each client asked for, what it saw, and when.
 * A history is a plain array of operations, one per client request, in any order; the
 * checker orders them itself by their `call`/`ret` times.
 */

/** A stored value. Values compare with `===`, so the number 1 and the string '1' differ. */
export type Value = string | number;

/** What a register holds: a value, or `null` when the key is absent. */
export type RegisterValue = Value | null;

/** What the client asked for. A `cas` takes effect only if the current value `=== from`. */
export type Input =
  | { readonly kind: 'read' }
  | { readonly kind: 'write'; readonly value: RegisterValue }
  | { readonly kind: 'cas'; readonly from: RegisterValue; readonly to: RegisterValue };

/**
 * `ok`: completed, took effect exactly once between `call` and `ret`.
 * `fail`: definitely took no effect (e.g. a cas whose comparison failed); the checker drops it.
 * `info`: outcome unknown (timeout, crash): it may have taken effect at any time after `call`,
 * or never. Its `ret` is ignored and treated as +Infinity.
 */
export type Status = 'ok' | 'fail' | 'info';

export interface Operation {
  /** The client that issued it; only for diagnostics (one process has one request in flight). */
  readonly process: number | string;
  /** The register it touched. Keys are independent, so each is checked on its own. */
  readonly key: string;
  readonly input: Input;
  /** For an `ok` read, the value read (`null` = absent). Unused otherwise. */
  readonly output?: RegisterValue;
  /** When the request was sent, on any monotonic clock. */
  readonly call: number;
  /** When the response arrived; `Infinity` (or anything) for `info`. */
  readonly ret: number;
  readonly status: Status;
}

/** A one-line rendering for failure reports, e.g. `p2 cas(3→0) ok [19..20]`. */
export function describeOperation(op: Operation): string {
  const ret = op.status === 'info' ? '∞' : String(op.ret);
  return `p${String(op.process)} ${describeInput(op)} ${op.status} [${op.call}..${ret}]`;
}

function describeInput(op: Operation): string {
  const input = op.input;
  switch (input.kind) {
    case 'read':
      return op.status === 'ok' ? `read→${show(op.output ?? null)}` : 'read';
    case 'write':
      return `write(${show(input.value)})`;
    case 'cas':
      return `cas(${show(input.from)}→${show(input.to)})`;
  }
}

/** Renders a register value so that `null`, `1` and `'1'` stay distinguishable. */
export function show(value: RegisterValue): string {
  if (value === null) return 'nil';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
