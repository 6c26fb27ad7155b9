/**
 * One error class for everything a query can fail with, one table of codes. Each code carries
 * the HTTP status and the `error` / `errorClass` strings Druid's brokers answer with, so a Druid
 * client that inspects them (Superset, pydruid, Turnilo) reacts the way it would to Druid.
 */

export const QUERY_ERRORS = {
  /** The query is malformed: a missing field, a wrong type, an unknown name. */
  INVALID_QUERY: { status: 400, error: 'Json parse failed', errorClass: 'org.apache.druid.query.BadJsonQueryException' },
  /** The query is well formed but asks for something this engine does not do. */
  UNSUPPORTED: { status: 501, error: 'Unsupported query', errorClass: 'org.apache.druid.query.QueryUnsupportedException' },
  /** A named bound was hit (buckets, groups, rows queued for ordering, sketch memory). */
  RESOURCE_LIMIT: { status: 400, error: 'Resource limit exceeded', errorClass: 'org.apache.druid.query.ResourceLimitExceededException' },
  /** The node has too much work queued; retry later or elsewhere. */
  QUERY_CAPACITY_EXCEEDED: { status: 429, error: 'Query capacity exceeded', errorClass: 'org.apache.druid.query.QueryCapacityExceededException' },
  /** Some segments could be answered by no replica (the caller did not allow a partial answer). */
  SEGMENTS_UNAVAILABLE: { status: 503, error: 'Segments unavailable', errorClass: 'org.apache.druid.query.QueryUnavailableException' },
  QUERY_TIMEOUT: { status: 504, error: 'Query timeout', errorClass: 'java.util.concurrent.TimeoutException' },
  QUERY_CANCELLED: { status: 500, error: 'Query cancelled', errorClass: 'java.util.concurrent.CancellationException' },
  INTERNAL: { status: 500, error: 'Unknown exception', errorClass: 'java.lang.RuntimeException' },
} as const;

export type QueryErrorCode = keyof typeof QUERY_ERRORS;

/** Druid's legacy error body: `{error, errorMessage, errorClass, host}`. */
export interface DruidErrorBody {
  error: string;
  errorMessage: string;
  errorClass: string;
  host: string | null;
}

/**
 * A query failed. `message` names the field at fault for INVALID_QUERY
 * (`aggregations[2].fieldName: required`).
 */
export class QueryError extends Error {
  override name = 'QueryError';
  constructor(
    readonly code: QueryErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return QUERY_ERRORS[this.code].status;
  }

  /** The body a Druid broker would send for this error. */
  toDruid(host: string | null = null): DruidErrorBody {
    const info = QUERY_ERRORS[this.code];
    return { error: info.error, errorMessage: this.message, errorClass: info.errorClass, host };
  }
}

/** Shorthand for an INVALID_QUERY error at `path`: `invalid('aggregations[2].fieldName', 'required')`. */
export function invalidQuery(path: string, message: string): QueryError {
  return new QueryError('INVALID_QUERY', path ? `${path}: ${message}` : message);
}

/** Turns anything thrown while planning or running a query into a QueryError (INTERNAL if unknown). */
export function toQueryError(err: unknown): QueryError {
  if (err instanceof QueryError) return err;
  if (err instanceof RangeError && /allocation|Array buffer|Invalid typed array length/i.test(err.message)) {
    return new QueryError('RESOURCE_LIMIT', `out of memory: ${err.message}`);
  }
  return new QueryError('INTERNAL', err instanceof Error ? err.message : String(err));
}
