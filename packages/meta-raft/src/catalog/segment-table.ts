/**
 * Every segment the catalog knows, stored as columns. A million segments as objects cost about
 * 600 bytes each in V8 (an object per record, boxed doubles, a 64-character checksum string);
 * as columns they cost about 300, most of it the id and location strings. Segments are never
 * deleted (unused ones stay, as in Druid's metadata store), so a segment's slot (row number) is
 * fixed for the life of the process and indexes can hold slots.
 *
 * Rows live in chunks of 65,536 and the id index in 64 shards: growing by doubling one big array
 * (or one big Map) stalled `apply` for over half a second at a million segments, long enough to
 * miss Raft heartbeats. The accessors match `TimelineColumns`, so the timeline reads the table
 * directly.
 */
import type { SegmentRecord, SegmentSchema, TimelineColumns } from '@cairn/shared';
import { InvariantError } from '../core/assert.js';

/** The fields of a new segment, already validated; strings already interned. */
export interface SegmentFields {
  readonly id: string;
  readonly dataSource: string;
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  readonly partitions: number;
  readonly size: number;
  readonly rows: number;
  readonly schema: number;
  readonly checksum: string;
  readonly location: string;
  readonly used: boolean;
  readonly ingestionId: string;
  readonly publishedAt: number;
}

/** The compact JSON of a `seg/` record: one-letter keys, the schema by its interned number. */
interface SegmentRecordJson {
  d: string;
  s: number;
  e: number;
  v: string;
  p: number;
  n: number;
  z: number;
  r: number;
  h: number;
  c: string;
  l: string;
  u: 0 | 1;
  i: string;
  t: number;
}

const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;

/** Rows per chunk. Rows live in fixed chunks, so growing never copies (or reallocates) the whole table. */
const CHUNK_BITS = 16;
const CHUNK_ROWS = 1 << CHUNK_BITS;
const ROW_MASK = CHUNK_ROWS - 1;
/** The first chunk starts this small and doubles up to CHUNK_ROWS, so a small catalog stays small. */
const FIRST_CHUNK_ROWS = 256;
/** Shards of the id index: one Map of millions of entries stalls for a quarter second each time it rehashes. */
const ID_SHARDS = 64;

/** One chunk of rows, column by column. */
class Chunk {
  readonly ids: string[];
  readonly dataSource: string[];
  readonly version: string[];
  readonly location: string[];
  readonly ingestionId: string[];
  readonly start: Float64Array;
  readonly end: Float64Array;
  readonly size: Float64Array;
  readonly rows: Float64Array;
  readonly publishedAt: Float64Array;
  readonly partition: Int32Array;
  readonly partitions: Int32Array;
  readonly schema: Int32Array;
  readonly used: Uint8Array;
  /** sha-256 digests, 32 bytes per row (a hex string would take 80). */
  readonly checksums: Uint8Array;

  /** An empty chunk of `capacity` rows, or a bigger copy of `from`. */
  constructor(
    readonly capacity: number,
    from?: Chunk,
  ) {
    this.ids = from?.ids.slice() ?? [];
    this.dataSource = from?.dataSource.slice() ?? [];
    this.version = from?.version.slice() ?? [];
    this.location = from?.location.slice() ?? [];
    this.ingestionId = from?.ingestionId.slice() ?? [];
    const copy = <T extends Float64Array | Int32Array | Uint8Array>(make: new (n: number) => T, n: number, old: T | undefined): T => {
      const a = new make(n);
      if (old !== undefined) a.set(old);
      return a;
    };
    this.start = copy(Float64Array, capacity, from?.start);
    this.end = copy(Float64Array, capacity, from?.end);
    this.size = copy(Float64Array, capacity, from?.size);
    this.rows = copy(Float64Array, capacity, from?.rows);
    this.publishedAt = copy(Float64Array, capacity, from?.publishedAt);
    this.partition = copy(Int32Array, capacity, from?.partition);
    this.partitions = copy(Int32Array, capacity, from?.partitions);
    this.schema = copy(Int32Array, capacity, from?.schema);
    this.used = copy(Uint8Array, capacity, from?.used);
    this.checksums = copy(Uint8Array, capacity * 32, from?.checksums);
  }
}

/** A cheap string hash (FNV-1a) that picks an id's index shard. */
function shardOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % ID_SHARDS;
}

