/**
 * What a command returns. A command either succeeds with data or fails with a code from one
 * small table and a message naming what is wrong; a failed command changes nothing. Codes map
 * onto HTTP statuses at the edge (`status` here is the suggestion).
 */
import type { SegmentRecord } from '@cairn/shared';

export const CATALOG_ERRORS = {
  INVALID: { status: 400, meaning: 'the command is malformed or breaks a rule of the catalog' },
  NOT_FOUND: { status: 404, meaning: 'a datasource, segment or worker the command names does not exist' },
  ALREADY_EXISTS: { status: 409, meaning: 'the thing to create exists already' },
  CONFLICT: { status: 409, meaning: 'the command contradicts the state (a segment id republished with other content)' },
  LIMIT_EXCEEDED: { status: 413, meaning: 'the command would grow the catalog past one of its bounds' },
} as const;

export type CatalogErrorCode = keyof typeof CATALOG_ERRORS;

export interface CommandFailure {
  readonly ok: false;
  readonly error: { readonly code: CatalogErrorCode; readonly message: string };
}

export function fail(code: CatalogErrorCode, message: string): CommandFailure {
  return { ok: false, error: { code, message } };
}

/** A key-value pair of the etcd-style namespace; `value` is absent for keys-only reads. */
export interface KeyValue {
  readonly key: string;
  readonly value?: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface RangeResponse {
  readonly kvs: KeyValue[];
  readonly count: number;
  readonly more: boolean;
}
export interface PutResponse {
  readonly prevKv?: KeyValue;
}
export interface DeleteRangeResponse {
  readonly deleted: number;
  readonly prevKvs?: KeyValue[];
}
export type TxnResponse = { readonly responseRange: RangeResponse } | { readonly responsePut: PutResponse } | { readonly responseDeleteRange: DeleteRangeResponse };

export interface PublishOk {
  readonly ok: true;
  /** True when this ingestion id had been applied before: the original result, and nothing changed now. */
  readonly replayed: boolean;
  /** Segments added by this publish. */
  readonly published: number;
  /** Segments of the publish that existed already, identical, and were left as they were (or were listed twice). */
  readonly unchanged: number;
}

export type CommandSuccess =
  | { readonly ok: true }
  | PublishOk
  | { readonly ok: true; readonly changed: number }
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: true; readonly created: boolean }
  | { readonly ok: true; readonly unassigned: number }
  | { readonly ok: true; readonly added: number; readonly removed: number }
  | ({ readonly ok: true; readonly revision: number } & PutResponse)
  | ({ readonly ok: true; readonly revision: number } & DeleteRangeResponse)
  | { readonly ok: true; readonly revision: number; readonly succeeded: boolean; readonly responses: TxnResponse[] };

export type CommandResult = CommandSuccess | CommandFailure;

/** One datasource as `datasources()` lists it; the time bounds are over used segments (null when none). */
export interface DatasourceSummary {
  readonly name: string;
  readonly createdAt: number;
  readonly usedSegments: number;
  readonly unusedSegments: number;
  readonly usedBytes: number;
  readonly usedRows: number;
  readonly minStart: number | null;
  readonly maxEnd: number | null;
}

/** A segment and the workers assigned to serve it. */
export interface Assignment {
  readonly segmentId: string;
  readonly workerIds: readonly string[];
}

export interface SegmentQuery {
  readonly dataSource?: string;
  /** Only segments overlapping this interval (`start/end`, ISO-8601). */
  readonly interval?: string;
  readonly includeUnused?: boolean;
  readonly includeOvershadowed?: boolean;
  /** Leave out the segments of incomplete groups (what queries may read; see `incompleteFlags`). */
  readonly completeOnly?: boolean;
}

/** Counts of each kind of record (and of the things behind them). */
export interface CatalogStats {
  readonly datasources: number;
  readonly segments: number;
  readonly usedSegments: number;
  readonly schemas: number;
  readonly ingestions: number;
  readonly ruleSets: number;
  readonly workers: number;
  readonly assignedSegments: number;
  readonly assignments: number;
  readonly kvKeys: number;
  readonly kvRevision: number;
}

export type { SegmentRecord };

/**
 * The fields of a segment that placing it needs (the coordinator's planner reads these), without
 * the checksum, schema and location a full record carries. The catalog hands out views of its
 * table (`SlotBrief`): read the fields, do not serialize the object.
 */
export type SegmentBrief = Pick<SegmentRecord, 'id' | 'dataSource' | 'start' | 'end' | 'version' | 'partition' | 'partitions' | 'size'>;

/** Used segments of one datasource overlapping an interval, and whether each is overshadowed. */
export interface OvershadowNear {
  readonly ids: readonly string[];
  /** Per id: 1 when complete higher versions overshadow it. */
  readonly flags: Uint8Array;
}
