/**
 * Every segment the catalog knows, stored as columns. A million segments as objects cost about
 * 600 bytes each in V8 (an object per record, boxed doubles, a 64-character checksum string);
 * as columns about 250: 115 in typed arrays, and on the heap mostly the id string, which the
 * coordinator shares. Segments are
 * never deleted (unused ones stay, as in Druid's metadata store), so a segment's slot (row
 * number) is fixed for the life of the process and indexes can hold slots.
 *
 * What is not stored: a location that is the segment's content-addressed key (what Cairn's
 * ingestion writes) is rebuilt from the datasource and checksum; one that names the segment's
 * interval, version and partition (Druid's deep-storage paths) is kept as a shared template; and
 * repeated strings (datasources, versions, ingestion ids) are held once and referred to by
 * number. The id index is
 * a table of slots rather than a Map of strings. These keep most of the table out of the garbage
 * collected heap, which V8 lets grow well past what is live before it collects.
 *
 * Rows live in chunks of 65,536 and the id index in 64 shards: growing by doubling one big array
 * (or one big table) stalled `apply` for over half a second at a million segments, long enough
 * to miss Raft heartbeats. The accessors match `TimelineColumns`, so the timeline reads the table
 * directly.
 */
import { SEGMENT_KEY_SUFFIX, segmentKeyPrefix, type SegmentRecord, type SegmentSchema, type TimelineColumns } from '@cairn/shared';
import { InvariantError } from '../core/assert.js';

/** The fields of a new segment, already validated. */
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
/** Shards of the id index (a power of two): each grows on its own, so no growth rehashes a million ids. */
const ID_SHARD_BITS = 6;
const ID_SHARDS = 1 << ID_SHARD_BITS;
/** Positions per shard at first (a power of two); a shard doubles when it is half full. */
const ID_SHARD_FIRST = 64;
const EMPTY = -1;

/** Strings that repeat across segments, each stored once and referred to by its number. */
class CodeBook {
  private readonly codes = new Map<string, number>();
  private readonly strings: string[] = [];

  code(s: string): number {
    let c = this.codes.get(s);
    if (c === undefined) {
      c = this.strings.length;
      this.strings.push(s);
      this.codes.set(s, c);
    }
    return c;
  }

  string(code: number): string {
    return this.strings[code]!;
  }
}

/** How a row's location is kept (`Chunk.locationForm`); FIRST_TEMPLATE + n is template n. */
const RAW_LOCATION = 0;
const CONTENT_KEY = 1;
const FIRST_TEMPLATE = 2;
/** Templates kept at most: paths with a part of their own (a UUID) never repeat, and are then stored whole. */
const TEMPLATES_MAX = 4096;
/** Characters standing for the segment's own fields in a template; a location containing one is stored whole. */
const START_MARK = '\u0000';
const END_MARK = '\u0001';
const VERSION_MARK = '\u0002';
const PARTITION_MARK = '\u0003';
const MARKS = /[\u0000-\u0003]/;
/** Splits a template around its marks, keeping them (at the odd positions). */
const MARKS_SPLIT = /([\u0000-\u0003])/;
/** Length of a formatted instant (years 0000-9999), as it appears twice in a segment id. */
const INSTANT_CHARS = 24;

/** The segment's own fields that a location template leaves out. */
interface OwnFields {
  readonly id: string;
  readonly dataSourceLength: number;
  readonly version: string;
  readonly partition: number;
}

/**
 * `s` with its first occurrence of `part` replaced by `mark` (a character `s` does not contain),
 * or `s`. An empty part (an id too short to spell an interval) is not cut: it occurs everywhere.
 */
function cut(s: string, part: string, mark: string): string {
  const at = part.length === 0 ? -1 : s.indexOf(part);
  return at < 0 ? s : s.slice(0, at) + mark + s.slice(at + part.length);
}

/**
 * Locations with the segment's own fields cut out: Druid's deep-storage paths name the interval,
 * version and partition (`wikipedia/2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z/v1/0/index.zip`),
 * so a million of them share a few templates. The interval is read back from the segment id,
 * which spells it. Each field is cut at most once, at its first occurrence; since the marks never
 * occur in a stored location, filling them in gives back exactly the location that was cut.
 */
class LocationTemplates {
  private readonly codes = new Map<string, number>();
  /** Per template: literal pieces and the marks between them (0 start, 1 end, 2 version, 3 partition). */
  private readonly parts: (string | number)[][] = [];

