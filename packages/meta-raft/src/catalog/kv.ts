/**
 * A generic key-value namespace with etcd v3 semantics (for leases, locks and configuration
 * that do not deserve a command of their own).
 *
 * Keys and values are byte strings, held as latin1 strings so that JS string order is byte
 * order; records store them hex-encoded. The store revision starts at 1 and grows by one per
 * write request that changes something: a put always does, a delete-range only if it deleted a
 * key, a txn once for all of its writes (which all share that revision). Per key: createRevision,
 * modRevision, version (1 on create, +1 per put; a delete removes the key and so resets it).
 * Only the current state is kept: there is no history and no watch, so a range reads the latest
 * revision.
 *
 * One deliberate point where a literal reading of "a compare on a missing key sees value empty"
 * differs from etcd: etcd's `applyCompare` always fails a VALUE compare on a key that does not
 * exist ("nil == empty string in grpc; no way to represent missing value"). We follow etcd.
 */
import { formatZodError } from '@cairn/shared';
import { assert } from '../core/assert.js';
import { catalogLimits, kvRangeRequestSchema, type KvCompare, type KvRangeRequest, type KvRequestOp, type ParsedCommandOf } from './commands.js';
import { hexToLatin1, KV_REVISION_KEY, latin1ToHex, PREFIX } from './keys.js';
import { fail, type CommandResult, type DeleteRangeResponse, type KeyValue, type RangeResponse, type TxnResponse } from './results.js';
import type { WriteSet } from './writes.js';

interface Entry {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

type ParsedRange = { key: string; rangeEnd?: string | undefined; limit?: number | undefined; countOnly?: boolean | undefined; keysOnly?: boolean | undefined };

/** etcd's refusal of a txn that writes one key twice, or puts a key it also deletes. */
const DUPLICATE_KEY = 'duplicate key given in txn request';

export class KvStore {
  private rev = 1;
  private readonly entries = new Map<string, Entry>();
  /** Every key but those in `added`, sorted (byte order): ranges are binary searches. */
  private keys: string[] = [];
  /**
   * Keys created since the last ordered read, unsorted. A put of a new key used to splice it into
   * `keys` at once, moving half the array on average (about 15 us per put at 100,000 keys); they
   * are merged in one pass when a range, a delete or a snapshot next needs the order.
   */
  private added: string[] = [];
  /** Bytes of all keys and values, against `kvBytesMax`. */
  private bytes = 0;

  get revision(): number {
    return this.rev;
  }

  get size(): number {
    return this.entries.size;
  }

  // -- reads -----------------------------------------------------------------------------------

  /** etcd's Range at the current revision. Throws a TypeError on a malformed request. */
  rangeQuery(req: KvRangeRequest): RangeResponse & { revision: number } {
    const parsed = kvRangeRequestSchema.safeParse(req);
    if (!parsed.success) throw new TypeError(`invalid range request: ${formatZodError(parsed.error)}`);
    return { revision: this.rev, ...this.range(parsed.data) };
  }

  private range(req: ParsedRange): RangeResponse {
    const [lo, hi] = this.bounds(req.key, req.rangeEnd);
    const count = hi - lo;
    if (req.countOnly) return { kvs: [], count, more: false };
    const limit = req.limit ?? 0;
    const end = limit > 0 ? Math.min(hi, lo + limit) : hi;
    const kvs: KeyValue[] = [];
    const keys = this.sortedKeys();
    for (let i = lo; i < end; i++) kvs.push(this.kv(keys[i]!, req.keysOnly === true));
    return { kvs, count, more: end < hi };
  }

  /**
   * Positions [lo, hi) of the keys in range: no rangeEnd means just `key`; `"\0"` means every
   * key >= key; otherwise [key, rangeEnd), empty when rangeEnd <= key.
   */
  private bounds(key: string, rangeEnd: string | undefined): [number, number] {
    const keys = this.sortedKeys();
    const lo = this.lowerBound(key);
    if (rangeEnd === undefined || rangeEnd === '') return [lo, keys[lo] === key ? lo + 1 : lo];
    if (rangeEnd === '\0') return [lo, keys.length];
    return [lo, Math.max(lo, this.lowerBound(rangeEnd))];
  }

