import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type WatchedGauge = 'segmentsLoaded' | 'segmentsAssigned' | 'loadQueue' | 'cacheBytes' | 'queuedUnits' | 'decodedBytes';

/** A worker's Prometheus metrics, on a registry of its own. */
export class WorkerMetrics {
  readonly registry = new Registry();
  /** Where the gauges below are read, at each scrape (see `watch`): current even while heartbeats fail. */
  private sources: Partial<Record<WatchedGauge, () => number>> = {};
  readonly segmentsLoaded = this.watchedGauge('segmentsLoaded', 'cairn_worker_segments_loaded', 'Assigned segments in the local cache');
  readonly segmentsAssigned = this.watchedGauge('segmentsAssigned', 'cairn_worker_segments_assigned', 'Segments assigned to this worker');
  readonly loadQueue = this.watchedGauge('loadQueue', 'cairn_worker_load_queue', 'Segments waiting to be fetched or being fetched');
  readonly cacheBytes = this.watchedGauge('cacheBytes', 'cairn_worker_cache_bytes', 'Bytes of segment files in the local cache');
  readonly queuedUnits = this.watchedGauge('queuedUnits', 'cairn_worker_query_units_queued', 'Per-segment query units waiting');
  readonly memoryBytes = new Gauge({ name: 'cairn_worker_memory_bytes', help: 'The bound on decoded segments (--memory)', registers: [this.registry] });
  readonly decodedBytes = this.watchedGauge('decodedBytes', 'cairn_worker_decoded_bytes', 'Memory counted for decoded segments (bounded by --memory)');
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

  /**
   * Gauges read from their sources at every scrape rather than set by the heartbeat: while
   * registration or heartbeats fail they would otherwise stay stale, or 0.
   */
  watch(sources: Partial<Record<WatchedGauge, () => number>>): void {
    this.sources = { ...this.sources, ...sources };
  }

  private watchedGauge(key: WatchedGauge, name: string, help: string): Gauge {
    const sources = () => this.sources;
    return new Gauge({
      name, help, registers: [this.registry],
      collect() {
        const source = sources()[key];
        if (source) this.set(source());
      },
    });
  }

  observeQuery(type: string, result: string, seconds: number, answered: number, missing: number): void {
    this.queries.inc({ type, result });
    this.latency.observe({ type }, seconds);
    if (missing > 0) this.missing.inc(missing);
    void answered;
  }
}
