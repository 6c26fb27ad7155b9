import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { isRunning, logTail, type Proc, startProcess, stopProcess, waitExit, waitFor } from '../lib/processes.js';

const CAIRN = fileURLToPath(new URL('../../packages/client/bin/cairn.mjs', import.meta.url));
const PARQUET = fileURLToPath(new URL('../../node_modules/vega-datasets/data/flights-3m.parquet', import.meta.url));
const ROWS = 100_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('the quickstart runs to completion on a slice of the flights, survives its worker kill, and Ctrl-C stops every process', async (t) => {
  // The teardown before t.testdir(): tap removes the folder after the teardowns registered first.
  let qs: Proc | null = null;
  t.teardown(() => (qs ? stopProcess(qs) : undefined));
  const dir = t.testdir();
  const home = join(dir, 'qs');
  const log = join(dir, 'quickstart.log');
  qs = startProcess('quickstart', [CAIRN, 'quickstart', '--dir', home, '--port', 'auto', '--rows', String(ROWS)], log);
  const text = () => readFileSync(log, 'utf8');
  await waitFor('the quickstart to finish its tour', 240_000, () => {
    if (!isRunning(qs)) throw new Error(`the quickstart exited (${qs.exitCode}):\n${logTail(qs, 60)}`);
    return text().includes('Press Ctrl-C to stop every process.') ? true : undefined;
  }, 200);
  const output = text();
  t.comment(output);

  for (const step of ['1. The metadata group', '2. Three stateless query workers', '3. Ingesting the first 100,000 flights', '4. Queries', '5. Failure: SIGKILL w2', '6. Restart w2']) {
    t.ok(output.includes(step), `step: ${step}`);
  }
  t.match(output, /100,000 rows in \d+ daily segments/, 'the slice was ingested');
  t.match(output, /the same three queries again, at once: identical answers/, 'answers unchanged right after the kill');
  t.match(output, /\d+ queries asked during the recovery: every answer identical, none failed/, 'answers unchanged during the recovery');
  t.match(output, /all \d+ segments had 2 live replicas again/, 'the coordinator re-replicated');
  t.match(output, /the queries once more: identical answers/, 'answers unchanged after the restart');

  // The cluster it leaves running answers Druid queries over HTTP, and the answer is right:
  // flights and total delay per day, against DuckDB over the same first rows of the file.
  const nodes = [...output.matchAll(/^ {2}(m\d|w\d) +(meta|worker) +(http:\S+) +pid (\d+)/gm)].map((m) => ({ id: m[1]!, kind: m[2]!, url: m[3]!, pid: Number(m[4]) }));
  t.equal(nodes.length, 6, 'six processes listed');
  t.ok(nodes.every((n) => alive(n.pid)), 'all of them running');
  const byDay = {
    queryType: 'timeseries', dataSource: 'flights', intervals: ['2001-01-01/2001-08-01'], granularity: 'day',
    aggregations: [{ type: 'count', name: 'flights' }, { type: 'longSum', name: 'delay', fieldName: 'delay' }],
  };
  const res = await fetch(`${nodes.find((n) => n.id === 'w3')!.url}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(byDay) });
  t.equal(res.status, 200);
  const got = ((await res.json()) as { timestamp: string; result: { flights: number; delay: number } }[]).map((r) => [r.timestamp.slice(0, 10), r.result.flights, r.result.delay]);
  const duck = await (await DuckDBInstance.create(':memory:')).connect();
  const want = (await duck.runAndReadAll(`SELECT strftime(date_trunc('day', date), '%Y-%m-%d') AS d, count(*)::INTEGER, sum(delay)::BIGINT
    FROM (SELECT * FROM '${PARQUET}' LIMIT ${ROWS}) GROUP BY d ORDER BY d`)).getRows().map((r) => [r[0], Number(r[1]), Number(r[2])]);
  t.same(got, want, `per-day flights and delay equal DuckDB's (${want.length} days)`);

  // Ctrl-C: the quickstart stops every process it started, by pid, and exits cleanly.
  process.kill(qs.pid, 'SIGINT');
  t.ok(await waitExit(qs, 30_000), 'the quickstart exits after Ctrl-C');
  t.equal(qs.exitCode, 0, 'with status 0');
  await waitFor('every node to be gone', 15_000, () => (nodes.every((n) => !alive(n.pid)) ? true : undefined), 50);
  t.pass('every node it started has stopped');
  t.match(text(), /Ctrl-C: stopping every process\.\.\.\nstopped\./);
});

t.test('bad arguments: one line and a non-zero exit', async (t) => {
  const dir = t.testdir({ 'not-ours': { 'keep.txt': 'precious' } });
  const cases: [string[], RegExp][] = [
    [['--rows', 'lots'], /^cairn: --rows must be a positive integer, not "lots"\n$/],
    [['--port', '80'], /^cairn: --port must be a port between 1024 and 65000, or auto; not "80"\n$/],
    [['--dir', join(dir, 'not-ours')], /^cairn: .*not-ours holds files the quickstart did not make; pass --dir with an empty or new folder\n$/],
    [['--bogus'], /^cairn: unknown option --bogus; usage: cairn quickstart/],
  ];
  for (const [args, message] of cases) {
    const log = join(dir, `bad-${cases.findIndex((c) => c[0] === args)}.log`);
    const p = startProcess('quickstart', [CAIRN, 'quickstart', ...args], log);
    await p.exited;
    t.equal(p.exitCode, 2, `${args.join(' ')}: exit 2`);
    t.match(readFileSync(log, 'utf8'), message, `${args.join(' ')}: the error names the problem`);
  }
  t.equal(readFileSync(join(dir, 'not-ours', 'keep.txt'), 'utf8'), 'precious', 'a folder the quickstart did not make is left alone');
});
