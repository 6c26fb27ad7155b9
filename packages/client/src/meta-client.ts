/**
 * Talks to the metadata group: finds the leader, follows "not the leader" hints, and retries what
 * is safe to retry, within a bound. Writes go to the leader directly when it is known (a follower
 * would relay them anyway); reads go to whichever member answers.
 */
export interface MetaMemberRef {
  readonly id: string;
  readonly url: string;
}

export class MetaError extends Error {
  override name = 'MetaError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Retryable: nothing happened (no leader yet, leadership moved, overloaded) or the member is unreachable. */
const RETRYABLE_CODES = new Set(['NO_LEADER', 'NOT_LEADER', 'NOT_COMMITTED', 'OVERLOADED', 'STOPPED']);
/**
 * Retryable for idempotent requests only: the outcome is unknown. TIMEOUT means the write may
 * still commit; a 502/503/504 without the group's error code came from something in between (a
 * proxy, a load balancer) and says nothing about whether the request reached the group.
 */
const OUTCOME_UNKNOWN_CODES = new Set(['TIMEOUT', 'HTTP_502', 'HTTP_503', 'HTTP_504']);
const ATTEMPTS_MAX = 12;
const BACKOFF_MS_MAX = 1000;
const REQUEST_TIMEOUT_MS = 30_000;

export class MetaClient {
  private leader: string | null = null;

  constructor(readonly members: readonly MetaMemberRef[], private readonly token: string) {
    if (members.length === 0) throw new Error('MetaClient: no meta members');
  }

  async get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  async put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  /**
   * One request with bounded retries. A write is retried only when the error guarantees it had no
   * effect (or, for idempotent writes such as a publish with an ingestion id, always).
   */
  async request<T>(method: string, path: string, body?: unknown, opts: { idempotent?: boolean } = {}): Promise<T> {
    const idempotent = method === 'GET' || opts.idempotent === true;
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
      const member = this.pick(attempt);
      try {
        const res = await fetch(`${member.url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        // An error page from a proxy is not JSON: its status still tells what happened.
        const json = text ? (res.ok ? (JSON.parse(text) as unknown) : parseOrNull(text)) : null;
        if (res.ok) {
          if (method !== 'GET') this.leader = res.headers.get('x-cairn-forwarded-by') ?? member.id;
          return json as T;
        }
        const err = (json as { error?: { code?: string; message?: string; leader?: string } } | null)?.error;
        const code = err?.code ?? `HTTP_${res.status}`;
        const error = new MetaError(res.status, code, err?.message ?? `HTTP ${res.status} from ${member.url}${path}`);
        if (OUTCOME_UNKNOWN_CODES.has(code) && !idempotent) throw new MetaError(error.status, code, `${error.message}; its outcome is unknown`);
        if (!RETRYABLE_CODES.has(code) && !OUTCOME_UNKNOWN_CODES.has(code)) throw error;
        this.leader = err?.leader && this.members.some((m) => m.id === err.leader) ? err.leader : null;
        lastError = error;
      } catch (err) {
        if (err instanceof MetaError) throw err;
        // Unreachable member or timeout: a read may go elsewhere; a non-idempotent write's outcome
        // is unknown, so it is not retried.
        lastError = err as Error;
        this.leader = null;
        if (!idempotent) throw new MetaError(0, 'UNAVAILABLE', `${method} ${path} at ${member.url}: ${(err as Error).message}; its outcome is unknown`);
      }
      await new Promise((r) => setTimeout(r, Math.min(BACKOFF_MS_MAX, 25 * 2 ** attempt)));
    }
    throw new MetaError(0, 'UNAVAILABLE', `${method} ${path}: no member of the metadata group could serve it (${lastError?.message ?? 'no answer'})`);
  }

  /**
   * A conditional GET: the body and its ETag, or `notModified` when the member says nothing
   * changed since `etag`. Tries each member once (reads go anywhere; followers relay leader-only
   * reads to the leader).
   */
  async getIfChanged<T>(path: string, etag: string | null): Promise<{ notModified: true } | { notModified: false; body: T; etag: string | null }> {
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < this.members.length * 2; attempt++) {
      const member = this.pick(attempt);
      try {
        const res = await fetch(`${member.url}${path}`, {
          headers: etag ? { 'if-none-match': etag } : {},
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        if (res.status === 304) {
          await res.arrayBuffer();
          return { notModified: true };
        }
        const text = await res.text();
        if (res.ok) return { notModified: false, body: JSON.parse(text) as T, etag: res.headers.get('etag') };
        const err = (JSON.parse(text || 'null') as { error?: { code?: string; message?: string; leader?: string } } | null)?.error;
        lastError = new MetaError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `HTTP ${res.status}`);
        this.leader = err?.leader ?? null;
      } catch (err) {
        lastError = err as Error;
        this.leader = null;
      }
    }
    throw new MetaError(0, 'UNAVAILABLE', `GET ${path}: no member answered (${lastError?.message ?? 'no answer'})`);
  }

  private pick(attempt: number): MetaMemberRef {
    const leader = this.leader ? this.members.find((m) => m.id === this.leader) : undefined;
    if (leader) return leader;
    return this.members[attempt % this.members.length]!;
  }
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
