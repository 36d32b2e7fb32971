/**
 * A binary min-heap of held message positions ordered by due time, kept in typed arrays (struct of
 * arrays) so a held message costs 20 bytes of RAM however large its body is:
 *
 *   due time (f64, ms since the epoch) │ segment (u32) │ offset (u32) │ record length (u32)
 *
 * Ties on the due time are broken by (segment, offset), which grow in append order within one log:
 * messages due at the same millisecond come out in the order they were held, without a sequence field.
 * Grows by doubling; an emptied heap larger than SHRINK_ABOVE_CAPACITY gives its memory back.
 */
const INITIAL_CAPACITY = 1024;
/** An emptied heap larger than this many slots gives its memory back (1M held = 20 MB of arrays). */
const SHRINK_ABOVE_CAPACITY = 65536;

export class DueHeap {
  private dues: Float64Array;
  private segments: Uint32Array;
  private offsets: Uint32Array;
  private lengths: Uint32Array;
  private count = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    let cap = INITIAL_CAPACITY;
    while (cap < capacity) cap *= 2;
    this.dues = new Float64Array(cap);
    this.segments = new Uint32Array(cap);
    this.offsets = new Uint32Array(cap);
    this.lengths = new Uint32Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** bytes of RAM the heap's arrays take (for tests and metrics) */
  get capacityBytes(): number {
    return this.dues.byteLength + this.segments.byteLength + this.offsets.byteLength + this.lengths.byteLength;
  }

  push(due: number, segment: number, offset: number, length: number): void {
    if (this.count === this.dues.length) this.reallocate(this.dues.length * 2);
    let i = this.count++;
    const dues = this.dues;
    const segments = this.segments;
    const offsets = this.offsets;
    const lengths = this.lengths;
    // sift up: move parents down until the new entry's place is found
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(due, segment, offset, dues[parent]!, segments[parent]!, offsets[parent]!)) break;
      dues[i] = dues[parent]!;
      segments[i] = segments[parent]!;
      offsets[i] = offsets[parent]!;
      lengths[i] = lengths[parent]!;
      i = parent;
    }
    dues[i] = due;
    segments[i] = segment;
    offsets[i] = offset;
    lengths[i] = length;
  }

  /** due time of the earliest entry; Infinity when empty */
  topDue(): number {
    return this.count > 0 ? this.dues[0]! : Infinity;
  }
  topSegment(): number {
    return this.segments[0]!;
  }
  topOffset(): number {
    return this.offsets[0]!;
  }
  topLength(): number {
    return this.lengths[0]!;
  }

  /** drop the earliest entry; read it first with the top* accessors */
  pop(): void {
    if (this.count === 0) return;
    const last = --this.count;
    if (last === 0) {
      if (this.dues.length > SHRINK_ABOVE_CAPACITY) this.reallocate(INITIAL_CAPACITY);
      return;
    }
    const dues = this.dues;
    const segments = this.segments;
    const offsets = this.offsets;
    const lengths = this.lengths;
    const due = dues[last]!;
    const segment = segments[last]!;
    const offset = offsets[last]!;
    const length = lengths[last]!;
    // sift down from the root with the former last entry
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      const right = child + 1;
      if (right < last && before(dues[right]!, segments[right]!, offsets[right]!, dues[child]!, segments[child]!, offsets[child]!)) {
        child = right;
      }
      if (!before(dues[child]!, segments[child]!, offsets[child]!, due, segment, offset)) break;
      dues[i] = dues[child]!;
      segments[i] = segments[child]!;
      offsets[i] = offsets[child]!;
      lengths[i] = lengths[child]!;
      i = child;
    }
    dues[i] = due;
    segments[i] = segment;
    offsets[i] = offset;
    lengths[i] = length;
  }

  clear(): void {
    this.count = 0;
    if (this.dues.length > SHRINK_ABOVE_CAPACITY) this.reallocate(INITIAL_CAPACITY);
  }

  private reallocate(capacity: number): void {
    const n = Math.min(this.count, capacity);
    const dues = new Float64Array(capacity);
    const segments = new Uint32Array(capacity);
    const offsets = new Uint32Array(capacity);
    const lengths = new Uint32Array(capacity);
    dues.set(this.dues.subarray(0, n));
    segments.set(this.segments.subarray(0, n));
    offsets.set(this.offsets.subarray(0, n));
    lengths.set(this.lengths.subarray(0, n));
    this.dues = dues;
    this.segments = segments;
    this.offsets = offsets;
    this.lengths = lengths;
  }
}

/** entry a comes out before entry b: earlier due time, then earlier position in the log */
function before(dueA: number, segmentA: number, offsetA: number, dueB: number, segmentB: number, offsetB: number): boolean {
  if (dueA !== dueB) return dueA < dueB;
  if (segmentA !== segmentB) return segmentA < segmentB;
  return offsetA < offsetB;
}
