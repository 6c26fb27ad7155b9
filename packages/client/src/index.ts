export { MetaClient, MetaError } from './meta-client.js';
export type { MetaMemberRef } from './meta-client.js';
export { runIngestion, IngestError } from './ingest/ingest.js';
export type { IngestOptions, IngestReport, ParseError } from './ingest/ingest.js';
export { parseIngestionSpec, ingestionSpecSchema, SpecError } from './ingest/spec.js';
export type { IngestionSpec } from './ingest/spec.js';
