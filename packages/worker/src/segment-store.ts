import type { DeepStorage } from '@cairn/shared/deep-storage';
import { readSegment } from '@cairn/shared/segment';
import type { LoadedSegment } from '@cairn/shared';
import type { AssignedSegment, SegmentCache } from './segment-cache.js';
import { releaseInvertedIndex } from './engine/inverted-index.js';

/**
 * A file this process downloaded and verified (size and SHA-256 against the catalog) is decoded
 * without hashing it again if its first decode comes within this long: its bytes were checked as
 * they were written, and a power loss that could tear it would have ended this process too. Every
 * other decode checks the checksum (files found at start-up, later decodes, after eviction).
 */
export const FRESH_VERIFIED_MS = 60_000;

/** Downloads from deep storage at once, by default (cairn-worker uses it). */
export const LOAD_CONCURRENCY_DEFAULT = 4;

export interface StoreLimits {
  /** Downloads from deep storage at once. */
  readonly loadConcurrencyMax: number;
  /** Bytes of decoded segments kept in memory (least recently used go first). */
  readonly decodedBytesMax: number;
}

export interface StoreEvents {
  onLoaded?(id: string): void;
  /**
   * The load queue has shrunk to half of what it last was at its largest (and is not empty): the
   * coordinator, which refills a worker's queue only once it hears of progress (and bounds it by
   * loadQueueMax), should hear now, so that more work arrives before this queue runs dry. Called
   * at most about log2(queue) times per refill.
   */
  onProgress?(): void;
  /** The load queue has just become empty (the last load in flight ended, loaded or not). */
  onDrained?(): void;
  onError?(id: string, err: Error): void;
  /** A file was decoded into memory, and a decoded segment dropped to make room (metrics). */
  onDecoded?(): void;
  onDecodedEvicted?(): void;
}

/**
 * What this worker serves: the assigned segments, fetched from deep storage into the cache with a
 * bounded number of concurrent downloads, dropped when unassigned, and decoded into memory on
 * demand (an LRU bounded in bytes), verifying the checksum each time a file is decoded.
 */
/** Memory a decoded segment is counted as, per byte of its file (see `get`). */
export const DECODED_BYTES_PER_FILE_BYTE = 3;

export class SegmentStore {
  private assigned = new Map<string, AssignedSegment>();
  /** Checksums of the assigned segments: a download that ends after its segment left keeps no file. */
  private assignedChecksums = new Set<string>();
  /** Bytes of the downloads in flight: counted against the cache's capacity before they land. */
  private reservedBytes = 0;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly loading = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly decoded = new Map<string, { segment: LoadedSegment; bytes: number }>();
  private decodedBytes = 0;
  /** Checksum -> when this process downloaded and verified it, until its first decode (see FRESH_VERIFIED_MS). */
  private readonly fresh = new Map<string, number>();
  /** Decodes that skipped the hash because the download had just checked it (for tests and status). */
  decodesUnhashed = 0;
  /** Files decoded into memory, and decoded segments evicted to make room, since start (status, metrics). */
  decodes = 0;
  decodedEvictions = 0;
  /** The queue length at which onProgress is next due (half the queue's latest high point). */
  private progressAt = 0;
  loadsDone = 0;
  bytesLoaded = 0;

