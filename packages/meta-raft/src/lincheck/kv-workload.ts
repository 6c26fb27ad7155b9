/**
 * The entry point for the Raft simulator: its KV workload records put/get/cas requests on many
 * keys in its own terms; this maps them onto registers and reports a verdict per key and overall.
 */

import { checkHistory, type CheckOptions, type HistoryResult, type Verdict } from './check-history.js';
import type { Operation, RegisterValue, Status } from './history.js';

interface KvBase {
  readonly process: number | string;
  readonly key: string;
  /** `fail`: certainly no effect (e.g. cas mismatch, rejected); `info`: unknown (timeout, crash). */
  readonly status: Status;
  /** Virtual time the request was sent. */
  readonly call: number;
  /** Virtual time the response arrived; omit (or anything) for `info`. */
  readonly ret?: number;
}

/** One client request of the KV workload. */
export type KvOperation =
  | (KvBase & { readonly type: 'get'; /** The value read when `ok` (`null` = absent). */ readonly result?: RegisterValue })
  | (KvBase & { readonly type: 'put'; readonly value: RegisterValue })
  | (KvBase & { readonly type: 'cas'; readonly from: RegisterValue; readonly to: RegisterValue });

export type KvWorkloadResult = HistoryResult & {
  /** Every key's verdict, in order of first appearance. */
  readonly perKey: ReadonlyMap<string, Verdict>;
};

/** Maps KV requests onto register operations. Throws if an `ok` get has no `result`. */
export function kvToHistory(ops: readonly KvOperation[]): Operation[] {
  return ops.map((op) => {
    const base = { process: op.process, key: op.key, call: op.call, ret: op.ret ?? Infinity, status: op.status };
    switch (op.type) {
      case 'get':
        if (op.status === 'ok' && op.result === undefined) {
          throw new TypeError(`ok get on ${JSON.stringify(op.key)} at ${op.call} has no result`);
        }
        return { ...base, input: { kind: 'read' }, ...(op.result === undefined ? {} : { output: op.result }) };
      case 'put':
        return { ...base, input: { kind: 'write', value: op.value } };
      case 'cas':
        return { ...base, input: { kind: 'cas', from: op.from, to: op.to } };
    }
  });
}

/** Checks a KV workload key by key; `ok` only if every key is linearizable. */
export function checkKvWorkload(ops: readonly KvOperation[], options: CheckOptions = {}): KvWorkloadResult {
  const result = checkHistory(kvToHistory(ops), options);
  const perKey = new Map(result.keys.map((key) => [key.key, key.verdict] as const));
  return { ...result, perKey };
}