export class SegmentTable implements TimelineColumns {
  count = 0;
  private readonly chunks: Chunk[] = [];
  private readonly slotById: Map<string, number>[] = Array.from({ length: ID_SHARDS }, () => new Map());
  private readonly hexCodes = new Uint16Array(64);

  slotOf(id: string): number | undefined {
    return this.slotById[shardOf(id)]!.get(id);
  }

  /** Appends a segment and returns its slot. */
  add(f: SegmentFields): number {
    const shard = this.slotById[shardOf(f.id)]!;
    // Hot path (a million calls on reload): the message is only built when the check fails.
    if (shard.has(f.id)) throw new InvariantError(`segment ${f.id} added twice`);
    const slot = this.count;
    const c = this.chunkFor(slot);
    const row = slot & ROW_MASK;
    // Ids built by template literals are cons strings (a tree of pieces, about 3x the memory);
    // reading a character makes V8 flatten them, and the GC then drops the tree.
    f.id.charCodeAt(0);
    shard.set(f.id, slot);
    c.ids.push(f.id);
    c.dataSource.push(f.dataSource);
    c.version.push(f.version);
    c.location.push(f.location);
    c.ingestionId.push(f.ingestionId);
    c.start[row] = f.start;
    c.end[row] = f.end;
    c.size[row] = f.size;
    c.rows[row] = f.rows;
    c.publishedAt[row] = f.publishedAt;
    c.partition[row] = f.partition;
    c.partitions[row] = f.partitions;
    c.schema[row] = f.schema;
    c.used[row] = f.used ? 1 : 0;
    this.setChecksum(c, row, f.checksum, f.id);
    this.count++;
    return slot;
  }

  /** The chunk that will hold a new row at `slot`, grown or added as needed. */
  private chunkFor(slot: number): Chunk {
    const index = slot >>> CHUNK_BITS;
    let c = this.chunks[index];
    const row = slot & ROW_MASK;
    if (c === undefined) {
      c = new Chunk(index === 0 ? FIRST_CHUNK_ROWS : CHUNK_ROWS);
      this.chunks.push(c);
    } else if (row === c.capacity) {
      c = new Chunk(Math.min(c.capacity * 2, CHUNK_ROWS), c);
      this.chunks[index] = c;
    }
    return c;
  }

  private setChecksum(c: Chunk, row: number, hex: string, id: string): void {
    let bad = hex.length !== 64;
    const base = row * 32;
    for (let i = 0; i < 32 && !bad; i++) {
      const hi = NIBBLE[hex.charCodeAt(2 * i)] ?? -1;
      const lo = NIBBLE[hex.charCodeAt(2 * i + 1)] ?? -1;
      bad = (hi | lo) < 0;
      c.checksums[base + i] = (hi << 4) | lo;
    }
    if (bad) throw new InvariantError(`checksum ${JSON.stringify(hex)} of segment ${id} is not 64 lowercase hex characters`);
  }

  /** Every segment id, in slot order. */
  allIds(): string[] {
    const out: string[] = [];
    for (const c of this.chunks) for (const id of c.ids) out.push(id);
    return out;
  }

  // Column accessors (also the timeline's view of the table).
  private chunk(slot: number): Chunk {
    return this.chunks[slot >>> CHUNK_BITS]!;
  }
  id(slot: number): string {
    return this.chunk(slot).ids[slot & ROW_MASK]!;
  }
  dataSource(slot: number): string {
    return this.chunk(slot).dataSource[slot & ROW_MASK]!;
  }
  version(slot: number): string {
    return this.chunk(slot).version[slot & ROW_MASK]!;
  }
  location(slot: number): string {
    return this.chunk(slot).location[slot & ROW_MASK]!;
  }
  ingestionId(slot: number): string {
    return this.chunk(slot).ingestionId[slot & ROW_MASK]!;
  }
  start(slot: number): number {
    return this.chunk(slot).start[slot & ROW_MASK]!;
  }
  end(slot: number): number {
    return this.chunk(slot).end[slot & ROW_MASK]!;
  }
  size(slot: number): number {
    return this.chunk(slot).size[slot & ROW_MASK]!;
  }
  rows(slot: number): number {
    return this.chunk(slot).rows[slot & ROW_MASK]!;
  }
  publishedAt(slot: number): number {
    return this.chunk(slot).publishedAt[slot & ROW_MASK]!;
  }
  partition(slot: number): number {
    return this.chunk(slot).partition[slot & ROW_MASK]!;
  }
  partitions(slot: number): number {
    return this.chunk(slot).partitions[slot & ROW_MASK]!;
  }
  schema(slot: number): number {
    return this.chunk(slot).schema[slot & ROW_MASK]!;
  }
  used(slot: number): boolean {
    return this.chunk(slot).used[slot & ROW_MASK] === 1;
  }
  setUsed(slot: number, used: boolean): void {
    this.chunk(slot).used[slot & ROW_MASK] = used ? 1 : 0;
  }