  constructor(
    private readonly cache: SegmentCache,
    private readonly deep: DeepStorage,
    private readonly limits: StoreLimits,
    private readonly events: StoreEvents = {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Makes the assigned set exactly `segments`: queues what is missing, drops what is gone. */
  reconcile(segments: readonly AssignedSegment[]): void {
    const next = new Map(segments.map((s) => [s.id, s]));
    // A file shared by another assigned segment (identical content) stays.
    for (const id of this.assigned.keys()) if (!next.has(id)) this.forget(id);
    const previous = this.assigned;
    this.assigned = next;
    const checksums = new Set([...next.values()].map((s) => s.checksum));
    this.assignedChecksums = checksums;
    // Files of segments no longer assigned (or left from before a restart) go: the cache is bounded.
    // A download still in flight for one of them is removed when it ends (see fetch).
    void previous;
    for (const c of this.cache.checksums()) if (!checksums.has(c)) void this.cache.remove(c);
    for (const c of this.fresh.keys()) if (!checksums.has(c)) this.fresh.delete(c);
    for (const id of this.failures.keys()) if (!next.has(id)) this.failures.delete(id);
    for (const s of segments) this.enqueue(s.id);
    this.pump();
    this.progressAt = Math.max(this.progressAt, this.queueLength >> 1);
  }

  /** Ids of assigned segments whose verified file is in the cache. */
  loadedIds(): string[] {
    const out: string[] = [];
    for (const s of this.assigned.values()) if (this.cache.has(s)) out.push(s.id);
    return out;
  }

  isLoaded(id: string): boolean {
    const s = this.assigned.get(id);
    return s !== undefined && this.cache.has(s);
  }

  get queueLength(): number {
    return this.queue.length + this.loading.size;
  }

  get cacheBytes(): number {
    return this.cache.usedBytes;
  }

  /** Memory counted for the decoded segments held (see DECODED_BYTES_PER_FILE_BYTE). */
  get decodedBytesHeld(): number {
    return this.decodedBytes;
  }

  get assignedCount(): number {
    return this.assigned.size;
  }

  /**
   * The decoded segment, or null if this worker does not have it. A file that fails its checksum
   * is deleted and fetched again, and the segment counts as missing meanwhile.
   */
  async get(id: string): Promise<LoadedSegment | null> {
    const hit = this.decoded.get(id);
    if (hit) {
      this.decoded.delete(id);
      this.decoded.set(id, hit);
      return hit.segment;
    }
    const s = this.assigned.get(id);
    if (!s || !this.cache.has(s)) return null;
    let segment: LoadedSegment;
    const verifiedAt = this.fresh.get(s.checksum);
    this.fresh.delete(s.checksum);
    const hashed = verifiedAt === undefined || this.now() - verifiedAt > FRESH_VERIFIED_MS;
    try {
      segment = readSegment(new Uint8Array(await this.cache.read(s)), hashed ? s.checksum : undefined);
      this.decodes++;
      this.events.onDecoded?.();
      if (!hashed) this.decodesUnhashed++;
    } catch (err) {
      this.events.onError?.(id, err as Error);
      await this.cache.remove(s.checksum);
      if (this.assigned.get(id) === s) this.enqueue(id);
      this.pump();
      return null;
    }
    // What a decoded segment holds: the file itself (codes and float64 columns are views of it),
    // copies of its time and int64 columns (at most the file again), and what queries derive
    // from it (dictionary strings, narrow column copies, histograms, up to about the file again).
    const bytes = s.size * DECODED_BYTES_PER_FILE_BYTE;
    this.decoded.set(id, { segment, bytes });
    this.decodedBytes += bytes;
    for (const [old, v] of this.decoded) {
      if (this.decodedBytes <= this.limits.decodedBytesMax || old === id) break;
      this.decoded.delete(old);
      this.decodedBytes -= v.bytes;
      this.decodedEvictions++;
      this.events.onDecodedEvicted?.();
      releaseIndexes(v.segment);
    }
    return segment;
  }

  private enqueue(id: string): void {
    const s = this.assigned.get(id);
    if (!s || this.cache.has(s) || this.loading.has(id) || this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.push(id);
  }

  private forget(id: string): void {
    if (this.queued.delete(id)) this.queue.splice(this.queue.indexOf(id), 1);
    const d = this.decoded.get(id);
    if (d) {
      this.decoded.delete(id);
      this.decodedBytes -= d.bytes;
      releaseIndexes(d.segment);
    }
  }

  private pump(): void {
    while (this.loading.size < this.limits.loadConcurrencyMax && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.queued.delete(id);
      const s = this.assigned.get(id);
      if (!s || this.cache.has(s)) continue;
      // Downloads in flight count too, or several could each find room for themselves alone.
      if (!this.cache.fits(s.size + this.reservedBytes)) {
        // Room may come (drops, a download given up): try again later, as after a failed download.
        this.retryLater(s, new Error(`no room in the cache for ${s.size} bytes (capacity ${this.cache.capacityBytes}, ${this.cache.usedBytes} used, ${this.reservedBytes} being downloaded)`));
        continue;
      }
      this.loading.add(id);
      this.reservedBytes += s.size;
      void this.fetch(s).finally(() => {
        this.reservedBytes -= s.size;
        this.loading.delete(id);
        this.pump();
        const left = this.queueLength;
        if (left === 0) {
          this.progressAt = 0;
          this.events.onDrained?.();
        } else if (left <= this.progressAt) {
          this.progressAt = left >> 1;
          this.events.onProgress?.();
        }
      });
    }
  }

  private async fetch(s: AssignedSegment): Promise<void> {
    try {
      const bytes = await this.cache.download(s, this.deep);
      this.failures.delete(s.id);
      this.loadsDone++;
      this.bytesLoaded += bytes;
      if (!this.assignedChecksums.has(s.checksum)) {
        // Unassigned while it downloaded: the sweep in reconcile ran before the file landed.
        await this.cache.remove(s.checksum);
        return;
      }
      this.fresh.set(s.checksum, this.now());
      this.events.onLoaded?.(s.id);
    } catch (err) {
      this.retryLater(s, err as Error);
    }
  }

  /** Reports `err`, then queues `s` again after a backoff, if it is still assigned by then; the coordinator may move it meanwhile. */
  private retryLater(s: AssignedSegment, err: Error): void {
    this.events.onError?.(s.id, err);
    const n = (this.failures.get(s.id) ?? 0) + 1;
    this.failures.set(s.id, n);
    setTimeout(() => {
      if (this.assigned.get(s.id) === s) this.enqueue(s.id);
      this.pump();
    }, Math.min(30_000, 250 * 2 ** Math.min(n, 7))).unref();
  }
}

/**
 * A segment leaving the decoded cache gives back its columns' inverted indexes at once (they
 * count against the engine's own bound, which would otherwise free them only when newer
 * indexes push them out).
 */
function releaseIndexes(segment: LoadedSegment): void {
  for (const d of segment.dimensions.values()) releaseInvertedIndex(d.codes);
}
