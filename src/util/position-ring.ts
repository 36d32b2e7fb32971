/**
 * A FIFO of message positions kept in typed arrays (struct of arrays), so a queued message costs
 * 13 bytes of RAM however large its body is: segment (u32), offset (u32), record length (u32), flags (u8).
 * Three optional columns are allocated only once a non-zero value is stored in them: expiry time
 * (f64, ms since epoch), delivery count (u16) and body size (u32, for byte limits). Grows by doubling;
 * gives its memory back when a large backlog drains.
 */
const INITIAL_CAPACITY = 1024;
/** An emptied ring larger than this many slots gives its memory back (a drained backlog of 1M = 13 MB). */
const SHRINK_ABOVE_CAPACITY = 65536;
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

export class PositionRing {
  private segments: Uint32Array;
  private offsets: Uint32Array;
  private lengths: Uint32Array;
  private flagBits: Uint8Array;
  private expiry: Float64Array | null = null;
  private deliveryCounts: Uint16Array | null = null;
  private bodySizes: Uint32Array | null = null;
  private head = 0;
  private count = 0;
  private mask: number;

  constructor(capacity = INITIAL_CAPACITY) {
    let cap = INITIAL_CAPACITY;
    while (cap < capacity) cap *= 2;
    this.segments = new Uint32Array(cap);
    this.offsets = new Uint32Array(cap);
    this.lengths = new Uint32Array(cap);
    this.flagBits = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  push(segment: number, offset: number, length: number, flags: number, expiresAt = 0, deliveries = 0, bodySize = 0): void {
    if (this.count === this.segments.length) this.grow();
    this.set((this.head + this.count) & this.mask, segment, offset, length, flags, expiresAt, deliveries, bodySize);
    this.count++;
  }

  /** put a position in front of the head (requeue) */
  unshift(segment: number, offset: number, length: number, flags: number, expiresAt = 0, deliveries = 0, bodySize = 0): void {
    if (this.count === this.segments.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.set(this.head, segment, offset, length, flags, expiresAt, deliveries, bodySize);
    this.count++;
  }

  private set(i: number, segment: number, offset: number, length: number, flags: number, expiresAt: number, deliveries: number, bodySize: number): void {
    this.segments[i] = segment;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.flagBits[i] = flags;
    if (expiresAt !== 0 || this.expiry !== null) (this.expiry ??= new Float64Array(this.segments.length))[i] = expiresAt;
    if (deliveries !== 0 || this.deliveryCounts !== null) {
      (this.deliveryCounts ??= new Uint16Array(this.segments.length))[i] = Math.min(deliveries, MAX_DELIVERIES);
    }
    if (bodySize !== 0 || this.bodySizes !== null) (this.bodySizes ??= new Uint32Array(this.segments.length))[i] = bodySize;
  }

  headSegment(): number {
    return this.segments[this.head]!;
  }
  headOffset(): number {
    return this.offsets[this.head]!;
  }
  headLength(): number {
    return this.lengths[this.head]!;
  }
  headFlags(): number {
    return this.flagBits[this.head]!;
  }
  /** 0 when the head never expires */
  headExpiresAt(): number {
    return this.expiry === null ? 0 : this.expiry[this.head]!;
  }
  headDeliveries(): number {
    return this.deliveryCounts === null ? 0 : this.deliveryCounts[this.head]!;
  }
  headBodySize(): number {
    return this.bodySizes === null ? 0 : this.bodySizes[this.head]!;
  }

  /** copy the head into `out` */
  readHead(out: Position): Position {
    const i = this.head;
    out.segment = this.segments[i]!;
    out.offset = this.offsets[i]!;
    out.length = this.lengths[i]!;
    out.flags = this.flagBits[i]!;
    out.expiresAt = this.expiry === null ? 0 : this.expiry[i]!;
    out.deliveries = this.deliveryCounts === null ? 0 : this.deliveryCounts[i]!;
    out.bodySize = this.bodySizes === null ? 0 : this.bodySizes[i]!;
    return out;
  }

  /** drop the head; read it first with the head* accessors */
  shift(): void {
    if (this.count === 0) return;
    this.head = (this.head + 1) & this.mask;
    if (--this.count === 0 && this.segments.length > SHRINK_ABOVE_CAPACITY) this.reallocate(INITIAL_CAPACITY);
  }

  /** visit every position from head to tail */
  forEach(visit: (segment: number, offset: number, length: number, flags: number) => void): void {
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & this.mask;
      visit(this.segments[i]!, this.offsets[i]!, this.lengths[i]!, this.flagBits[i]!);
    }
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    if (this.segments.length > SHRINK_ABOVE_CAPACITY) this.reallocate(INITIAL_CAPACITY);
  }

  private reallocate(capacity: number): void {
    this.segments = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.flagBits = new Uint8Array(capacity);
    this.expiry = null;
    this.deliveryCounts = null;
    this.bodySizes = null;
    this.head = 0;
    this.mask = capacity - 1;
  }

  private grow(): void {
    const cap = this.segments.length * 2;
    const head = this.head;
    const count = this.count;
    const mask = this.mask;
    function move<T extends Uint32Array | Uint8Array | Uint16Array | Float64Array>(old: T, fresh: T): T {
      for (let k = 0; k < count; k++) fresh[k] = old[(head + k) & mask]!;
      return fresh;
    }
    this.segments = move(this.segments, new Uint32Array(cap));
    this.offsets = move(this.offsets, new Uint32Array(cap));
    this.lengths = move(this.lengths, new Uint32Array(cap));
    this.flagBits = move(this.flagBits, new Uint8Array(cap));
    if (this.expiry !== null) this.expiry = move(this.expiry, new Float64Array(cap));
    if (this.deliveryCounts !== null) this.deliveryCounts = move(this.deliveryCounts, new Uint16Array(cap));
    if (this.bodySizes !== null) this.bodySizes = move(this.bodySizes, new Uint32Array(cap));
    this.head = 0;
    this.mask = cap - 1;
  }
}
