export * from './time.js';
export * from './json.js';
export * from './zod-error.js';
export * from './catalog-types.js';
export * from './rules.js';
export * from './timeline.js';
export * from './segment/types.js';
export * from './query/index.js';
