import { createHash } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { catalogLimits, checkIntervals } from '../catalog/index.js';
import type { KeyValue, RangeResponse, TxnResponse } from '../catalog/index.js';
import { encodeCommand } from '../node/catalog-machine.js';
import { checked, readCatalog, writeCatalog } from './context.js';
import type { ServerDeps } from './context.js';
import { ApiError } from './errors.js';

/**
 * The key-value namespace in the shapes of etcd's v3 JSON gateway, so that scripts written for
 * etcd run against Cairn unchanged: snake_case fields, keys and values in base64, 64-bit numbers
 * as strings, fields at their default value left out (proto3 JSON). Enums may be given by name
 * or number, as grpc-gateway accepts.
 */

type Json = Record<string, unknown>;

/**
 * Bytes from standard, padded base64, with the size checked here so that the message names the
 * field. Only the canonical form is taken: Node's decoder skips what it does not understand (a
 * stray last character, URL-safe "-" and "_", whitespace), so "Zm9vA" used to write key "foo".
 */
const b64ToBytes = (v: unknown, field: string, maxBytes: number): string => {
  if (typeof v !== 'string') throw new ApiError('INVALID', `${field} must be a base64 string`);
  const bytes = Buffer.from(v, 'base64');
  if (v.length % 4 !== 0 || bytes.toString('base64') !== v) {
    throw new ApiError('INVALID', `${field} is not valid base64 (standard alphabet, padded to a multiple of 4 characters)`);
  }
  if (bytes.length > maxBytes) throw new ApiError('INVALID', `${field} is ${bytes.length} bytes, more than ${maxBytes}`);
  return bytes.toString('latin1');
};
const KEY_BYTES_MAX = catalogLimits.kvKeyBytesMax;
const VALUE_BYTES_MAX = catalogLimits.kvValueBytesMax;
const key = (v: unknown, field: string): string => {
  const k = b64ToBytes(v, field, KEY_BYTES_MAX);
  if (k === '') throw new ApiError('INVALID', `${field} is not provided`); // etcd's "key is not provided"
  return k;
};
const bytesToB64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');
const int = (v: unknown, field: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new ApiError('INVALID', `${field} must be a non-negative integer`);
  return n;
};
const bool = (v: unknown, field: string): boolean | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ApiError('INVALID', `${field} must be true or false`);
  return v;
};
const object = (v: unknown, field: string): Json => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError('INVALID', `${field} must be an object`);
  return v as Json;
};
const enumOf = <T extends string>(v: unknown, names: readonly T[], field: string): T => {
  if (typeof v === 'number' && names[v] !== undefined) return names[v]!;
  if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T;
  if (v === undefined) return names[0]!;
  throw new ApiError('INVALID', `${field} must be one of ${names.join(', ')}`);
};

const TARGETS = ['VERSION', 'CREATE', 'MOD', 'VALUE'] as const;
const RESULTS = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const;
const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND'] as const;
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const;

