/**
 * A FIFO of message positions kept in typed arrays (struct of arrays), so a queued message costs
 * 13 bytes of RAM however large its body is: segment (u32), offset (u32), record length (u32), flags (u8).
 * Three optional columns are allocated (per chunk) only once a non-zero value is stored in them: expiry
 * time (f64, ms since epoch), delivery count (u16) and body size (u32, for byte limits).
 *
 * Slots live in a deque of chunks: pushes fill the last chunk, shifts empty the first. A full ring grows
 * by adding a chunk as large as its backlog (INITIAL_SLOTS..MAX_CHUNK_SLOTS), never by copying, so a
 * burst leaves no outgrown arrays behind: an outgrown array has lived long enough to sit in V8's old
 * generation, which only a full GC sweeps, and an idle broker may run none for hours (doubling a
 * million-message backlog left up to 7 MB of them in RSS). An emptied chunk is kept as the spare for the
 * next one, so a steady backlog allocates nothing; an emptied ring keeps one chunk of at most
 * KEEP_WHEN_EMPTY_SLOTS and gives the rest back.
 */
/**
 * Slots of a new ring's chunk (832 bytes): most queues are short, and a broker may hold 100,000 of them
 * (at 1024 slots, 13 KiB each, the empty rings alone took 1.3 GB). A growing ring adds chunks as large
 * as its backlog, so a busy queue reaches large chunks after a few growths.
 */
const INITIAL_SLOTS = 64;
/** The largest chunk: 65536 slots = 832 KiB (a million-message backlog takes 16 of them). */
const MAX_CHUNK_SLOTS = 65536;
/**
 * An emptied ring keeps its last chunk if it has at most this many slots (208 KiB) and starts over with a
 * new small one otherwise: a queue that fills and drains by a few thousand does not reallocate each time.
 */
const KEEP_WHEN_EMPTY_SLOTS = 16384;
/** bytes per slot in a chunk's required columns: segment (4) + offset (4) + length (4) + flags (1) */
const SLOT_BYTES = 13;
/** delivery counts saturate here (u16) */
const MAX_DELIVERIES = 0xffff;

export const POSITION_REDELIVERED = 1;

/** One position with all its columns, for callers that move positions between rings. */
export interface Position {
  segment: number;
  offset: number;
  length: number;
  flags: number;
  expiresAt: number;
  deliveries: number;
  bodySize: number;
}

export function newPosition(): Position {
  return { segment: 0, offset: 0, length: 0, flags: 0, expiresAt: 0, deliveries: 0, bodySize: 0 };
}

/** `capacity` slots: the required columns share one ArrayBuffer, the optional ones come when first used */
class Chunk {
  readonly segments: Uint32Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly flagBits: Uint8Array;
  expiry: Float64Array | null = null;
  deliveryCounts: Uint16Array | null = null;
  bodySizes: Uint32Array | null = null;

  constructor(readonly capacity: number) {
    const buffer = new ArrayBuffer(capacity * SLOT_BYTES);
    this.segments = new Uint32Array(buffer, 0, capacity);
    this.offsets = new Uint32Array(buffer, capacity * 4, capacity);
    this.lengths = new Uint32Array(buffer, capacity * 8, capacity);
    this.flagBits = new Uint8Array(buffer, capacity * 12, capacity);
  }

  get bytes(): number {
    let bytes = this.capacity * SLOT_BYTES;
    if (this.expiry !== null) bytes += this.expiry.byteLength;
    if (this.deliveryCounts !== null) bytes += this.deliveryCounts.byteLength;
    if (this.bodySizes !== null) bytes += this.bodySizes.byteLength;
    return bytes;
  }
}

export class PositionRing {
  /** head chunk first, tail chunk last; the head is at headSlot of chunks[0], the next push at tailSlot of the last */
  private chunks: Chunk[];
  private headChunk: Chunk;
  private tailChunk: Chunk;
  private headSlot = 0;
  private tailSlot = 0;
  private count = 0;
  /** an emptied chunk kept for the next growth */
  private spare: Chunk | null = null;

  /** `initialSlots`: the first chunk's size (a ring that is usually nearly empty can start smaller) */
  constructor(initialSlots: number = INITIAL_SLOTS) {
    const chunk = new Chunk(initialSlots);
    this.chunks = [chunk];
    this.headChunk = chunk;
    this.tailChunk = chunk;
  }

  get size(): number {
    return this.count;
  }

  /** bytes of RAM the ring's arrays take, the spare chunk included (for tests and metrics) */
  get capacityBytes(): number {
    let bytes = this.spare === null ? 0 : this.spare.bytes;
    for (let i = 0; i < this.chunks.length; i++) bytes += this.chunks[i]!.bytes;
    return bytes;
  }

  push(segment: number, offset: number, length: number, flags: number, expiresAt = 0, deliveries = 0, bodySize = 0): void {
    if (this.tailSlot === this.tailChunk.capacity) this.addTailChunk();
    write(this.tailChunk, this.tailSlot++, segment, offset, length, flags, expiresAt, deliveries, bodySize);
    this.count++;
  }

  /** put a position in front of the head (requeue) */
  unshift(segment: number, offset: number, length: number, flags: number, expiresAt = 0, deliveries = 0, bodySize = 0): void {
    if (this.count === 0) {
      this.push(segment, offset, length, flags, expiresAt, deliveries, bodySize);
      return;
    }
    if (this.headSlot === 0) this.addHeadChunk();
    write(this.headChunk, --this.headSlot, segment, offset, length, flags, expiresAt, deliveries, bodySize);
    this.count++;
  }

