import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Agent } from 'node:http';
import { httpRequest, jsonOf, keepAliveAgent } from './http.js';
import { freePorts, isRunning, logTail, signal, startProcess, stopProcess, waitFor } from './procs.js';
import type { Proc } from './procs.js';

/**
 * The two systems under test behind one interface: a three-member group on loopback whose
 * members can be killed, terminated and restarted by pid, and whose status (leader, term,
 * commit and applied index) can be read per member.
 */
export interface MemberStatus {
  readonly id: string;
  /** The member this one believes leads ('' if none). */
  readonly leader: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
}

export interface KvSystem {
  readonly name: string;
  readonly ids: readonly string[];
  /** Headers for every KV request (the write token, when the system takes one). */
  readonly headers: Record<string, string>;
  readonly agent: Agent;
  url(id: string): string;
  proc(id: string): Proc;
  start(): Promise<void>;
  /** Starts (or restarts) one member; returns at once. */
  spawn(id: string): Proc;
  status(id: string, timeoutMs?: number): Promise<MemberStatus>;
  running(): string[];
}

export const CAIRN_BIN = fileURLToPath(new URL('../../packages/meta-raft/bin/cairn-meta.mjs', import.meta.url));
export const CAIRN_TOKEN = 'bench-token-0123456789';

export class CairnGroup implements KvSystem {
  readonly name = 'cairn';
  readonly ids = ['m1', 'm2', 'm3'];
  readonly headers = { authorization: `Bearer ${CAIRN_TOKEN}` };
  readonly agent = keepAliveAgent(8);
  private readonly urls = new Map<string, string>();
  private readonly procs = new Map<string, Proc>();
  readonly configPath: string;

  constructor(readonly dir: string, private readonly nodeArgs: readonly string[] = [], private readonly raft?: Record<string, number>, private readonly logLevel = 'info') {
    this.configPath = join(dir, 'cluster.json');
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const ports = await freePorts(this.ids.length);
    this.ids.forEach((id, i) => this.urls.set(id, `http://127.0.0.1:${ports[i]}`));
    writeFileSync(this.configPath, JSON.stringify({
      meta: this.ids.map((id) => ({ id, url: this.urls.get(id)!, dc: 'dc1' })),
      deepStorage: { type: 'local', path: join(this.dir, 'deep') },
      auth: { token: CAIRN_TOKEN },
      ...(this.raft ? { raft: this.raft } : {}),
    }, null, 2));
    for (const id of this.ids) this.spawn(id);
    await Promise.all(this.ids.map((id) => this.waitAnswering(id, 60_000)));
  }

  url(id: string): string {
    return this.urls.get(id)!;
  }

  proc(id: string): Proc {
    return this.procs.get(id)!;
  }

  spawn(id: string): Proc {
    const existing = this.procs.get(id);
    if (existing && isRunning(existing)) throw new Error(`${id} is already running`);
    const data = join(this.dir, id);
    mkdirSync(data, { recursive: true });
    const p = startProcess(`cairn ${id}`, process.execPath, [...this.nodeArgs, CAIRN_BIN, '--config', this.configPath, '--id', id, '--data', data], join(this.dir, `${id}.log`), { CAIRN_LOG_LEVEL: this.logLevel });
    this.procs.set(id, p);
    return p;
  }

  running(): string[] {
    return this.ids.filter((id) => {
      const p = this.procs.get(id);
      return p !== undefined && isRunning(p);
    });
  }

  async status(id: string, timeoutMs = 1000): Promise<MemberStatus> {
    const r = await httpRequest(this.agent, this.url(id), '/v1/status', { timeoutMs });
    if (r.status !== 200) throw new Error(`status of cairn ${id}: ${r.status} ${r.error ?? r.text.slice(0, 200)}`);
    const s = jsonOf<{ id: string; leader: string; term: number; commitIndex: number; appliedIndex: number }>(r)!;
    return { id: s.id, leader: s.leader, term: s.term, commit: s.commitIndex, applied: s.appliedIndex };
  }

  async metrics(id: string): Promise<string> {
    const r = await httpRequest(this.agent, this.url(id), '/metrics', { timeoutMs: 10_000 });
    if (r.status !== 200) throw new Error(`metrics of cairn ${id}: ${r.status} ${r.error ?? ''}`);
    return r.text;
  }

  async waitAnswering(id: string, timeoutMs: number): Promise<void> {
    await waitFor(`cairn ${id} to answer /v1/status`, timeoutMs, async () => {
      const p = this.procs.get(id)!;
      if (!isRunning(p)) throw new Error(`cairn ${id} exited (${p.exit}):\n${logTail(p)}`);
      return (await this.status(id, 500)) ? true : undefined;
    }, 10);
  }
}

/** etcd's own flags that differ from its defaults, so that both systems time out alike. */
export interface EtcdTiming {
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly preVote: boolean;
}

export class EtcdCluster implements KvSystem {
  readonly name = 'etcd';
  readonly ids = ['e1', 'e2', 'e3'];
  /**
   * No Authorization header: etcd 3.4.23 with auth disabled answers every request carrying one
   * with 401 "etcdserver: invalid auth token" (checked by `start`), so it cannot take the same
   * headers as Cairn. The JSON bodies are identical.
   */
  readonly headers: Record<string, string> = {};
  readonly agent = keepAliveAgent(8);
  private readonly clientUrls = new Map<string, string>();
  private readonly peerUrls = new Map<string, string>();
  private readonly procs = new Map<string, Proc>();
  /** etcd's numeric member ids (decimal strings) to our names. */
  private readonly names = new Map<string, string>();
  version = '';

