import { existsSync, readFileSync } from 'node:fs';
import { CairnClient } from '../cairn-client.js';
import { CliError, parseFlags } from './flags.js';
import { formatTable } from './table.js';

/** Common: `--config cluster.json` (default ./cluster.json or CAIRN_CONFIG) and `--json`. */
function connect(flags: Record<string, string | boolean | undefined>, usage: string): CairnClient {
  const path = typeof flags['config'] === 'string' ? flags['config'] : (process.env['CAIRN_CONFIG'] ?? 'cluster.json');
  if (!existsSync(path)) throw new CliError(`cluster config ${path} not found (give --config FILE); usage: ${usage}`);
  return CairnClient.fromClusterFile(path);
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));
const bytes = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

export const STATUS_USAGE = 'cairn status [--config cluster.json] [--json]';
/** The cluster at a glance: meta members and the leader, workers with their health and cache, segment availability. */
export async function statusCommand(argv: readonly string[]): Promise<number> {
  const { flags } = parseFlags(argv, { config: 'string', json: 'boolean' }, STATUS_USAGE);
  const client = connect(flags, STATUS_USAGE);
  // All three at once; the two catalog reads settle into values, so neither is left rejecting
  // unhandled when the command ends early below.
  const coordinatorAnswer = client.coordinatorStatus().catch((err: Error) => ({ error: err.message }));
  const workersAnswer: Promise<{ workers: unknown[] } | { error: string }> = client.workers().catch((err: Error) => ({ error: err.message }));
  const members = await client.metaStatus();
  // No member answered: the group is down or the config points elsewhere. Tables of unreachable
  // members and of no workers would pass for a cluster that merely has no workers, with exit 0.
  // (The catalog reads still retrying are cut short by the exit.)
  if (!members.some((m) => m.status)) {
    throw new Error(`no member of the metadata group answered: ${members.map((m) => `${m.id} at ${m.url} (${m.error ?? 'no answer'})`).join(', ')}`);
  }
  const [coordinator, workers] = await Promise.all([coordinatorAnswer, workersAnswer]);
  // Members answered but the workers could not be listed (no leader, no quorum): the status of
  // what answered is still worth printing, but an empty workers table would claim there are none.
  const workersFailed = 'error' in workers ? new Error(`cannot list the workers: ${workers.error}`) : null;
  if (flags['json']) {
    json({ meta: members, coordinator, workers: 'error' in workers ? { error: workers.error } : workers.workers });
    if (workersFailed) throw workersFailed;
    return 0;
  }
  out('metadata group');
  out(formatTable(['member', 'url', 'role', 'term', 'leader', 'commit', 'applied'], members.map((m) => [
    m.id, m.url, m.status ? String(m.status['role']) : `unreachable (${m.error ?? ''})`, String(m.status?.['term'] ?? ''), String(m.status?.['leader'] ?? ''),
    String(m.status?.['commitIndex'] ?? ''), String(m.status?.['appliedIndex'] ?? ''),
  ])));
  const c = coordinator as { stats?: { segments: number; unavailable: number; underReplicated: number; workers: { id: string; segments: number; loadQueue: number; health: string }[] }; workers?: { id: string; lastHeartbeatAgoMs: number | null; loaded: number; cacheBytes: number; queuedUnits: number }[]; error?: string; waiting?: string | null };
  out('\nworkers');
  if ('error' in workers) out(`  cannot list the workers: ${workers.error}`);
  const registered = ('error' in workers ? [] : workers.workers) as { id: string; url: string; tier: string; dc: string; state: string; capacityBytes: number }[];
  if (!('error' in workers)) out(formatTable(['worker', 'tier', 'dc', 'state', 'health', 'segments', 'loaded', 'queue', 'cache', 'capacity', 'url'], registered.map((w) => {
    const live = c.workers?.find((x) => x.id === w.id);
    const plan = c.stats?.workers.find((x) => x.id === w.id);
    const health = live?.lastHeartbeatAgoMs === null || live === undefined ? 'no heartbeat' : live.lastHeartbeatAgoMs < 5000 ? 'up' : `silent ${Math.round(live.lastHeartbeatAgoMs / 1000)} s`;
    return [w.id, w.tier, w.dc, w.state, health, String(plan?.segments ?? ''), String(live?.loaded ?? ''), String(plan?.loadQueue ?? ''), bytes(live?.cacheBytes ?? 0), bytes(w.capacityBytes), w.url];
  })));
  out('\nsegments');
  if (c.stats) out(`  ${c.stats.segments} used, ${c.stats.unavailable} unavailable, ${c.stats.underReplicated} under-replicated`);
  else out(`  coordinator: ${c.error ?? c.waiting ?? 'no status yet'}`);
  if (workersFailed) throw workersFailed;
  return 0;
}

export const DATASOURCES_USAGE = 'cairn datasources [--config cluster.json] [--json]';
export async function datasourcesCommand(argv: readonly string[]): Promise<number> {
  const { flags } = parseFlags(argv, { config: 'string', json: 'boolean' }, DATASOURCES_USAGE);
  const r = await connect(flags, DATASOURCES_USAGE).datasources();
  if (flags['json']) return json(r), 0;
  const rows = r.datasources as { name: string; usedSegments: number; usedRows: number; usedBytes: number; minTime: string | null; maxTime: string | null }[];
  out(formatTable(['datasource', 'segments', 'rows', 'size', 'from', 'to'], rows.map((d) => [d.name, String(d.usedSegments), d.usedRows.toLocaleString('en-US'), bytes(d.usedBytes), d.minTime ?? '', d.maxTime ?? ''])));
  return 0;
}

