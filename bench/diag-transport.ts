/**
 * What one peer message costs over loopback HTTP/1.1 keep-alive, the way transport.ts sends it
 * (fetch with AbortSignal.timeout, JSON body) against node:http with a keep-alive agent: latency
 * and CPU per request of the sender and of the receiver (a bare node:http server answering 204).
 *   pnpm exec tsx bench/diag-transport.ts [requests=3000]
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest, keepAliveAgent } from './lib/http.js';
import { cpuMs } from './lib/procs.js';
import { fmtMs, quantile, sortedCopy } from './lib/stats.js';

if (process.argv[2] === 'server') {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.statusCode = 204;
      res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
} else {
  const n = Number(process.argv[2] ?? 3000);
  const child = fork(new URL(import.meta.url).pathname, ['server'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((r) => child.once('message', (m) => r(m as number)));
  const url = `http://127.0.0.1:${port}`;
  const body = JSON.stringify({ from: 'm1', messages: [{ type: 'append', from: 'm1', to: 'm2', term: 5, index: 100, logTerm: 5, commit: 99, entries: [{ term: 5, index: 101, type: 'normal', data: Buffer.alloc(300, 1).toString('base64') }] }] });
  const agent = keepAliveAgent(1);
  const variants: [string, () => Promise<void>][] = [
    ['fetch + AbortSignal.timeout (transport.ts)', async () => {
      const res = await fetch(`${url}/raft/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body, signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
    }],
    ['node:http keep-alive agent', async () => {
      await httpRequest(agent, url, '/raft/v1/messages', { body, headers: { authorization: 'Bearer x' }, timeoutMs: 5000 });
    }],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [name, send] of variants) {
      for (let i = 0; i < 200; i++) await send(); // warm-up
      const lat: number[] = [];
      const self0 = process.cpuUsage();
      const peer0 = cpuMs(child.pid!) ?? 0;
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await send();
        lat.push(performance.now() - s);
      }
      const self = process.cpuUsage(self0);
      const peer = (cpuMs(child.pid!) ?? 0) - peer0;
      const sorted = sortedCopy(lat);
      if (round === 1) {
        process.stdout.write(`${name}: p50 ${fmtMs(quantile(sorted, 0.5))}, p99 ${fmtMs(quantile(sorted, 0.99))}; CPU per request: sender ${((self.user + self.system) / 1000 / n).toFixed(3)} ms, receiver ${(peer / n).toFixed(3)} ms\n`);
      }
    }
  }
  child.kill('SIGTERM');
  agent.destroy();
}
