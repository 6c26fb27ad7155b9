/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by file, and the share
 * of idle, GC and program time.
 *   pnpm exec tsx bench/cpuprofile-top.ts FILE.cpuprofile [top=30]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: cpuprofile-top.ts FILE.cpuprofile [top]\n');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
const total = (p.endTime - p.startTime) / 1000;

const short = (url: string) => url.replace(/^file:\/\//, '').replace(/.*\/node_modules\/\.pnpm\/([^/]+)\/node_modules\//, '$1: ').replace('/work/main/', '');
const fnKey = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
const fileKey = (n: Node) => (n.callFrame.url ? short(n.callFrame.url).replace(/:.*$/, '') : n.callFrame.functionName);

const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  byFn.set(fnKey(n), (byFn.get(fnKey(n)) ?? 0) + us);
  byFile.set(fileKey(n), (byFile.get(fileKey(n)) ?? 0) + us);
}
/** Inclusive time of frames from our own source (packages/), attributed per function. */
const inclusive = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!;
    if (!n.callFrame.url.includes('/packages/')) continue;
    const k = fnKey(n);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / 1000 / total).toFixed(1).padStart(5)}%`;
const idle = byFn.get([...byFn.keys()].find((k) => k.startsWith('(idle)')) ?? '') ?? 0;
process.stdout.write(`${file}: ${total.toFixed(0)} ms profiled, busy ${((total * 1000 - idle) / 1000).toFixed(0)} ms\n`);
process.stdout.write('\n-- self time by file\n');
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)}  ${k}\n`);
process.stdout.write('\n-- self time by function\n');
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)}  ${k}\n`);
process.stdout.write('\n-- inclusive time of functions in packages/\n');
for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)}  ${k}\n`);
