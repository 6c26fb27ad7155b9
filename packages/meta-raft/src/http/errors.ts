import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { RaftError } from '../node/raft-node.js';

/**
 * One table of error codes and their HTTP status, one error class, one normaliser: every
 * failure leaves as `{error: {code, message}}` with the status its code implies.
 */
export const ERROR_STATUS = {
  INVALID: 400,
  PROTOCOL_VERSION: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OVERLOADED: 429,
  INTERNAL: 500,
  NOT_LEADER: 503,
  NO_LEADER: 503,
  NOT_COMMITTED: 503,
  STOPPED: 503,
  TIMEOUT: 504,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly code: ErrorCode, message: string, readonly leader?: string) {
    super(message);
  }
}

export function errorBody(code: ErrorCode, message: string, leader?: string): { error: { code: ErrorCode; message: string; leader?: string } } {
  return { error: { code, message, ...(leader ? { leader } : {}) } };
}

/** Turns anything thrown into an API error; unknown throws become INTERNAL without leaking stacks. */
export function normalizeError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RaftError) return new ApiError(err.code, err.message, err.leader || undefined);
  if (err instanceof SyntaxError) return new ApiError('INVALID', `malformed JSON: ${err.message}`);
  // Hono's own validators throw HTTPException: the JSON body validator throws a 400 for a body
  // that is not JSON ("Malformed JSON in request body"). Without this it left as a 500 INTERNAL,
  // which tells a client the server failed when the request was at fault.
  if (err instanceof HTTPException && err.status < 500) {
    const code = err.status === 401 ? 'UNAUTHORIZED' : err.status === 404 ? 'NOT_FOUND' : err.status === 413 ? 'PAYLOAD_TOO_LARGE' : err.status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID';
    return new ApiError(code, err.message || `bad request (HTTP ${err.status})`);
  }
  return new ApiError('INTERNAL', err instanceof Error ? err.message : String(err));
}

export function sendError(c: Context, err: unknown): Response {
  const e = normalizeError(err);
  return c.json(errorBody(e.code, e.message, e.leader), ERROR_STATUS[e.code]);
}
