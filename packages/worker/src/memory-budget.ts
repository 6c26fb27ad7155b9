import { totalmem } from 'node:os';

const GiB = 1024 ** 3;

/**
 * Memory for decoded segments when `--memory` is not given: an eighth of what the machine (or
 * its container) has, at least 1 GiB and at most 16 GiB, and never more than the disk cache
 * holds. An eighth, because several workers often share a machine (the quickstart runs three)
 * beside the metadata group. A fixed 1 GiB made a worker on a large machine decode the same
 * files over and over: it holds about 65 of the recovery benchmark's 5.2 MiB segments (each
 * counted as three times its file), fewer than its queries touch.
 */
export function defaultMemoryBytes(capacityBytes: number, machineBytes: number): number {
  return Math.min(capacityBytes, Math.max(GiB, Math.min(16 * GiB, Math.floor(machineBytes / 8))));
}

/** The memory this process may use: the machine's, or its cgroup's limit when that is lower. */
export function machineMemoryBytes(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  return limit > 0 ? Math.min(totalmem(), limit) : totalmem();
}
