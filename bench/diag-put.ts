/**
 * Diagnosis helper for bench/meta.ts: one Cairn group, sequential and concurrent puts, with an
 * optional raft section, printing client latency and the leader's commit-latency histogram.
 *   DIAG_RAFT='{"tickMs":10,"electionTicks":30,"heartbeatTicks":5}' pnpm exec tsx bench/diag-put.ts
 * DIAG_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles every node (written on SIGTERM exit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpRequest, keepAliveAgent } from './lib/http.js';
import { cpuMs, killAllSync, stopAll } from './lib/procs.js';
import { fmtMs, histogram, histogramQuantileBound, parseMetrics, quantile, sortedCopy } from './lib/stats.js';
import { CairnGroup, waitLeader } from './lib/systems.js';

const raft = process.env['DIAG_RAFT'] ? (JSON.parse(process.env['DIAG_RAFT']) as Record<string, number>) : undefined;
const nodeArgs = (process.env['DIAG_NODE_ARGS'] ?? '').split(' ').filter((s) => s !== '');
const ops = Number(process.env['DIAG_OPS'] ?? 500);
const dir = mkdtempSync(join(tmpdir(), 'cairn-diag-'));
process.on('exit', () => killAllSync());
process.on('SIGINT', () => void stopAll(2000).finally(() => process.exit(130)));

const value = Buffer.alloc(256, 7).toString('base64');
const body = (i: number) => `{"key":"${Buffer.from(`diag/${i % 1000}`).toString('base64')}","value":"${value}"}`;

async function run(cairn: CairnGroup, leader: string, clients: number, n: number): Promise<void> {
  const agent = keepAliveAgent(clients);
  const before = histogram(parseMetrics(await cairn.metrics(leader)), 'cairn_raft_commit_latency_seconds');
  const cpu0 = cairn.ids.map((id) => cpuMs(cairn.proc(id).pid) ?? 0);
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) {
      const i = next++;
      const s = performance.now();
      const r = await httpRequest(agent, cairn.url(leader), '/v3/kv/put', { body: body(i), headers: cairn.headers });
      if (r.status !== 200) throw new Error(`put: ${r.status} ${r.text}`);
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  const cpu = cairn.ids.map((id, i) => (cpuMs(cairn.proc(id).pid) ?? 0) - cpu0[i]!);
  const after = histogram(parseMetrics(await cairn.metrics(leader)), 'cairn_raft_commit_latency_seconds');
  const sorted = sortedCopy(lat);
  const h50 = histogramQuantileBound(before, after, 0.5);
  const h99 = histogramQuantileBound(before, after, 0.99);
  process.stdout.write(`${clients} clients: ${(n / secs).toFixed(0)} ops/s, client p50 ${fmtMs(quantile(sorted, 0.5))} p90 ${fmtMs(quantile(sorted, 0.9))} p99 ${fmtMs(quantile(sorted, 0.99))}; `
    + `commit latency p50 <= ${fmtMs(h50.bound * 1000)}, p99 <= ${fmtMs(h99.bound * 1000)}; CPU per put ${cairn.ids.map((id, i) => `${id}${id === leader ? '(L)' : ''} ${(cpu[i]! / n).toFixed(2)} ms`).join(', ')}\n`);
  agent.destroy();
}

async function main(): Promise<void> {
  const cairn = new CairnGroup(dir, nodeArgs, raft);
  await cairn.start();
  const leader = (await waitLeader(cairn)).id;
  process.stdout.write(`raft ${JSON.stringify(raft ?? 'defaults')}, leader ${leader}\n`);
  const idleSeconds = Number(process.env['DIAG_IDLE_SECONDS'] ?? 0);
  if (idleSeconds > 0) {
    const c0 = cairn.ids.map((id) => cpuMs(cairn.proc(id).pid) ?? 0);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const c1 = cairn.ids.map((id) => cpuMs(cairn.proc(id).pid) ?? 0);
    process.stdout.write(`idle ${idleSeconds} s: CPU ms per second ${cairn.ids.map((id, i) => `${id}${id === leader ? '(L)' : ''} ${((c1[i]! - c0[i]!) / idleSeconds).toFixed(0)}`).join(', ')}\n`);
  }
  await run(cairn, leader, 4, 200);
  await run(cairn, leader, 1, ops);
  await run(cairn, leader, 16, ops * 4);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll(10_000);
    if (process.env['DIAG_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`kept ${dir}\n`);
    process.exit();
  });
