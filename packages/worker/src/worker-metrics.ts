import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A worker's Prometheus metrics, on a registry of its own. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly segmentsLoaded = new Gauge({ name: 'cairn_worker_segments_loaded', help: 'Assigned segments in the local cache', registers: [this.registry] });
  readonly segmentsAssigned = new Gauge({ name: 'cairn_worker_segments_assigned', help: 'Segments assigned to this worker', registers: [this.registry] });
  readonly loadQueue = new Gauge({ name: 'cairn_worker_load_queue', help: 'Segments waiting to be fetched or being fetched', registers: [this.registry] });
  readonly cacheBytes = new Gauge({ name: 'cairn_worker_cache_bytes', help: 'Bytes of segment files in the local cache', registers: [this.registry] });
  readonly queuedUnits = new Gauge({ name: 'cairn_worker_query_units_queued', help: 'Per-segment query units waiting', registers: [this.registry] });
  readonly memoryBytes = new Gauge({ name: 'cairn_worker_memory_bytes', help: 'The bound on decoded segments (--memory)', registers: [this.registry] });
  /** Where the memory counted for decoded segments is read, at each scrape (see watchDecodedBytes). */
  private decodedBytesSource: (() => number) | null = null;
  private readonly decodedBytes = new Gauge({
    name: 'cairn_worker_decoded_bytes', help: 'Memory counted for decoded segments (bounded by --memory)', registers: [this.registry],
    collect: () => {
      if (this.decodedBytesSource) this.decodedBytes.set(this.decodedBytesSource());
    },
  });
  readonly decodes = new Counter({ name: 'cairn_worker_segment_decodes_total', help: 'Segment files decoded into memory (a steady climb under a steady query mix means --memory is too small)', registers: [this.registry] });
  readonly decodedEvictions = new Counter({ name: 'cairn_worker_decoded_evictions_total', help: 'Decoded segments dropped from memory to make room', registers: [this.registry] });
  readonly loads = new Counter({ name: 'cairn_worker_segment_loads_total', help: 'Segments fetched from deep storage', registers: [this.registry] });
  readonly loadErrors = new Counter({ name: 'cairn_worker_segment_load_errors_total', help: 'Failed fetches and corrupt files', registers: [this.registry] });
  private readonly queries = new Counter({ name: 'cairn_worker_queries_total', help: 'Segment queries answered', labelNames: ['type', 'result'], registers: [this.registry] });
  private readonly latency = new Histogram({
    name: 'cairn_worker_query_seconds', help: 'Time to answer a segment query', labelNames: ['type'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  private readonly missing = new Counter({ name: 'cairn_worker_segments_missing_total', help: 'Requested segments this worker did not have', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The segment store's decoded bytes, read at every scrape (current even while heartbeats fail). */
  watchDecodedBytes(source: () => number): void {
    this.decodedBytesSource = source;
  }

  observeQuery(type: string, result: string, seconds: number, answered: number, missing: number): void {
    this.queries.inc({ type, result });
    this.latency.observe({ type }, seconds);
    if (missing > 0) this.missing.inc(missing);
    void answered;
  }
}
