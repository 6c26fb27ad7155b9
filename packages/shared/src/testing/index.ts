export * from './purity.js';
export { until } from './until.js';
