import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { errorBody } from './errors.js';

/** Constant-time comparison, so a token cannot be guessed byte by byte from response times. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Requires `Authorization: Bearer <token>`; 401 otherwise. */
export function requireToken(token: string): MiddlewareHandler {
  return async (c, next) => {
    if (!tokenMatches(c.req.header('authorization'), token)) {
      return c.json(errorBody('UNAUTHORIZED', 'this request needs "Authorization: Bearer <token>" with the cluster token'), 401);
    }
    await next();
  };
}