  /**
   * The checksum as lowercase hex, built as one flat string: 32 `+=` steps would leave a chain
   * of 32 cons-string nodes (about a kilobyte) behind every record handed out.
   */
  checksum(slot: number): string {
    const c = this.chunk(slot);
    const codes = this.hexCodes;
    const base = (slot & ROW_MASK) * 32;
    for (let i = 0; i < 32; i++) {
      const b = c.checksums[base + i]!;
      codes[2 * i] = HEX_CODES[b >> 4]!;
      codes[2 * i + 1] = HEX_CODES[b & 15]!;
    }
    return String.fromCharCode.apply(null, codes as unknown as number[]);
  }

  /** The public record of a slot; `schemaOf` resolves the interned schema number. */
  record(slot: number, schemaOf: (n: number) => SegmentSchema): SegmentRecord {
    return {
      id: this.id(slot),
      dataSource: this.dataSource(slot),
      start: this.start(slot),
      end: this.end(slot),
      version: this.version(slot),
      partition: this.partition(slot),
      partitions: this.partitions(slot),
      size: this.size(slot),
      rows: this.rows(slot),
      schema: schemaOf(this.schema(slot)),
      checksum: this.checksum(slot),
      location: this.location(slot),
      used: this.used(slot),
      ingestionId: this.ingestionId(slot),
      publishedAt: this.publishedAt(slot),
    };
  }

  /** The value of the slot's `seg/{id}` record. */
  encode(slot: number): string {
    const json: SegmentRecordJson = {
      d: this.dataSource(slot),
      s: this.start(slot),
      e: this.end(slot),
      v: this.version(slot),
      p: this.partition(slot),
      n: this.partitions(slot),
      z: this.size(slot),
      r: this.rows(slot),
      h: this.schema(slot),
      c: this.checksum(slot),
      l: this.location(slot),
      u: this.used(slot) ? 1 : 0,
      i: this.ingestionId(slot),
      t: this.publishedAt(slot),
    };
    return JSON.stringify(json);
  }

  /** Parses a `seg/` record value; `intern` shares repeated strings. */
  static decode(id: string, value: string, intern: (s: string) => string): SegmentFields {
    const j = JSON.parse(value) as SegmentRecordJson;
    return {
      id,
      dataSource: intern(j.d),
      start: j.s,
      end: j.e,
      version: intern(j.v),
      partition: j.p,
      partitions: j.n,
      size: j.z,
      rows: j.r,
      schema: j.h,
      checksum: j.c,
      location: j.l,
      used: j.u === 1,
      ingestionId: intern(j.i),
      publishedAt: j.t,
    };
  }

  /**
   * Timeline order: start, end, version (as strings, like Druid), partition. Segment ids are
   * unique per (datasource, interval, version, partition), so within a datasource no two slots tie.
   */
  compare(a: number, b: number): number {
    return (
      this.start(a) - this.start(b) ||
      this.end(a) - this.end(b) ||
      (this.version(a) < this.version(b) ? -1 : this.version(a) > this.version(b) ? 1 : 0) ||
      this.partition(a) - this.partition(b)
    );
  }
}

/**
 * A segment's placement fields (`SegmentBrief`), read from the table when accessed: 20 bytes per
 * segment where a plain object of the same fields costs about 140 (three boxed doubles, eight
 * fields). Valid for the life of the table: a slot's fields never change, and slots are never
 * reused.
 */
export class SlotBrief {
  constructor(
    private readonly table: SegmentTable,
    readonly slot: number,
  ) {}
  get id(): string {
    return this.table.id(this.slot);
  }
  get dataSource(): string {
    return this.table.dataSource(this.slot);
  }
  get start(): number {
    return this.table.start(this.slot);
  }
  get end(): number {
    return this.table.end(this.slot);
  }
  get version(): string {
    return this.table.version(this.slot);
  }
  get partition(): number {
    return this.table.partition(this.slot);
  }
  get partitions(): number {
    return this.table.partitions(this.slot);
  }
  get size(): number {
    return this.table.size(this.slot);
  }
}