  /** The template of `location`, or -1 when it is to be stored whole. */
  code(location: string, own: OwnFields): number {
    if (MARKS.test(location)) return -1;
    const startAt = own.dataSourceLength + 1;
    let t = cut(location, own.id.substr(startAt, INSTANT_CHARS), START_MARK);
    t = cut(t, own.id.substr(startAt + INSTANT_CHARS + 1, INSTANT_CHARS), END_MARK);
    t = cut(t, own.version, VERSION_MARK);
    t = cut(t, `/${own.partition}/`, `/${PARTITION_MARK}/`);
    if (t === location) return -1; // nothing of the segment's own: no reason to expect it to repeat
    let code = this.codes.get(t);
    if (code === undefined) {
      if (this.parts.length >= TEMPLATES_MAX) return -1;
      code = this.parts.length;
      this.codes.set(t, code);
      this.parts.push(t.split(MARKS_SPLIT).map((piece, i) => (i % 2 === 1 ? piece.charCodeAt(0) : piece)));
    }
    return code;
  }

  expand(code: number, own: OwnFields): string {
    const startAt = own.dataSourceLength + 1;
    let out = '';
    for (const p of this.parts[code]!) {
      if (typeof p === 'string') out += p;
      else if (p === 0) out += own.id.substr(startAt, INSTANT_CHARS);
      else if (p === 1) out += own.id.substr(startAt + INSTANT_CHARS + 1, INSTANT_CHARS);
      else if (p === 2) out += own.version;
      else out += own.partition;
    }
    return out;
  }
}

/** One chunk of rows, column by column. */
class Chunk {
  readonly ids: string[];
  /** The location as given, where `locationForm` is RAW_LOCATION; undefined elsewhere. */
  readonly locations: (string | undefined)[];
  readonly locationForm: Int32Array;
  /** Codes in the table's `CodeBook`. */
  readonly dataSource: Int32Array;
  readonly version: Int32Array;
  readonly ingestionId: Int32Array;
  /** `idHash(id)`, so the id index grows and probes without hashing strings again. */
  readonly idHash: Int32Array;
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
    this.locations = from?.locations.slice() ?? [];
    const copy = <T extends Float64Array | Int32Array | Uint8Array>(make: new (n: number) => T, n: number, old: T | undefined): T => {
      const a = new make(n);
      if (old !== undefined) a.set(old);
      return a;
    };
    this.dataSource = copy(Int32Array, capacity, from?.dataSource);
    this.version = copy(Int32Array, capacity, from?.version);
    this.ingestionId = copy(Int32Array, capacity, from?.ingestionId);
    this.idHash = copy(Int32Array, capacity, from?.idHash);
    this.locationForm = copy(Int32Array, capacity, from?.locationForm);
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

/** FNV-1a over the id's code units, then a finalizer so that low and high bits are both well mixed. */
function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** One shard of the id index: open addressing with linear probing over slots, EMPTY where free. */
interface IdShard {
  positions: Int32Array;
  count: number;
}

export class SegmentTable implements TimelineColumns {
  count = 0;
  /** Rows whose location is stored whole (neither a content-addressed key nor a template). */
  wholeLocations = 0;
  private readonly chunks: Chunk[] = [];
  private readonly idShards: IdShard[] = Array.from({ length: ID_SHARDS }, () => ({ positions: new Int32Array(ID_SHARD_FIRST).fill(EMPTY), count: 0 }));
  private readonly book = new CodeBook();
  private readonly templates = new LocationTemplates();
  /** `segmentKeyPrefix` of each datasource, by its code. */
  private readonly keyPrefixes: (string | undefined)[] = [];
  private readonly hexCodes = new Uint16Array(64);

  slotOf(id: string): number | undefined {
    return this.find(id, idHash(id));
  }

  private find(id: string, h: number): number | undefined {
    const { positions } = this.idShards[h & (ID_SHARDS - 1)]!;
    const mask = positions.length - 1;
    for (let i = (h >>> ID_SHARD_BITS) & mask; ; i = (i + 1) & mask) {
      const slot = positions[i]!;
      if (slot === EMPTY) return undefined;
      if (this.idHashOf(slot) === h && this.id(slot) === id) return slot;
    }
  }

