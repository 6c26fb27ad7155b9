export * from './types.js';
export * from './segment-file.js';
export * from './dimension-encoding.js';
