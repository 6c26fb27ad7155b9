import { Agent, request } from 'node:http';

/**
 * A small keep-alive HTTP/1.1 client on node:http (cheaper per request than fetch, which matters
 * when the load generator shares two cores with six servers). Never throws on HTTP errors: a
 * network error or a timeout comes back as status 0 with the message in `error`.
 */
export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly error?: string;
}

export function keepAliveAgent(maxSockets = 64): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
}

export function httpRequest(
  agent: Agent,
  base: string,
  path: string,
  opts: { method?: string; body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Reply> {
  const url = new URL(path, base);
  return new Promise<Reply>((resolve) => {
    let settled = false;
    const done = (r: Reply) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const headers: Record<string, string | number> = { ...opts.headers };
    if (opts.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = Buffer.byteLength(opts.body);
    }
    const req = request(
      { agent, hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => done({ status: 0, text: '', error: err.message }));
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => {
      req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 10_000} ms`));
    });
    req.on('error', (err) => done({ status: 0, text: '', error: err.message }));
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export function jsonOf<T = any>(r: Reply): T | null {
  try {
    return JSON.parse(r.text) as T;
  } catch {
    return null;
  }
}
