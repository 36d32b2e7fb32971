/**
 * A FIFO of message positions kept in typed arrays (struct of arrays), so a queued message costs
 * 13 bytes of RAM however large its body is: segment (u32), offset (u32), record length (u32), flags (u8).
 * Grows by doubling; never shrinks below its initial capacity.
 */
const INITIAL_CAPACITY = 1024;
/** An emptied ring larger than this many slots gives its memory back (a drained backlog of 1M = 13 MB). */
const SHRINK_ABOVE_CAPACITY = 65536;

export const POSITION_REDELIVERED = 1;

export class PositionRing {
  private segments: Uint32Array;
  private offsets: Uint32Array;
  private lengths: Uint32Array;
  private flagBits: Uint8Array;
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

  push(segment: number, offset: number, length: number, flags: number): void {
    if (this.count === this.segments.length) this.grow();
    const i = (this.head + this.count) & this.mask;
    this.segments[i] = segment;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.flagBits[i] = flags;
    this.count++;
  }

  /** put a position in front of the head (requeue) */
  unshift(segment: number, offset: number, length: number, flags: number): void {
    if (this.count === this.segments.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.segments[this.head] = segment;
    this.offsets[this.head] = offset;
    this.lengths[this.head] = length;
    this.flagBits[this.head] = flags;
    this.count++;
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
    this.head = 0;
    this.mask = capacity - 1;
  }

  private grow(): void {
    const cap = this.segments.length * 2;
    const move = <T extends Uint32Array | Uint8Array>(old: T, fresh: T): T => {
      for (let k = 0; k < this.count; k++) fresh[k] = old[(this.head + k) & this.mask]!;
      return fresh;
    };
    this.segments = move(this.segments, new Uint32Array(cap));
    this.offsets = move(this.offsets, new Uint32Array(cap));
    this.lengths = move(this.lengths, new Uint32Array(cap));
    this.flagBits = move(this.flagBits, new Uint8Array(cap));
    this.head = 0;
    this.mask = cap - 1;
  }
}
