import { randomInt } from 'node:crypto';
import { Prng } from '../../packages/meta-raft/src/core/prng.js';
import { checkKvWorkload } from '../../packages/meta-raft/src/lincheck/index.js';
import type { KvOperation, KvWorkloadResult } from '../../packages/meta-raft/src/lincheck/index.js';
import { TEST_TOKEN } from './meta-cluster.js';
import { waitFor } from './processes.js';

/**
 * A Jepsen-style client history over the etcd v3 JSON gateway of real nodes: concurrent
 * clients, each with one request in flight, issue put (`/v3/kv/put`), linearizable get
 * (`/v3/kv/range`) and compare-and-set (`/v3/kv/txn` comparing VALUE, or VERSION = 0 for a key
 * that should be missing) against random nodes, on a key prefix of their own, and record
 * call/return times for the linearizability checker.
 *
 * Outcomes are classified by what the service guarantees (see `classify`): an operation is
 * `fail` only when the answer proves it had no effect, and `info` (unknown) otherwise. A client
 * whose operation ended `info` continues as a new process, since the old one may still be
 * "in flight" forever as far as the checker knows.
 */

export type OpKind = 'get' | 'put' | 'cas';
export type Outcome = 'ok' | 'fail' | 'info';

/**
 * Error codes whose 503 or 429 means that the write certainly had no effect: the node was not
 * the leader (checked before proposing), there was no leader, the proposal was overwritten by
 * another leader's entry at its index, or it was refused for load. A relay to the leader that
 * failed in transit is not among them: it answers 504 (or, when the connection was refused
 * and so nothing was sent, 503 NOT_LEADER).
 */
export const NO_EFFECT_CODES: ReadonlySet<string> = new Set(['NOT_LEADER', 'NO_LEADER', 'NOT_COMMITTED', 'OVERLOADED']);

/** What one HTTP exchange tells about an operation's effect. */
export function classify(kind: OpKind, res: { status: number; body: unknown } | { error: unknown }): Outcome {
  if ('error' in res) return 'info'; // network error or client timeout: it may have been applied
  const { status, body } = res;
  if (status === 200) {
    if (kind !== 'cas') return 'ok';
    // A txn whose compare failed answers 200 without `succeeded` (proto3 omits false): no effect.
    return (body as { succeeded?: boolean } | null)?.succeeded === true ? 'ok' : 'fail';
  }
  // Requests refused before anything was proposed: auth, validation, size limits.
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'fail';
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  if ((status === 503 || status === 429) && typeof code === 'string' && NO_EFFECT_CODES.has(code)) return 'fail';
  return 'info'; // 504, 500, STOPPED, anything unexpected
}

export interface KvHistoryOptions {
  /** Seeds every client's choices; printed by whoever creates the history. */
  readonly seed: number;
  /** Base URLs of the nodes worth sending to right now (e.g. the running, unpaused ones). */
  readonly targets: () => readonly string[];
  readonly clients?: number;
  readonly keys?: number;
  /** Key prefix; `run-<seed>` by default, so two runs never share keys. */
  readonly prefix?: string;
  /** A request with no answer after this long is `info`. */
  readonly requestTimeoutMs?: number;
  /** Each client waits up to this long (seeded) between operations, to leave the nodes some CPU. */
  readonly thinkMsMax?: number;
  /** The clients issue at most this many operations in all, so a history stays small enough to check. */
  readonly opsMax?: number;
  readonly token?: string;
}

