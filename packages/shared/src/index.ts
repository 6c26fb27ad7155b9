export * from './time.js';
export * from './json.js';
export * from './zod-error.js';
export * from './catalog-types.js';
// The catalog recognises Cairn's own segment keys without loading the deep-storage drivers.
export { SEGMENT_KEY_SUFFIX, segmentKeyPrefix } from './deep-storage/keys.js';
export * from './rules.js';
export * from './timeline.js';
export * from './segment/types.js';
export * from './query/index.js';
export * from './answer-version.js';
export * from './id-set-hash.js';