  headSegment(): number {
    return this.headChunk.segments[this.headSlot]!;
  }
  headOffset(): number {
    return this.headChunk.offsets[this.headSlot]!;
  }
  headLength(): number {
    return this.headChunk.lengths[this.headSlot]!;
  }
  headFlags(): number {
    return this.headChunk.flagBits[this.headSlot]!;
  }
  /** 0 when the head never expires */
  headExpiresAt(): number {
    const expiry = this.headChunk.expiry;
    return expiry === null ? 0 : expiry[this.headSlot]!;
  }
  headDeliveries(): number {
    const counts = this.headChunk.deliveryCounts;
    return counts === null ? 0 : counts[this.headSlot]!;
  }
  headBodySize(): number {
    const sizes = this.headChunk.bodySizes;
    return sizes === null ? 0 : sizes[this.headSlot]!;
  }

  /** copy the head into `out` */
  readHead(out: Position): Position {
    const chunk = this.headChunk;
    const i = this.headSlot;
    out.segment = chunk.segments[i]!;
    out.offset = chunk.offsets[i]!;
    out.length = chunk.lengths[i]!;
    out.flags = chunk.flagBits[i]!;
    out.expiresAt = chunk.expiry === null ? 0 : chunk.expiry[i]!;
    out.deliveries = chunk.deliveryCounts === null ? 0 : chunk.deliveryCounts[i]!;
    out.bodySize = chunk.bodySizes === null ? 0 : chunk.bodySizes[i]!;
    return out;
  }

  /** drop the head; read it first with the head* accessors */
  shift(): void {
    if (this.count === 0) return;
    if (--this.count === 0) {
      this.resetEmpty();
      return;
    }
    if (++this.headSlot === this.headChunk.capacity) {
      // the head chunk is used up (positions remain, so a chunk follows it)
      this.keepSpare(this.chunks.shift()!);
      this.headChunk = this.chunks[0]!;
      this.headSlot = 0;
    }
  }

  /** visit every position from head to tail */
  forEach(visit: (segment: number, offset: number, length: number, flags: number) => void): void {
    if (this.count === 0) return;
    const chunks = this.chunks;
    const last = chunks.length - 1;
    for (let c = 0; c <= last; c++) {
      const chunk = chunks[c]!;
      const end = c === last ? this.tailSlot : chunk.capacity;
      for (let i = c === 0 ? this.headSlot : 0; i < end; i++) {
        visit(chunk.segments[i]!, chunk.offsets[i]!, chunk.lengths[i]!, chunk.flagBits[i]!);
      }
    }
  }

  clear(): void {
    this.count = 0;
    this.resetEmpty();
  }

  private addTailChunk(): void {
    const chunk = this.takeChunk(Math.min(MAX_CHUNK_SLOTS, Math.max(INITIAL_SLOTS, this.count)));
    this.chunks.push(chunk);
    this.tailChunk = chunk;
    this.tailSlot = 0;
  }

  private addHeadChunk(): void {
    const chunk = this.takeChunk(INITIAL_SLOTS);
    this.chunks.unshift(chunk);
    this.headChunk = chunk;
    this.headSlot = chunk.capacity;
  }

  /** the spare chunk if there is one, else a new chunk of `capacity` slots */
  private takeChunk(capacity: number): Chunk {
    const spare = this.spare;
    if (spare === null) return new Chunk(capacity);
    this.spare = null;
    return spare;
  }

  /** keep the larger of an emptied chunk and the current spare */
  private keepSpare(chunk: Chunk): void {
    if (this.spare === null || this.spare.capacity < chunk.capacity) this.spare = chunk;
  }

  /** the ring is empty: start over in one chunk, giving larger ones back */
  private resetEmpty(): void {
    let chunk = this.tailChunk;
    if (chunk.capacity > KEEP_WHEN_EMPTY_SLOTS) chunk = new Chunk(INITIAL_SLOTS);
    if (this.chunks.length !== 1 || this.chunks[0] !== chunk) this.chunks = [chunk];
    if (this.spare !== null && this.spare.capacity > INITIAL_SLOTS) this.spare = null;
    this.headChunk = chunk;
    this.tailChunk = chunk;
    this.headSlot = 0;
    this.tailSlot = 0;
  }
}

function write(
  chunk: Chunk,
  i: number,
  segment: number,
  offset: number,
  length: number,
  flags: number,
  expiresAt: number,
  deliveries: number,
  bodySize: number,
): void {
  chunk.segments[i] = segment;
  chunk.offsets[i] = offset;
  chunk.lengths[i] = length;
  chunk.flagBits[i] = flags;
  // a chunk without an optional column reads 0 there; once the column exists, every write sets it
  if (expiresAt !== 0 || chunk.expiry !== null) (chunk.expiry ??= new Float64Array(chunk.capacity))[i] = expiresAt;
  if (deliveries !== 0 || chunk.deliveryCounts !== null) {
    (chunk.deliveryCounts ??= new Uint16Array(chunk.capacity))[i] = Math.min(deliveries, MAX_DELIVERIES);
  }
  if (bodySize !== 0 || chunk.bodySizes !== null) (chunk.bodySizes ??= new Uint32Array(chunk.capacity))[i] = bodySize;
}