export const SEGMENTS_USAGE = 'cairn segments [--datasource NAME] [--interval START/END] [--all] [--config cluster.json] [--json]';
export async function segmentsCommand(argv: readonly string[]): Promise<number> {
  const { flags } = parseFlags(argv, { config: 'string', json: 'boolean', datasource: 'string', interval: 'string', all: 'boolean' }, SEGMENTS_USAGE);
  const r = await connect(flags, SEGMENTS_USAGE).segments({
    ...(typeof flags['datasource'] === 'string' ? { dataSource: flags['datasource'] } : {}),
    ...(typeof flags['interval'] === 'string' ? { interval: flags['interval'] } : {}),
    ...(flags['all'] ? { includeUnused: true, includeOvershadowed: true } : {}),
  });
  if (flags['json']) return json(r), 0;
  const rows = r.segments as { id: string; rows: number; size: number; used: boolean }[];
  out(formatTable(['segment', 'rows', 'size', 'used'], rows.map((s) => [s.id, String(s.rows), bytes(s.size), s.used ? 'yes' : 'no'])));
  out(`${r.total} segment(s)`);
  return 0;
}

export const WORKERS_USAGE = 'cairn workers [--config cluster.json] [--json]';
export async function workersCommand(argv: readonly string[]): Promise<number> {
  const { flags } = parseFlags(argv, { config: 'string', json: 'boolean' }, WORKERS_USAGE);
  const r = await connect(flags, WORKERS_USAGE).workers();
  if (flags['json']) return json(r), 0;
  const rows = r.workers as { id: string; url: string; tier: string; dc: string; state: string; capacityBytes: number; version: string }[];
  out(formatTable(['worker', 'url', 'tier', 'dc', 'state', 'capacity', 'version'], rows.map((w) => [w.id, w.url, w.tier, w.dc, w.state, bytes(w.capacityBytes), w.version])));
  return 0;
}

export const RULES_USAGE = 'cairn rules get DATASOURCE | cairn rules set DATASOURCE RULES.json|\'[...]\' [--config cluster.json] [--json]';
export async function rulesCommand(argv: readonly string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, { config: 'string', json: 'boolean' }, RULES_USAGE);
  const [verb, ds, arg] = positional;
  if ((verb !== 'get' && verb !== 'set') || !ds || (verb === 'set' && !arg)) throw new CliError(`usage: ${RULES_USAGE}`);
  const client = connect(flags, RULES_USAGE);
  if (verb === 'get') {
    json(await client.rules(ds));
    return 0;
  }
  const text = arg!.trim().startsWith('[') ? arg! : readText(arg!);
  let rules: unknown;
  try {
    rules = JSON.parse(text);
  } catch (err) {
    throw new CliError(`rules are not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(rules)) throw new CliError('rules must be a JSON array');
  const r = await client.setRules(ds, rules);
  out(r.changed ? `rules of ${ds} replaced` : `rules of ${ds} unchanged`);
  return 0;
}

export const QUERY_USAGE = 'cairn query QUERY.json|\'{...}\' [--config cluster.json] [--json]';
/** Runs a native Druid query: a table for people, the raw Druid response with --json. */
export async function queryCommand(argv: readonly string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, { config: 'string', json: 'boolean' }, QUERY_USAGE);
  if (positional.length !== 1) throw new CliError(`expected one query; usage: ${QUERY_USAGE}`);
  const arg = positional[0]!;
  const text = arg.trim().startsWith('{') ? arg : readText(arg);
  let query: unknown;
  try {
    query = JSON.parse(text);
  } catch (err) {
    throw new CliError(`the query is not JSON: ${(err as Error).message}`);
  }
  const client = connect(flags, QUERY_USAGE);
  const started = performance.now();
  const answer = await client.queryWithContext(query);
  if (flags['json']) return json(answer.results), 0;
  const flat = flatten(answer.results);
  const columns = [...new Set(flat.flatMap((r) => Object.keys(r)))];
  out(formatTable(columns, flat.map((r) => columns.map((c) => cell(r[c])))));
  out(`${flat.length} row(s) in ${((performance.now() - started) / 1000).toFixed(3)} s`);
  if (answer.context.missingSegments.length > 0) out(`partial answer: ${answer.context.missingSegments.length} segment(s) missing (${answer.context.uncoveredIntervals.join(', ')})`);
  return 0;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Druid's nested result shapes as flat rows: timestamp plus the result/event fields. */
function flatten(results: readonly unknown[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const r of results as Record<string, unknown>[]) {
    if (Array.isArray(r['result'])) for (const x of r['result'] as Record<string, unknown>[]) rows.push({ timestamp: r['timestamp'], ...x });
    else if (r['result'] && typeof r['result'] === 'object') rows.push({ timestamp: r['timestamp'], ...(r['result'] as object) });
    else if (r['event']) rows.push({ timestamp: r['timestamp'], ...(r['event'] as object) });
    else if (Array.isArray(r['events'])) for (const e of r['events'] as unknown[]) rows.push(Array.isArray(e) ? Object.fromEntries((r['columns'] as string[]).map((c, i) => [c, e[i]])) : (e as Record<string, unknown>));
    else rows.push(r);
  }
  return rows;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 3 });
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