/** Known fields per request, so a misspelled one is an error instead of silently ignored. */
function onlyKeys(o: Json, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(o).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ApiError('INVALID', `${what}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
}

/** What etcd's Range does after reading the store: revision filters, sort, limit (0 = none). */
interface RangeView {
  readonly order: (typeof SORT_ORDERS)[number];
  readonly target: (typeof SORT_TARGETS)[number];
  readonly minMod: number;
  readonly maxMod: number;
  readonly minCreate: number;
  readonly maxCreate: number;
  readonly limit: number;
  readonly keysOnly: boolean;
}

/**
 * A range as the store takes it (`request`), the revision asked for (0: the current one), and,
 * when the request sorts or filters, the `view` to apply to the store's answer. The store knows
 * neither: for those it is asked for the whole range, as etcd itself reads it before sorting.
 */
function rangeRequest(o: Json, what: string) {
  onlyKeys(o, ['key', 'range_end', 'limit', 'revision', 'sort_order', 'sort_target', 'serializable', 'keys_only', 'count_only',
    'min_mod_revision', 'max_mod_revision', 'min_create_revision', 'max_create_revision'], what);
  const view: RangeView = {
    order: enumOf(o['sort_order'], SORT_ORDERS, `${what}.sort_order`),
    target: enumOf(o['sort_target'], SORT_TARGETS, `${what}.sort_target`),
    minMod: int(o['min_mod_revision'], `${what}.min_mod_revision`) ?? 0,
    maxMod: int(o['max_mod_revision'], `${what}.max_mod_revision`) ?? 0,
    minCreate: int(o['min_create_revision'], `${what}.min_create_revision`) ?? 0,
    maxCreate: int(o['max_create_revision'], `${what}.max_create_revision`) ?? 0,
    limit: int(o['limit'], `${what}.limit`) ?? 0,
    keysOnly: bool(o['keys_only'], `${what}.keys_only`) ?? false,
  };
  const reshaped = view.order !== 'NONE' || view.target !== 'KEY' || view.minMod + view.maxMod + view.minCreate + view.maxCreate > 0;
  const request = {
    key: key(o['key'], `${what}.key`),
    ...(o['range_end'] !== undefined ? { rangeEnd: b64ToBytes(o['range_end'], `${what}.range_end`, KEY_BYTES_MAX) } : {}),
    ...(view.limit > 0 && !reshaped ? { limit: view.limit } : {}),
    // Sorting by value needs the values, even when the answer leaves them out.
    ...(view.keysOnly && !(reshaped && view.target === 'VALUE') ? { keysOnly: true } : {}),
    ...(o['count_only'] !== undefined ? { countOnly: bool(o['count_only'], `${what}.count_only`)! } : {}),
  };
  return { request, view: reshaped ? view : null, revision: int(o['revision'], `${what}.revision`) ?? 0 };
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const SORT_COMPARE: Record<RangeView['target'], (a: KeyValue, b: KeyValue) => number> = {
  KEY: (a, b) => byteOrder(a.key, b.key),
  VERSION: (a, b) => a.version - b.version,
  CREATE: (a, b) => a.createRevision - b.createRevision,
  MOD: (a, b) => a.modRevision - b.modRevision,
  VALUE: (a, b) => byteOrder(a.value ?? '', b.value ?? ''),
};

/**
 * etcd 3.4's Range after its read of the whole range: drop what fails the revision filters, sort,
 * then cut at the limit (`more` if something was cut). `count` stays the number of keys in the
 * range, before the filters, as etcd's does. A target other than KEY with order NONE sorts
 * ascending, as in etcd; Array.sort is stable, so ties stay in key order.
 */
function viewRange(r: RangeResponse, v: RangeView): RangeResponse {
  let kvs = r.kvs.filter((kv) =>
    (v.minMod === 0 || kv.modRevision >= v.minMod) && (v.maxMod === 0 || kv.modRevision <= v.maxMod)
    && (v.minCreate === 0 || kv.createRevision >= v.minCreate) && (v.maxCreate === 0 || kv.createRevision <= v.maxCreate));
  const order = v.order === 'NONE' && v.target !== 'KEY' ? 'ASCEND' : v.order;
  if (order !== 'NONE') {
    const sign = order === 'ASCEND' ? 1 : -1;
    const compare = SORT_COMPARE[v.target];
    kvs.sort((a, b) => sign * compare(a, b));
  }
  const more = v.limit > 0 && kvs.length > v.limit;
  if (more) kvs = kvs.slice(0, v.limit);
  if (v.keysOnly) kvs = kvs.map(({ value: _value, ...kv }) => kv);
  return { kvs, count: r.count, more };
}

function putRequest(o: Json, what: string) {
  onlyKeys(o, ['key', 'value', 'prev_kv', 'lease', 'ignore_value', 'ignore_lease'], what);
  if (int(o['lease'], `${what}.lease`)) throw new ApiError('INVALID', `${what}.lease: leases are not supported`);
  // Both need the key's current value or lease at apply time, which the state machine's put does
  // not offer; reading it here and sending it back would race with other writers. Refused rather
  // than ignored: ignore_value was taken as an empty value, which wiped the stored one.
  if (bool(o['ignore_value'], `${what}.ignore_value`)) throw new ApiError('INVALID', `${what}.ignore_value is not supported; send the value to write`);
  if (bool(o['ignore_lease'], `${what}.ignore_lease`)) throw new ApiError('INVALID', `${what}.ignore_lease is not supported (there are no leases)`);
  return {
    key: key(o['key'], `${what}.key`),
    value: o['value'] === undefined ? '' : b64ToBytes(o['value'], `${what}.value`, VALUE_BYTES_MAX),
    ...(o['prev_kv'] !== undefined ? { prevKv: bool(o['prev_kv'], `${what}.prev_kv`)! } : {}),
  };
}

function deleteRequest(o: Json, what: string) {
  onlyKeys(o, ['key', 'range_end', 'prev_kv'], what);
  return {
    key: key(o['key'], `${what}.key`),
    ...(o['range_end'] !== undefined ? { rangeEnd: b64ToBytes(o['range_end'], `${what}.range_end`, KEY_BYTES_MAX) } : {}),
    ...(o['prev_kv'] !== undefined ? { prevKv: bool(o['prev_kv'], `${what}.prev_kv`)! } : {}),
  };
}

function compare(o: Json, what: string) {
  onlyKeys(o, ['key', 'range_end', 'target', 'result', 'version', 'create_revision', 'mod_revision', 'value', 'lease'], what);
  if (o['range_end'] !== undefined) throw new ApiError('INVALID', `${what}.range_end: compares on ranges are not supported`);
  return {
    key: key(o['key'], `${what}.key`),
    target: enumOf(o['target'], TARGETS, `${what}.target`),
    result: enumOf(o['result'], RESULTS, `${what}.result`),
    ...(o['version'] !== undefined ? { version: int(o['version'], `${what}.version`)! } : {}),
    ...(o['create_revision'] !== undefined ? { createRevision: int(o['create_revision'], `${what}.create_revision`)! } : {}),
    ...(o['mod_revision'] !== undefined ? { modRevision: int(o['mod_revision'], `${what}.mod_revision`)! } : {}),
    ...(o['value'] !== undefined ? { value: b64ToBytes(o['value'], `${what}.value`, VALUE_BYTES_MAX) } : {}),
  };
}

type RequestOp =
  | { requestPut: ReturnType<typeof putRequest> }
  | { requestRange: ReturnType<typeof rangeRequest>['request'] }
  | { requestDeleteRange: ReturnType<typeof deleteRequest> };

/** One txn operation as the store takes it, and the view to apply to its answer if it is a sorted or filtered range. */
function requestOp(o: Json, what: string): { op: RequestOp; view: RangeView | null } {
  const keys = Object.keys(o);
  if (keys.length !== 1) throw new ApiError('INVALID', `${what} must have exactly one of request_put, request_range, request_delete_range`);
  if (o['request_put'] !== undefined) return { op: { requestPut: putRequest(object(o['request_put'], `${what}.request_put`), `${what}.request_put`) }, view: null };
  if (o['request_range'] !== undefined) {
    const r = rangeRequest(object(o['request_range'], `${what}.request_range`), `${what}.request_range`);
    // The txn's revision is only known when it is applied, so a revision cannot be checked here.
    if (r.revision !== 0) throw new ApiError('INVALID', `${what}.request_range.revision: not supported inside a txn, which reads its own revision; omit it`);
    return { op: { requestRange: r.request }, view: r.view };
  }
  if (o['request_delete_range'] !== undefined) {
    return { op: { requestDeleteRange: deleteRequest(object(o['request_delete_range'], `${what}.request_delete_range`), `${what}.request_delete_range`) }, view: null };
  }
  throw new ApiError('INVALID', `${what}: unknown operation ${keys[0]}`);
}

/** A txn's list, at most etcd's --max-txn-ops long (checked before its items are decoded). */
function array(v: unknown, what: string): Json[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ApiError('INVALID', `${what} must be an array`);
  if (v.length > catalogLimits.txnOpsMax) throw new ApiError('INVALID', `${what} has ${v.length} entries, more than ${catalogLimits.txnOpsMax}`);
  return v.map((x, i) => object(x, `${what}[${i}]`));
}

/** etcd ids are 64-bit numbers; ours are names, so derive stable numbers from them. */
function numericId(text: string): string {
  return BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 15)}`).toString();
}