interface Counts {
  ok: number;
  fail: number;
  info: number;
  okWrites: number;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/** A seed from CAIRN_TEST_SEED, or a fresh one. */
export function testSeed(): number {
  const env = process.env['CAIRN_TEST_SEED'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CAIRN_TEST_SEED must be a non-negative integer, not ${env}`);
    return n;
  }
  return randomInt(2 ** 31);
}

export class KvHistory {
  readonly history: KvOperation[] = [];
  readonly keys: readonly string[];
  readonly counts: Counts = { ok: 0, fail: 0, info: 0, okWrites: 0 };
  private readonly opts: Required<Omit<KvHistoryOptions, 'prefix'>> & { prefix: string };
  private running = false;
  private loops: Promise<void>[] = [];
  private nextProcess = 0;
  private issued = 0;
  /** Per client: the last value it saw or wrote on each key, for its compare-and-sets. */
  private readonly seen: Map<string, string | null>[] = [];
  private readonly epoch = performance.now();

  constructor(options: KvHistoryOptions) {
    this.opts = {
      clients: 4,
      keys: 4,
      requestTimeoutMs: 3000,
      thinkMsMax: 10,
      opsMax: 5000,
      token: TEST_TOKEN,
      ...options,
      prefix: options.prefix ?? `run-${options.seed}`,
    };
    this.keys = Array.from({ length: this.opts.keys }, (_, i) => `${this.opts.prefix}-k${i}`);
  }

  /** Every key this history uses starts with this. */
  get prefix(): string {
    return this.opts.prefix;
  }

  /** Starts the clients; they run until `stop()`. */
  start(): void {
    if (this.running) throw new Error('already running');
    this.running = true;
    for (let c = 0; c < this.opts.clients; c++) {
      this.seen[c] ??= new Map();
      this.loops.push(this.client(c));
    }
  }

  /** Stops issuing operations and waits for those in flight to end (each within the request timeout). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Waits until `n` more writes were acknowledged (`ok`) than when it was called. */
  async waitOkWrites(n: number, what: string, timeoutMs = 60_000): Promise<void> {
    const target = this.counts.okWrites + n;
    await waitFor(`${n} acknowledged writes ${what} (${this.counts.okWrites} of ${target} so far)`, timeoutMs, () => {
      if (this.counts.okWrites >= target) return true;
      if (this.issued >= this.opts.opsMax) throw new Error(`the clients issued all ${this.opts.opsMax} operations they may (opsMax) before ${n} more writes were acknowledged ${what}`);
      return undefined;
    });
  }

  /** Checks the history recorded so far. */
  check(): KvWorkloadResult {
    return checkKvWorkload(this.history);
  }

  /** One line for the test's output. */
  summary(): string {
    const c = this.counts;
    return `${this.history.length} operations on ${this.keys.length} keys (${c.ok} ok, ${c.fail} fail, ${c.info} info; ${c.okWrites} acknowledged writes; ${this.nextProcess} processes)`;
  }

  /** Acknowledged (`ok`) and possibly applied (`info`) writes per key: put or cas. */
  writesPerKey(): Map<string, { ok: number; info: number }> {
    const out = new Map(this.keys.map((k) => [k, { ok: 0, info: 0 }]));
    for (const op of this.history) {
      if (op.type === 'get') continue;
      const w = out.get(op.key)!;
      if (op.status === 'ok') w.ok++;
      else if (op.status === 'info') w.info++;
    }
    return out;
  }

  /** A linearizable read of `key` on `url`, recorded in the history as its own process. */
  async read(url: string, key: string): Promise<{ outcome: Outcome; value: string | null }> {
    const process = this.nextProcess++;
    const r = await this.exchange(url, { kind: 'get', key });
    this.record(process, { kind: 'get', key }, r.call, r.ret, r.outcome, r.value);
    return { outcome: r.outcome, value: r.value };
  }

  private async client(c: number): Promise<void> {
    const prng = new Prng(this.opts.seed * 1009 + c);
    const seen = this.seen[c]!;
    let process = this.nextProcess++;
    let n = 0;
    while (this.running && this.issued < this.opts.opsMax) {
      const targets = this.opts.targets();
      if (targets.length === 0) {
        // Every node is down: think, then look again.
        await pause(20);
        continue;
      }
      this.issued++;
      const url = prng.pick(targets);
      const key = prng.pick(this.keys);
      const roll = prng.float();
      const value = `${this.opts.prefix}-c${c}-${++n}`;
      let op: Op;
      if (roll < 0.4) op = { kind: 'get', key };
      else if (roll < 0.7) op = { kind: 'put', key, value };
      else {
        // Mostly compare against what this client last saw, so that a good share succeed.
        const from = prng.chance(0.8) ? (seen.get(key) ?? null) : prng.chance(0.5) ? null : `${this.opts.prefix}-c${prng.int(this.opts.clients)}-${prng.between(1, n)}`;
        op = { kind: 'cas', key, from, value };
      }
      const r = await this.exchange(url, op);
      this.record(process, op, r.call, r.ret, r.outcome, r.value);
      if (r.outcome === 'ok') seen.set(key, op.kind === 'get' ? r.value : op.value);
      // The process that lost track of its operation never returns; the client goes on as a new one.
      if (r.outcome === 'info') process = this.nextProcess++;
      const think = prng.int(this.opts.thinkMsMax + 1);
      if (think > 0 && this.running) await pause(think);
    }
  }

  private async exchange(url: string, op: Op): Promise<{ call: number; ret: number; outcome: Outcome; value: string | null }> {
    const call = this.now();
    let res: { status: number; body: unknown } | { error: unknown };
    try {
      const r = await fetch(`${url}${PATHS[op.kind]}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.opts.token}` },
        body: JSON.stringify(requestBody(op)),
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      });
      const text = await r.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      res = { status: r.status, body };
    } catch (error) {
      res = { error };
    }
    const ret = this.now();
    const outcome = classify(op.kind, res);
    let value: string | null = null;
    if (outcome === 'ok' && op.kind === 'get') {
      const kvs = ((res as { body: { kvs?: { value?: string }[] } }).body.kvs ?? []);
      // A key that exists always has a value here: every write writes a non-empty one.
      value = kvs.length === 0 ? null : unb64(kvs[0]!.value ?? '');
    }
    return { call, ret, outcome, value };
  }

  private record(process: number, op: Op, call: number, ret: number, status: Outcome, value: string | null): void {
    this.counts[status]++;
    if (status === 'ok' && op.kind !== 'get') this.counts.okWrites++;
    const base = { process, key: op.key, status, call, ...(status === 'info' ? {} : { ret }) };
    switch (op.kind) {
      case 'get':
        this.history.push({ ...base, type: 'get', ...(status === 'ok' ? { result: value } : {}) });
        return;
      case 'put':
        this.history.push({ ...base, type: 'put', value: op.value });
        return;
      case 'cas':
        this.history.push({ ...base, type: 'cas', from: op.from, to: op.value });
        return;
    }
  }

  /** Milliseconds since this history began (performance.now() is monotonic). */
  private now(): number {
    return performance.now() - this.epoch;
  }
}

type Op =
  | { kind: 'get'; key: string }
  | { kind: 'put'; key: string; value: string }
  | { kind: 'cas'; key: string; from: string | null; value: string };

const PATHS: Record<OpKind, string> = { get: '/v3/kv/range', put: '/v3/kv/put', cas: '/v3/kv/txn' };

function requestBody(op: Op): unknown {
  switch (op.kind) {
    case 'get':
      return { key: b64(op.key) };
    case 'put':
      return { key: b64(op.key), value: b64(op.value) };
    case 'cas': {
      // A missing key has version 0; etcd fails every VALUE compare on a missing key.
      const compare = op.from === null
        ? { key: b64(op.key), target: 'VERSION', result: 'EQUAL', version: '0' }
        : { key: b64(op.key), target: 'VALUE', result: 'EQUAL', value: b64(op.from) };
      return { compare: [compare], success: [{ request_put: { key: b64(op.key), value: b64(op.value) } }], failure: [] };
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