  private lowerBound(key: string): number {
    const keys = this.sortedKeys();
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Every key in byte order, after merging those added since the last ordered read. */
  private sortedKeys(): string[] {
    if (this.added.length === 0) return this.keys;
    const add = this.added.sort(byteOrder);
    const out = new Array<string>(this.keys.length + add.length);
    let i = 0;
    let j = 0;
    let o = 0;
    while (i < this.keys.length && j < add.length) out[o++] = this.keys[i]! < add[j]! ? this.keys[i++]! : add[j++]!;
    while (i < this.keys.length) out[o++] = this.keys[i++]!;
    while (j < add.length) out[o++] = add[j++]!;
    this.keys = out;
    this.added = [];
    return out;
  }

  private kv(key: string, keysOnly = false): KeyValue {
    const e = this.entries.get(key)!;
    const base = { key, createRevision: e.createRevision, modRevision: e.modRevision, version: e.version };
    return keysOnly ? base : { ...base, value: e.value };
  }

  // -- writes ----------------------------------------------------------------------------------

  put(c: ParsedCommandOf<'kvPut'>, writes: WriteSet): CommandResult {
    const over = this.overQuota([c]);
    if (over !== null) return over;
    const rev = this.rev + 1;
    const prev = this.doPut(c.key, c.value, rev, writes);
    this.bump(rev, writes);
    return { ok: true, revision: this.rev, ...(c.prevKv && prev !== undefined ? { prevKv: prev } : {}) };
  }

  deleteRange(c: ParsedCommandOf<'kvDeleteRange'>, writes: WriteSet): CommandResult {
    const rev = this.rev + 1;
    const response = this.doDelete(c.key, c.rangeEnd, c.prevKv === true, writes);
    if (response.deleted > 0) this.bump(rev, writes);
    return { ok: true, revision: this.rev, ...response };
  }

  /** etcd's Txn: if every compare holds run `success`, else `failure`; reads inside see earlier writes. */
  txn(c: ParsedCommandOf<'kvTxn'>, writes: WriteSet): CommandResult {
    for (const branch of [c.success, c.failure]) {
      const problem = checkIntervals(branch);
      if (problem !== null) return fail('INVALID', problem);
    }
    const succeeded = c.compare.every((cmp) => this.compare(cmp));
    const ops = succeeded ? c.success : c.failure;
    const over = this.overQuota(ops.flatMap((op) => ('requestPut' in op ? [op.requestPut] : [])));
    if (over !== null) return over;
    const rev = this.rev + 1;
    let changed = false;
    const responses: TxnResponse[] = ops.map((op): TxnResponse => {
      if ('requestPut' in op) {
        const prev = this.doPut(op.requestPut.key, op.requestPut.value, rev, writes);
        changed = true;
        return { responsePut: op.requestPut.prevKv && prev !== undefined ? { prevKv: prev } : {} };
      }
      if ('requestRange' in op) return { responseRange: this.range(op.requestRange) };
      const d = op.requestDeleteRange;
      const response = this.doDelete(d.key, d.rangeEnd, d.prevKv === true, writes);
      if (response.deleted > 0) changed = true;
      return { responseDeleteRange: response };
    });
    if (changed) this.bump(rev, writes);
    return { ok: true, revision: this.rev, succeeded, responses };
  }

  private compare(cmp: KvCompare): boolean {
    const e = this.entries.get(cmp.key);
    let order: number;
    switch (cmp.target) {
      case 'VALUE': {
        if (e === undefined) return false; // as etcd: a value compare on a missing key always fails
        const want = cmp.value ?? '';
        order = e.value < want ? -1 : e.value > want ? 1 : 0;
        break;
      }
      case 'VERSION':
        order = Math.sign((e?.version ?? 0) - (cmp.version ?? 0));
        break;
      case 'CREATE':
        order = Math.sign((e?.createRevision ?? 0) - (cmp.createRevision ?? 0));
        break;
      case 'MOD':
        order = Math.sign((e?.modRevision ?? 0) - (cmp.modRevision ?? 0));
        break;
    }
    switch (cmp.result) {
      case 'EQUAL':
        return order === 0;
      case 'NOT_EQUAL':
        return order !== 0;
      case 'GREATER':
        return order > 0;
      case 'LESS':
        return order < 0;
    }
  }

  /** Refuses puts that would take the store past `kvBytesMax` (etcd's "database space exceeded"). */
  private overQuota(puts: readonly { key: string; value: string }[]): CommandResult | null {
    let bytes = this.bytes;
    for (const p of puts) {
      const prev = this.entries.get(p.key);
      bytes += p.value.length - (prev === undefined ? -p.key.length : prev.value.length);
    }
    return bytes > catalogLimits.kvBytesMax ? fail('LIMIT_EXCEEDED', `the key-value namespace would exceed ${catalogLimits.kvBytesMax} bytes`) : null;
  }

  /** Writes one key at `rev`; returns the previous pair, if any. */
  private doPut(key: string, value: string, rev: number, writes: WriteSet): KeyValue | undefined {
    const prev = this.entries.get(key);
    const entry: Entry =
      prev === undefined
        ? { value, createRevision: rev, modRevision: rev, version: 1 }
        : { value, createRevision: prev.createRevision, modRevision: rev, version: prev.version + 1 };
    const prevKv = prev === undefined ? undefined : this.kv(key);
    if (prev === undefined) {
      this.added.push(key);
      this.bytes += key.length;
    } else {
      this.bytes -= prev.value.length;
    }
    this.bytes += value.length;
    this.entries.set(key, entry);
    writes.put(PREFIX.kv + latin1ToHex(key), encodeEntry(entry));
    return prevKv;
  }

  private doDelete(key: string, rangeEnd: string | undefined, wantPrev: boolean, writes: WriteSet): DeleteRangeResponse {
    const [lo, hi] = this.bounds(key, rangeEnd);
    const doomed = this.sortedKeys().slice(lo, hi);
    const prevKvs = wantPrev ? doomed.map((k) => this.kv(k)) : undefined;
    for (const k of doomed) {
      this.bytes -= k.length + this.entries.get(k)!.value.length;
      this.entries.delete(k);
      writes.delete(PREFIX.kv + latin1ToHex(k));
    }
    this.keys.splice(lo, hi - lo);
    return prevKvs === undefined ? { deleted: doomed.length } : { deleted: doomed.length, prevKvs };
  }

  private bump(rev: number, writes: WriteSet): void {
    assert(rev === this.rev + 1, 'the kv revision moves one step per write request');
    this.rev = rev;
    writes.put(KV_REVISION_KEY, String(rev));
  }

  // -- records ---------------------------------------------------------------------------------

  load(key: string, value: string): void {
    if (key === KV_REVISION_KEY) {
      this.rev = Number(value);
      assert(Number.isInteger(this.rev) && this.rev >= 1, `bad kv revision ${value}`);
      return;
    }
    const k = hexToLatin1(key.slice(PREFIX.kv.length));
    const j = JSON.parse(value) as { c: number; m: number; v: number; d: string };
    const entry: Entry = { value: hexToLatin1(j.d), createRevision: j.c, modRevision: j.m, version: j.v };
    assert(!this.entries.has(k), `kv key ${key} loaded twice`);
    this.entries.set(k, entry);
    this.keys.push(k);
    this.bytes += k.length + entry.value.length;
  }

  finishLoad(): void {
    this.keys.sort(byteOrder);
    for (const e of this.entries.values()) assert(e.modRevision <= this.rev, 'a kv key is newer than the store revision');
  }

  *records(): Generator<[string, string]> {
    for (const k of this.sortedKeys()) yield [PREFIX.kv + latin1ToHex(k), encodeEntry(this.entries.get(k)!)];
    if (this.rev !== 1) yield [KV_REVISION_KEY, String(this.rev)];
  }
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeEntry(e: Entry): string {
  return JSON.stringify({ c: e.createRevision, m: e.modRevision, v: e.version, d: latin1ToHex(e.value) });
}

/**
 * etcd's checkIntervals: within one branch no key is put twice, and no put falls in a deleted
 * range. The etcd gateway runs it before proposing too, so that such a txn takes no log entry.
 */
export function checkIntervals(ops: readonly KvRequestOp[]): string | null {
  const puts = new Set<string>();
  const deletes: [string, string | undefined][] = [];
  for (const op of ops) {
    if ('requestPut' in op) {
      if (puts.has(op.requestPut.key)) return DUPLICATE_KEY;
      puts.add(op.requestPut.key);
    } else if ('requestDeleteRange' in op) {
      deletes.push([op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd]);
    }
  }
  for (const key of puts) {
    for (const [from, to] of deletes) {
      const inside = to === undefined || to === '' ? key === from : to === '\0' ? key >= from : key >= from && key < to;
      if (inside) return DUPLICATE_KEY;
    }
  }
  return null;
}
