/**
 * `runOnSegment`: one query over one loaded segment, to a JSON-serializable partial result
 * that `mergePartials` combines with others and `finalizeResult` turns into Druid's response.
 * Pure and synchronous: a function of the query, the segment and the options.
 */
import { toQueryError, type LoadedSegment, type PartialResult, type Query } from '@cairn/shared';
import { runAggregate } from './aggregate.js';
import { Guard, type ExecutionOptions } from './execution.js';
import { runScan } from './scan.js';
import { releaseScratch } from './scratch.js';
import { runSegmentMetadata } from './segment-metadata.js';
import { runTimeBoundary } from './time-boundary.js';

/**
 * Answers `query` (already validated by `parseQuery`) over `segment`.
 * @throws QueryError: QUERY_CANCELLED / QUERY_TIMEOUT from the options, RESOURCE_LIMIT when a
 *   named bound is hit, INTERNAL for anything unexpected.
 * @example runOnSegment(parseQuery({queryType: 'timeBoundary', dataSource: 'w'}), segment)
 */
export function runOnSegment(query: Query, segment: LoadedSegment, options: ExecutionOptions = {}): PartialResult {
  const guard = new Guard(options);
  try {
    guard.check();
    switch (query.queryType) {
      case 'timeseries':
      case 'topN':
      case 'groupBy':
        return runAggregate(query, segment, guard);
      case 'scan':
        return runScan(query, segment, guard);
      case 'timeBoundary':
        return runTimeBoundary(query, segment, guard);
      case 'segmentMetadata':
        return runSegmentMetadata(query, segment, guard);
    }
  } catch (err) {
    throw toQueryError(err);
  } finally {
    releaseScratch();
  }
}
