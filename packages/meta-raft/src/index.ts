export * from './core/index.js';
export * as lincheck from './lincheck/index.js';
