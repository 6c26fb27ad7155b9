export * from './types.js';
export { RaftCore } from './raft.js';
export { RaftLog } from './log.js';
export type { RaftConfig, RaftRestore, ProposeResult, ProposeError } from './raft.js';
export type { ConfChange } from './conf-change.js';
export { encodeConfChange, decodeConfChange, applyConfChange } from './conf-change.js';
export { Prng } from './prng.js';
export { InvariantError } from './assert.js';
export { quorumSize, majorityIndex } from './quorum.js';