function kvJson(kv: KeyValue): Json {
  return {
    key: bytesToB64(kv.key),
    ...(kv.createRevision ? { create_revision: String(kv.createRevision) } : {}),
    ...(kv.modRevision ? { mod_revision: String(kv.modRevision) } : {}),
    ...(kv.version ? { version: String(kv.version) } : {}),
    ...(kv.value ? { value: bytesToB64(kv.value) } : {}),
  };
}

function rangeJson(r: { kvs: KeyValue[]; count: number; more: boolean }): Json {
  return {
    ...(r.kvs.length > 0 ? { kvs: r.kvs.map(kvJson) } : {}),
    ...(r.more ? { more: true } : {}),
    ...(r.count ? { count: String(r.count) } : {}),
  };
}

/**
 * Runs the KV writes' validation and encoding once, proposing nothing. A follower relays the
 * writes it receives without running this code, so a newly elected leader used to compile it on
 * its first write, on the failover's path: the first `checked` call alone took about 3 ms in a
 * fresh process, the next ones under 0.2 ms.
 */
function warmKvWrites(): void {
  const key = Buffer.from('warm-up').toString('base64');
  encodeCommand(checked('kvPut', putRequest({ key, value: key, prev_kv: false }, 'body')));
  encodeCommand(checked('kvDeleteRange', deleteRequest({ key }, 'body')));
  const put = requestOp({ request_put: { key, value: key } }, 'success[0]').op;
  encodeCommand(checked('kvTxn', { compare: [compare({ key, target: 'VERSION', result: 'EQUAL', version: '0' }, 'compare[0]')], success: [put], failure: [] }));
}

