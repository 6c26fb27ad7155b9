export { Catalog, type CatalogLoader, type CatalogOptions } from './catalog.js';
export {
  catalogCommandSchema,
  catalogLimits,
  kvRangeRequestSchema,
  type CatalogCommand,
  type KvRangeRequest,
  type ParsedCommand,
} from './commands.js';
export {
  CATALOG_ERRORS,
  type Assignment,
  type CatalogErrorCode,
  type CatalogStats,
  type CommandFailure,
  type CommandResult,
  type CommandSuccess,
  type DatasourceSummary,
  type DeleteRangeResponse,
  type KeyValue,
  type OvershadowNear,
  type SegmentBrief,
  type PublishOk,
  type PutResponse,
  type RangeResponse,
  type SegmentQuery,
  type TxnResponse,
} from './results.js';
export type { RecordWrite } from './writes.js';
export { checkIntervals } from './kv.js';
export { PREFIX as RECORD_PREFIX, KV_REVISION_KEY, latin1ToHex, hexToLatin1 } from './keys.js';
export { coordinatorConfigSchema, COORDINATOR_CONFIG_KEY, type CoordinatorConfig } from './coordinator-config.js';