  constructor(readonly dir: string, readonly timing: EtcdTiming) {}

  static installed(): string | null {
    try {
      return execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
    } catch {
      return null;
    }
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const ports = await freePorts(this.ids.length * 2);
    this.ids.forEach((id, i) => {
      this.clientUrls.set(id, `http://127.0.0.1:${ports[2 * i]}`);
      this.peerUrls.set(id, `http://127.0.0.1:${ports[2 * i + 1]}`);
    });
    for (const id of this.ids) this.spawn(id);
    for (const id of this.ids) {
      await waitFor(`etcd ${id} to answer`, 30_000, async () => {
        const p = this.procs.get(id)!;
        if (!isRunning(p)) throw new Error(`etcd ${id} exited (${p.exit}):\n${logTail(p)}`);
        const r = await httpRequest(this.agent, this.url(id), '/v3/maintenance/status', { body: '{}', timeoutMs: 1000 });
        const s = r.status === 200 ? jsonOf(r) : null;
        if (!s) return undefined;
        this.names.set(String(s.header.member_id), id);
        this.version = String(s.version);
        return true;
      });
    }
  }

  url(id: string): string {
    return this.clientUrls.get(id)!;
  }

  proc(id: string): Proc {
    return this.procs.get(id)!;
  }

  spawn(id: string): Proc {
    const existing = this.procs.get(id);
    if (existing && isRunning(existing)) throw new Error(`${id} is already running`);
    const cluster = this.ids.map((m) => `${m}=${this.peerUrls.get(m)}`).join(',');
    const p = startProcess(`etcd ${id}`, 'etcd', [
      '--name', id,
      '--data-dir', join(this.dir, id),
      '--listen-client-urls', this.url(id),
      '--advertise-client-urls', this.url(id),
      '--listen-peer-urls', this.peerUrls.get(id)!,
      '--initial-advertise-peer-urls', this.peerUrls.get(id)!,
      '--initial-cluster', cluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'cairn-bench',
      '--heartbeat-interval', String(this.timing.heartbeatMs),
      '--election-timeout', String(this.timing.electionMs),
      `--pre-vote=${this.timing.preVote}`,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ], join(this.dir, `${id}.log`));
    this.procs.set(id, p);
    return p;
  }

  running(): string[] {
    return this.ids.filter((id) => {
      const p = this.procs.get(id);
      return p !== undefined && isRunning(p);
    });
  }

  async status(id: string, timeoutMs = 1000): Promise<MemberStatus> {
    const r = await httpRequest(this.agent, this.url(id), '/v3/maintenance/status', { body: '{}', timeoutMs });
    if (r.status !== 200) throw new Error(`status of etcd ${id}: ${r.status} ${r.error ?? r.text.slice(0, 200)}`);
    const s = jsonOf(r)!;
    const leader = s.leader && s.leader !== '0' ? (this.names.get(String(s.leader)) ?? `?${s.leader}`) : '';
    return { id, leader, term: Number(s.raftTerm ?? s.header.raft_term), commit: Number(s.raftIndex ?? 0), applied: Number(s.raftAppliedIndex ?? 0) };
  }
}

/** Waits until the running members agree on one leader in one term; returns it. */
export async function waitLeader(sys: KvSystem, timeoutMs = 30_000): Promise<MemberStatus> {
  return waitFor(`${sys.name}: a leader agreed by every running member`, timeoutMs, async () => {
    const among = sys.running();
    const statuses = await Promise.all(among.map((id) => sys.status(id, 3000).catch(() => null)));
    const first = statuses[0];
    if (!first || !first.leader || !among.includes(first.leader)) return undefined;
    if (!statuses.every((s) => s && s.leader === first.leader && s.term === first.term)) return undefined;
    return statuses.find((s) => s!.id === first.leader) ?? undefined;
  });
}

/** Waits until `id` answers and has applied everything the leader had committed when asked. */
export async function waitCaughtUp(sys: KvSystem, id: string, timeoutMs = 120_000): Promise<void> {
  const leader = await waitLeader(sys, timeoutMs);
  // A busy leader (building a snapshot, say) can take seconds to answer.
  const target = await waitFor(`${sys.name} leader ${leader.id} to answer`, timeoutMs, async () => (await sys.status(leader.id, 5000)).commit);
  await waitFor(`${sys.name} ${id} to apply index ${target}`, timeoutMs, async () => {
    const p = sys.proc(id);
    if (!isRunning(p)) throw new Error(`${sys.name} ${id} exited (${p.exit}):\n${logTail(p)}`);
    const s = await sys.status(id, 5000);
    return s.applied >= target ? true : undefined;
  }, 10);
}

/** Kills the member `id` with `sig` and waits for it to be gone. */
export async function killMember(sys: KvSystem, id: string, sig: NodeJS.Signals): Promise<void> {
  const p = sys.proc(id);
  signal(p, sig);
  await Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (isRunning(p)) await stopProcess(p, 1000);
}
