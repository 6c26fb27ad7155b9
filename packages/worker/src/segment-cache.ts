import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

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
 * The worker's local copies of segment files, one file per segment named by its SHA-256
 * (`<checksum>.arrow`). A file appears under that name only after it was written, fsynced and
 * verified against the checksum (it is written to a temporary name first), so at start-up a file
 * of the right size is a verified copy: a restart reuses its cache without reading it. Bit rot
 * after the fact is caught when the file is decoded (the engine's reader checks the checksum
 * again) and the file is fetched anew. Bounded by `capacityBytes`.
 */
export class SegmentCache {
  /** checksum → size of each verified file. */
  private readonly files = new Map<string, number>();
  private bytes = 0;

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

  read(s: AssignedSegment): Promise<Buffer> {
    return readFile(this.path(s.checksum));
  }

  /** Stores downloaded bytes after checking them against the checksum; refuses anything else. */
  async store(s: AssignedSegment, bytes: Uint8Array): Promise<void> {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== s.checksum) throw new Error(`segment ${s.id}: downloaded bytes have checksum ${actual}, the catalog says ${s.checksum}`);
    if (bytes.length !== s.size) throw new Error(`segment ${s.id}: downloaded ${bytes.length} bytes, the catalog says ${s.size}`);
    const tmp = join(this.dir, `.${s.checksum}.${process.pid}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path(s.checksum));
    if (!this.files.has(s.checksum)) this.bytes += bytes.length;
    this.files.set(s.checksum, bytes.length);
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