export function etcdRoutes(app: OpenAPIHono, deps: ServerDeps): void {
  warmKvWrites();
  const clusterId = numericId(deps.config.meta.map((m) => m.id).sort().join(','));
  // Once, not per answer: a SHA-256 per response was 1.5% of a leader's CPU under a put load.
  const memberId = numericId(deps.self.id);
  const header = (revision: number) => ({
    cluster_id: clusterId,
    member_id: memberId,
    revision: String(revision),
    raft_term: String(deps.node.core.term),
  });
  const txnResponse = (r: TxnResponse, revision: number, view: RangeView | null): Json => {
    if ('responseRange' in r) return { response_range: { header: header(revision), ...rangeJson(view ? viewRange(r.responseRange, view) : r.responseRange) } };
    if ('responsePut' in r) return { response_put: { header: header(revision), ...(r.responsePut.prevKv ? { prev_kv: kvJson(r.responsePut.prevKv) } : {}) } };
    const d = r.responseDeleteRange;
    return { response_delete_range: { header: header(revision), ...(d.deleted ? { deleted: String(d.deleted) } : {}), ...(d.prevKvs?.length ? { prev_kvs: d.prevKvs.map(kvJson) } : {}) } };
  };
  // No body validator here: etcd's own examples send JSON with curl -d (form content type), and
  // scripts written for etcd must work unchanged, so the body is read as JSON whatever its type.
  const anyBody = {};
  const readBody = async (c: { req: { text(): Promise<string> } }): Promise<Json> => {
    const text = await c.req.text();
    let parsed: unknown;
    try {
      parsed = text.trim() === '' ? {} : JSON.parse(text);
    } catch (err) {
      throw new ApiError('INVALID', `the body is not JSON: ${(err as Error).message}`);
    }
    return object(parsed, 'body');
  };
  const ok = (description: string) => ({ 200: { description, content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/put', summary: 'etcd v3 Put (keys and values base64)', request: anyBody, responses: ok('PutResponse') }), async (c) => {
    const req = putRequest(await readBody(c), 'body');
    const r = await writeCatalog<{ revision: number; prevKv?: KeyValue }>(deps, checked('kvPut', req));
    return c.json({ header: header(r.revision), ...(r.prevKv ? { prev_kv: kvJson(r.prevKv) } : {}) }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/range', summary: 'etcd v3 Range; serializable: true reads the local state', request: anyBody, responses: ok('RangeResponse') }), async (c) => {
    const body = await readBody(c);
    const { request, view, revision } = rangeRequest(body, 'body');
    const catalog = await readCatalog(deps, c, bool(body['serializable'], 'body.serializable') === true);
    // Only the current state is kept, so the current revision is the one that can be read, as
    // etcd reads any revision between its compaction and its current one. Nothing awaits between
    // this check and the read, so the revision cannot move in between.
    const current = catalog.kvRevision();
    if (revision > current) throw new ApiError('INVALID', `body.revision ${revision} is a future revision (the current revision is ${current})`);
    if (revision !== 0 && revision < current) {
      throw new ApiError('INVALID', `body.revision ${revision} is not kept: there is no history, only the current revision ${current} can be read (omit revision to read it)`);
    }
    let r;
    try {
      r = catalog.kvRange(request);
    } catch (err) {
      throw new ApiError('INVALID', (err as Error).message);
    }
    return c.json({ header: header(r.revision), ...rangeJson(view ? viewRange(r, view) : r) }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/deleterange', summary: 'etcd v3 DeleteRange', request: anyBody, responses: ok('DeleteRangeResponse') }), async (c) => {
    const req = deleteRequest(await readBody(c), 'body');
    const r = await writeCatalog<{ revision: number; deleted: number; prevKvs?: KeyValue[] }>(deps, checked('kvDeleteRange', req));
    return c.json({ header: header(r.revision), ...(r.deleted ? { deleted: String(r.deleted) } : {}), ...(r.prevKvs?.length ? { prev_kvs: r.prevKvs.map(kvJson) } : {}) }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/txn', summary: 'etcd v3 Txn (compare-and-set)', request: anyBody, responses: ok('TxnResponse') }), async (c) => {
    const body = await readBody(c);
    onlyKeys(body, ['compare', 'success', 'failure'], 'body');
    const branch = (name: 'success' | 'failure') => {
      const ops = array(body[name], name).map((x, i) => requestOp(x, `${name}[${i}]`));
      const problem = checkIntervals(ops.map((o) => o.op));
      if (problem) throw new ApiError('INVALID', `${name}: ${problem}`);
      return ops;
    };
    const success = branch('success');
    const failure = branch('failure');
    const command = checked('kvTxn', {
      compare: array(body['compare'], 'compare').map((x, i) => compare(x, `compare[${i}]`)),
      success: success.map((o) => o.op),
      failure: failure.map((o) => o.op),
    });
    const r = await writeCatalog<{ revision: number; succeeded: boolean; responses: TxnResponse[] }>(deps, command);
    // One response per operation of the branch that ran, in order.
    const views = (r.succeeded ? success : failure).map((o) => o.view);
    return c.json({
      header: header(r.revision),
      ...(r.succeeded ? { succeeded: true } : {}),
      ...(r.responses.length > 0 ? { responses: r.responses.map((x, i) => txnResponse(x, r.revision, views[i] ?? null)) } : {}),
    }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/maintenance/status', summary: 'etcd v3 Status of this member', request: anyBody, responses: ok('StatusResponse') }), async (c) => {
    const s = deps.node.status();
    const catalog = deps.node.machine.catalog;
    return c.json({
      header: header(catalog.kvRevision()),
      version: `cairn-${deps.version}`,
      ...(s.leader ? { leader: numericId(s.leader) } : {}),
      raftIndex: String(s.commitIndex),
      raftTerm: String(s.term),
      raftAppliedIndex: String(s.appliedIndex),
    }, 200);
  });
}
