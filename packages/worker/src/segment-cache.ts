import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeepStorage } from '@cairn/shared/deep-storage';

/** A segment this worker must serve, as the metadata group describes it. */
export interface AssignedSegment {
  readonly id: string;
  readonly dataSource: string;
  readonly location: string;
  readonly checksum: string;
  readonly size: number;
}

const CHECKSUM = /^[0-9a-f]{64}$/;

/**
 * Files up to this size are read with one synchronous call. An asynchronous readFile is five
 * thread-pool round trips (open, fstat, read, read, close), each waiting for the event loop to
 * come back: for a small segment that costs ten times the read itself (about 0.2 ms against
 * 0.02 ms for a 5 KB file), and a query over ten thousand small segments after a restart spent
 * most of its time idle between them. A read this small blocks the loop for less than decoding
 * the segment does anyway; bigger files keep the asynchronous path.
 */
export const SYNC_READ_BYTES_MAX = 256 * 1024;

/**
 * The worker's local copies of segment files, one file per segment named by its SHA-256
 * (`<checksum>.arrow`). A file appears under that name only after its bytes were verified against
 * the checksum and written (to a temporary name first, then renamed), so at start-up a file of
 * the right size is taken for a copy: a restart reuses its cache without reading it. Files are
 * not fsynced: the cache is never the truth (deep storage is), and a file that a power loss left
 * torn, like one hit by bit rot, is caught when it is decoded (the engine's reader checks the
 * checksum again) and fetched anew. An fsync per file made a recovery's loads 1.5x slower for no
 * safety the checksum does not already give. Bounded by `capacityBytes`.
 */
export class SegmentCache {
  /** checksum → size of each verified file. */
  private readonly files = new Map<string, number>();
  private bytes = 0;
  /** Temporary names are unique, also for two segments of identical content loading at once. */
  private tmpSeq = 0;

  constructor(readonly dir: string, readonly capacityBytes: number) {
    mkdirSync(dir, { recursive: true });
  }

  /** Scans the folder: keeps verified files, removes temporaries left by a crash. */
  scan(): { files: number; bytes: number; removed: number } {
    let removed = 0;
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      const checksum = name.endsWith('.arrow') ? name.slice(0, -'.arrow'.length) : '';
      if (!CHECKSUM.test(checksum)) {
        void rm(path, { force: true, recursive: true });
        removed++;
        continue;
      }
      const size = statSync(path).size;
      this.files.set(checksum, size);
      this.bytes += size;
    }
    return { files: this.files.size, bytes: this.bytes, removed };
  }

  has(s: AssignedSegment): boolean {
    return this.files.get(s.checksum) === s.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  fits(size: number): boolean {
    return this.bytes + size <= this.capacityBytes;
  }

  path(checksum: string): string {
    return join(this.dir, `${checksum}.arrow`);
  }

  async read(s: AssignedSegment): Promise<Buffer> {
    return s.size <= SYNC_READ_BYTES_MAX ? readFileSync(this.path(s.checksum)) : readFile(this.path(s.checksum));
  }

  /**
   * Downloads the segment from deep storage into a temporary file (hashed as it is written, see
   * DeepStorage.download), checks size and SHA-256 against the catalog's, and only then renames it
   * into place; a file that does not match is deleted and the load fails (the store retries it).
   * Returns the bytes downloaded. The rename is synchronous: a metadata update of tens of
   * microseconds costs less than waiting for a busy event loop to come back from the thread pool.
   */
  async download(s: AssignedSegment, deep: Pick<DeepStorage, 'download'>): Promise<number> {
    const tmp = join(this.dir, `.${s.checksum}.${process.pid}.${++this.tmpSeq}.tmp`);
    let got: { size: number; sha256: string };
    try {
      got = await deep.download(s.location, tmp);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    if (got.sha256 !== s.checksum || got.size !== s.size) {
      rmSync(tmp, { force: true });
      throw new Error(`segment ${s.id}: downloaded ${got.size} bytes with checksum ${got.sha256}, the catalog says ${s.size} bytes with ${s.checksum}`);
    }
    renameSync(tmp, this.path(s.checksum));
    if (!this.files.has(s.checksum)) this.bytes += got.size;
    this.files.set(s.checksum, got.size);
    return got.size;
  }

  /** Deletes a copy (no longer assigned, or found corrupt). */
  async remove(checksum: string): Promise<void> {
    const size = this.files.get(checksum);
    if (size === undefined) return;
    this.files.delete(checksum);
    this.bytes -= size;
    await rm(this.path(checksum), { force: true });
  }

  checksums(): string[] {
    return [...this.files.keys()];
  }
}
