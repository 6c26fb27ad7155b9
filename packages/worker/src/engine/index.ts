/** The per-segment query engine of a worker. */
export { runOnSegment } from './run.js';
export { SegmentsAccumulator, accumulatorKeysMax, accumulatorBytesMax, accumulatorBytesHeld } from './accumulate.js';
export { chunkRows, Guard, type ExecutionOptions } from './execution.js';
export { segmentFromRows, type RowsSpec } from './segment-from-rows.js';
export { groupsPerBucketMax, directKeysMax, denseKeysMax } from './grouping.js';
export { sketchGroupsMax } from './kernels.js';
export { invertedIndex, invertedIndexBytesHeld, releaseInvertedIndex } from './inverted-index.js';
