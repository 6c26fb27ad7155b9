/**
 * A linearizability checker for key-value histories (Wing & Gong search with Lowe's
 * memoization, one register per key), proven on recorded Jepsen histories.
 */

export type { Input, Operation, RegisterValue, Status, Value } from './history.js';
export { describeOperation } from './history.js';
export type { Model } from './model.js';
export { registerModel } from './register-model.js';
export { DEFAULT_MAX_STEPS, searchLinearization } from './check.js';
export type { SearchOptions, SearchOutcome, SearchProgress } from './check.js';
export { checkHistory, checkKey, partitionByKey } from './check-history.js';
export type {
  CheckOptions,
  HistoryResult,
  KeyResult,
  KeyStats,
  LinearizableKey,
  UnknownKey,
  Verdict,
  ViolationKey,
} from './check-history.js';
export { checkKvWorkload, kvToHistory } from './kv-workload.js';
export type { KvOperation, KvWorkloadResult } from './kv-workload.js';
export { parseJepsenLog } from './jepsen-log.js';
export type { JepsenLogOptions } from './jepsen-log.js';