  /** Appends a segment and returns its slot. */
  add(f: SegmentFields): number {
    const h = idHash(f.id);
    // Hot path (a million calls on reload): the message is only built when the check fails.
    if (this.find(f.id, h) !== undefined) throw new InvariantError(`segment ${f.id} added twice`);
    const slot = this.count;
    const c = this.chunkFor(slot);
    const row = slot & ROW_MASK;
    this.setChecksum(c, row, f.checksum, f.id);
    // Ids built by template literals are cons strings (a tree of pieces, about 3x the memory);
    // reading a character makes V8 flatten them, and the GC then drops the tree.
    f.id.charCodeAt(0);
    c.ids.push(f.id);
    const dataSource = this.book.code(f.dataSource);
    c.dataSource[row] = dataSource;
    c.version[row] = this.book.code(f.version);
    c.ingestionId[row] = this.book.code(f.ingestionId);
    const form = this.locationFormOf(f, dataSource);
    c.locationForm[row] = form;
    c.locations.push(form === RAW_LOCATION ? f.location : undefined);
    if (form === RAW_LOCATION) this.wholeLocations++;
    c.idHash[row] = h;
    c.start[row] = f.start;
    c.end[row] = f.end;
    c.size[row] = f.size;
    c.rows[row] = f.rows;
    c.publishedAt[row] = f.publishedAt;
    c.partition[row] = f.partition;
    c.partitions[row] = f.partitions;
    c.schema[row] = f.schema;
    c.used[row] = f.used ? 1 : 0;
    this.count++;
    this.index(this.idShards[h & (ID_SHARDS - 1)]!, slot, h);
    return slot;
  }

  /** Puts `slot` in its id shard, doubling the shard once it is half full. */
  private index(shard: IdShard, slot: number, h: number): void {
    if (2 * (shard.count + 1) > shard.positions.length) {
      const old = shard.positions;
      shard.positions = new Int32Array(old.length * 2).fill(EMPTY);
      for (const s of old) if (s !== EMPTY) this.place(shard.positions, s, this.idHashOf(s));
    }
    this.place(shard.positions, slot, h);
    shard.count++;
  }

  private place(positions: Int32Array, slot: number, h: number): void {
    const mask = positions.length - 1;
    let i = (h >>> ID_SHARD_BITS) & mask;
    while (positions[i] !== EMPTY) i = (i + 1) & mask;
    positions[i] = slot;
  }

  private idHashOf(slot: number): number {
    return this.chunk(slot).idHash[slot & ROW_MASK]!;
  }

  /**
   * How the location of a new row is kept. The records on disk (`encode`) are written from the
   * table, so a template is only used when filling it in gives back the location exactly.
   */
  private locationFormOf(f: SegmentFields, dataSource: number): number {
    if (this.isContentKey(dataSource, f.checksum, f.location)) return CONTENT_KEY;
    const own: OwnFields = { id: f.id, dataSourceLength: f.dataSource.length, version: f.version, partition: f.partition };
    const code = this.templates.code(f.location, own);
    return code >= 0 && this.templates.expand(code, own) === f.location ? FIRST_TEMPLATE + code : RAW_LOCATION;
  }

  /** Whether `location` is the content-addressed key `segmentKey(dataSource, checksum)`, rebuilt on read. */
  private isContentKey(dataSource: number, checksum: string, location: string): boolean {
    const prefix = this.keyPrefix(dataSource);
    return (
      location.length === prefix.length + checksum.length + SEGMENT_KEY_SUFFIX.length &&
      location.startsWith(prefix) &&
      location.startsWith(checksum, prefix.length) &&
      location.endsWith(SEGMENT_KEY_SUFFIX)
    );
  }

  private keyPrefix(dataSource: number): string {
    return (this.keyPrefixes[dataSource] ??= segmentKeyPrefix(this.book.string(dataSource)));
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

  /** Stores the digest; throws, before anything of the row is written, unless it is 64 lowercase hex characters. */
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
    return this.book.string(this.chunk(slot).dataSource[slot & ROW_MASK]!);
  }
  version(slot: number): string {
    return this.book.string(this.chunk(slot).version[slot & ROW_MASK]!);
  }
  location(slot: number): string {
    const c = this.chunk(slot);
    const row = slot & ROW_MASK;
    const form = c.locationForm[row]!;
    if (form === RAW_LOCATION) return c.locations[row]!;
    const dataSource = c.dataSource[row]!;
    if (form === CONTENT_KEY) return `${this.keyPrefix(dataSource)}${this.checksum(slot)}${SEGMENT_KEY_SUFFIX}`;
    const own = { id: c.ids[row]!, dataSourceLength: this.book.string(dataSource).length, version: this.version(slot), partition: c.partition[row]! };
    return this.templates.expand(form - FIRST_TEMPLATE, own);
  }
  ingestionId(slot: number): string {
    return this.book.string(this.chunk(slot).ingestionId[slot & ROW_MASK]!);
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
      this.compareVersions(a, b) ||
      this.partition(a) - this.partition(b)
    );
  }

  /** Versions compare as strings; the same code is the same string, the common case within a datasource. */
  private compareVersions(a: number, b: number): number {
    const ca = this.chunk(a).version[a & ROW_MASK]!;
    const cb = this.chunk(b).version[b & ROW_MASK]!;
    if (ca === cb) return 0;
    const va = this.book.string(ca);
    const vb = this.book.string(cb);
    return va < vb ? -1 : va > vb ? 1 : 0;
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
