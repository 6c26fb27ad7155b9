import { createHash } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { KeyValue, TxnResponse } from '../catalog/index.js';
import { readCatalog, writeCatalog } from './context.js';
import type { ServerDeps } from './context.js';
import { ApiError } from './errors.js';

/**
 * The key-value namespace in the shapes of etcd's v3 JSON gateway, so that scripts written for
 * etcd run against Cairn unchanged: snake_case fields, keys and values in base64, 64-bit numbers
 * as strings, fields at their default value left out (proto3 JSON). Enums may be given by name
 * or number, as grpc-gateway accepts.
 */

type Json = Record<string, unknown>;

const b64ToBytes = (v: unknown, field: string): string => {
  if (typeof v !== 'string') throw new ApiError('INVALID', `${field} must be a base64 string`);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw new ApiError('INVALID', `${field} is not valid base64`);
  return Buffer.from(v, 'base64').toString('latin1');
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

/** Known fields per request, so a misspelled one is an error instead of silently ignored. */
function onlyKeys(o: Json, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(o).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new ApiError('INVALID', `${what}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
}

function rangeRequest(o: Json, what: string) {
  onlyKeys(o, ['key', 'range_end', 'limit', 'revision', 'sort_order', 'sort_target', 'serializable', 'keys_only', 'count_only',
    'min_mod_revision', 'max_mod_revision', 'min_create_revision', 'max_create_revision'], what);
  if (int(o['revision'], `${what}.revision`)) throw new ApiError('INVALID', `${what}.revision: historical reads are not kept; omit revision to read the latest`);
  return {
    key: b64ToBytes(o['key'], `${what}.key`),
    ...(o['range_end'] !== undefined ? { rangeEnd: b64ToBytes(o['range_end'], `${what}.range_end`) } : {}),
    ...(o['limit'] !== undefined ? { limit: int(o['limit'], `${what}.limit`)! } : {}),
    ...(o['keys_only'] !== undefined ? { keysOnly: bool(o['keys_only'], `${what}.keys_only`)! } : {}),
    ...(o['count_only'] !== undefined ? { countOnly: bool(o['count_only'], `${what}.count_only`)! } : {}),
  };
}

function putRequest(o: Json, what: string) {
  onlyKeys(o, ['key', 'value', 'prev_kv', 'lease', 'ignore_value', 'ignore_lease'], what);
  if (int(o['lease'], `${what}.lease`)) throw new ApiError('INVALID', `${what}.lease: leases are not supported`);
  return {
    key: b64ToBytes(o['key'], `${what}.key`),
    value: o['value'] === undefined ? '' : b64ToBytes(o['value'], `${what}.value`),
    ...(o['prev_kv'] !== undefined ? { prevKv: bool(o['prev_kv'], `${what}.prev_kv`)! } : {}),
  };
}

function deleteRequest(o: Json, what: string) {
  onlyKeys(o, ['key', 'range_end', 'prev_kv'], what);
  return {
    key: b64ToBytes(o['key'], `${what}.key`),
    ...(o['range_end'] !== undefined ? { rangeEnd: b64ToBytes(o['range_end'], `${what}.range_end`) } : {}),
    ...(o['prev_kv'] !== undefined ? { prevKv: bool(o['prev_kv'], `${what}.prev_kv`)! } : {}),
  };
}

function compare(o: Json, what: string) {
  onlyKeys(o, ['key', 'range_end', 'target', 'result', 'version', 'create_revision', 'mod_revision', 'value', 'lease'], what);
  if (o['range_end'] !== undefined) throw new ApiError('INVALID', `${what}.range_end: compares on ranges are not supported`);
  return {
    key: b64ToBytes(o['key'], `${what}.key`),
    target: enumOf(o['target'], TARGETS, `${what}.target`),
    result: enumOf(o['result'], RESULTS, `${what}.result`),
    ...(o['version'] !== undefined ? { version: int(o['version'], `${what}.version`)! } : {}),
    ...(o['create_revision'] !== undefined ? { createRevision: int(o['create_revision'], `${what}.create_revision`)! } : {}),
    ...(o['mod_revision'] !== undefined ? { modRevision: int(o['mod_revision'], `${what}.mod_revision`)! } : {}),
    ...(o['value'] !== undefined ? { value: b64ToBytes(o['value'], `${what}.value`) } : {}),
  };
}

function requestOp(o: Json, what: string) {
  const keys = Object.keys(o);
  if (keys.length !== 1) throw new ApiError('INVALID', `${what} must have exactly one of request_put, request_range, request_delete_range`);
  if (o['request_put'] !== undefined) return { requestPut: putRequest(object(o['request_put'], `${what}.request_put`), `${what}.request_put`) };
  if (o['request_range'] !== undefined) return { requestRange: rangeRequest(object(o['request_range'], `${what}.request_range`), `${what}.request_range`) };
  if (o['request_delete_range'] !== undefined) {
    return { requestDeleteRange: deleteRequest(object(o['request_delete_range'], `${what}.request_delete_range`), `${what}.request_delete_range`) };
  }
  throw new ApiError('INVALID', `${what}: unknown operation ${keys[0]}`);
}

function array(v: unknown, what: string): Json[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ApiError('INVALID', `${what} must be an array`);
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

export function etcdRoutes(app: OpenAPIHono, deps: ServerDeps): void {
  const clusterId = numericId(deps.config.meta.map((m) => m.id).sort().join(','));
  // Once, not per answer: a SHA-256 per response was 1.5% of a leader's CPU under a put load.
  const memberId = numericId(deps.self.id);
  const header = (revision: number) => ({
    cluster_id: clusterId,
    member_id: memberId,
    revision: String(revision),
    raft_term: String(deps.node.core.term),
  });
  const txnResponse = (r: TxnResponse, revision: number): Json => {
    if ('responseRange' in r) return { response_range: { header: header(revision), ...rangeJson(r.responseRange) } };
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
    const r = await writeCatalog<{ revision: number; prevKv?: KeyValue }>(deps, { type: 'kvPut', ...req });
    return c.json({ header: header(r.revision), ...(r.prevKv ? { prev_kv: kvJson(r.prevKv) } : {}) }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/range', summary: 'etcd v3 Range; serializable: true reads the local state', request: anyBody, responses: ok('RangeResponse') }), async (c) => {
    const body = await readBody(c);
    const req = rangeRequest(body, 'body');
    const catalog = await readCatalog(deps, c, bool(body['serializable'], 'body.serializable') === true);
    let r;
    try {
      r = catalog.kvRange(req);
    } catch (err) {
      throw new ApiError('INVALID', (err as Error).message);
    }
    return c.json({ header: header(r.revision), ...rangeJson(r) }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/deleterange', summary: 'etcd v3 DeleteRange', request: anyBody, responses: ok('DeleteRangeResponse') }), async (c) => {
    const req = deleteRequest(await readBody(c), 'body');
    const r = await writeCatalog<{ revision: number; deleted: number; prevKvs?: KeyValue[] }>(deps, { type: 'kvDeleteRange', ...req });
    return c.json({ header: header(r.revision), ...(r.deleted ? { deleted: String(r.deleted) } : {}), ...(r.prevKvs?.length ? { prev_kvs: r.prevKvs.map(kvJson) } : {}) }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/v3/kv/txn', summary: 'etcd v3 Txn (compare-and-set)', request: anyBody, responses: ok('TxnResponse') }), async (c) => {
    const body = await readBody(c);
    onlyKeys(body, ['compare', 'success', 'failure'], 'body');
    const command = {
      type: 'kvTxn',
      compare: array(body['compare'], 'compare').map((x, i) => compare(x, `compare[${i}]`)),
      success: array(body['success'], 'success').map((x, i) => requestOp(x, `success[${i}]`)),
      failure: array(body['failure'], 'failure').map((x, i) => requestOp(x, `failure[${i}]`)),
    };
    const r = await writeCatalog<{ revision: number; succeeded: boolean; responses: TxnResponse[] }>(deps, command);
    return c.json({
      header: header(r.revision),
      ...(r.succeeded ? { succeeded: true } : {}),
      ...(r.responses.length > 0 ? { responses: r.responses.map((x) => txnResponse(x, r.revision)) } : {}),
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
