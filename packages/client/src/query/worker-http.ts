import { Agent, request } from 'node:http';
import { QUERY_ERRORS, QueryError } from '@cairn/shared';
import type { PartialResult, QueryErrorCode } from '@cairn/shared';

/** A worker's answer to a per-segment query. */
export interface SegmentsAnswer {
  readonly queryId: string;
  /**
   * One partial per segment, or (when the request asked `merge: true` and the worker can) one
   * partial covering several segments. Both shapes are accepted: older workers send the first.
   */
  readonly partials: readonly ({ readonly segmentId: string; readonly partial: PartialResult } | { readonly segmentIds: readonly string[]; readonly partial: PartialResult })[];
  readonly missing: readonly string[];
}

/** A worker answered with an error, in Druid's shape. */
export class WorkerError extends Error {
  override name = 'WorkerError';
  constructor(readonly status: number, readonly body: { error?: string; errorMessage?: string; errorClass?: string } | null, message: string) {
    super(message);
  }

  /** Whether another replica may answer where this one did not (overloaded, broken, timed out). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/**
 * The query's error when worker `workerId` refused it (a 4xx): the code whose Druid error name
 * the worker answered with (a resource limit stays a resource limit), else INVALID_QUERY for a
 * 400 and INTERNAL otherwise, with a message naming the worker and what it said.
 */
export function refusalError(workerId: string, err: WorkerError): QueryError {
  const name = err.body?.error;
  const codes = Object.keys(QUERY_ERRORS) as QueryErrorCode[];
  const code = codes.find((c) => QUERY_ERRORS[c].error === name) ?? (err.status === 400 ? 'INVALID_QUERY' : 'INTERNAL');
  return new QueryError(code, `worker ${workerId} refused the query: HTTP ${err.status}${name ? ` ${name}` : ''}: ${err.body?.errorMessage ?? err.message}`);
}

/**
 * What one query may gather from workers by default: 256 MiB of answers (retries and hedges
 * included) before it fails with RESOURCE_LIMIT, so one query cannot exhaust the memory of the
 * process running the client. Druid's broker has the same limit (`maxScatterGatherBytes`),
 * unbounded by default; the query context raises or lowers it.
 */
export const SCATTER_GATHER_BYTES_DEFAULT = 256 * 1024 * 1024;

/** The bytes of worker answers one query has gathered, against its limit. */
export class GatherBudget {
  private used = 0;

  constructor(
    readonly limit: number,
    private readonly queryId: string,
  ) {}

  /** Counts `n` more bytes; false once the total is over the limit. */
  take(n: number): boolean {
    this.used += n;
    return this.used <= this.limit;
  }

  exceeded(): QueryError {
    return new QueryError('RESOURCE_LIMIT', `query ${this.queryId} gathered more than ${this.limit} bytes of answers from workers; narrow it, or raise context.maxScatterGatherBytes`);
  }
}

/** Connections to workers are kept alive: a query is many small requests. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** POSTs `body` as JSON to `url`; aborts with `signal`; the answer's bytes count against `budget`. */
export function postJson<T>(url: string, body: unknown, signal: AbortSignal, budget?: GatherBudget): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = request(url, { method: 'POST', agent, signal, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (budget !== undefined && !budget.take(c.length)) {
          // Counted as it arrives: an answer is dropped before it is whole, not after.
          reject(budget.exceeded());
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => reject(new WorkerError(0, null, `${url}: ${err.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          // not JSON
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(json as T);
        else {
          const b = json as { errorMessage?: string } | null;
          reject(new WorkerError(status, json as WorkerError['body'], `${url}: HTTP ${status}: ${b?.errorMessage ?? text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', (err) => reject(signal.aborted ? err : new WorkerError(0, null, `${url}: ${err.message}`)));
    req.end(payload);
  });
}

/** Best effort: tells a worker to drop a sub-query's remaining work. */
export function cancelOn(baseUrl: string, queryId: string): void {
  const req = request(`${baseUrl}/v1/queries/${encodeURIComponent(queryId)}`, { method: 'DELETE', agent, timeout: 2000 });
  req.on('error', () => {});
  // `timeout` only reports idleness: without destroying the request, cancels to a paused worker
  // would hold the agent's sockets forever and every later cancel would queue behind them.
  req.on('timeout', () => req.destroy());
  req.on('response', (res) => res.resume());
  req.end();
}
