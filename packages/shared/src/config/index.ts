export * from './cluster-config.js';
