/**
 * A binary min-heap of held message positions ordered by due time, kept in typed arrays (struct of
 * arrays) so a held message costs 16 bytes of RAM however large its body is:
 *
 *   due time (f64, ms since the epoch) │ segment (u32) │ offset (u32)
 *
 * The record length is not kept: the log's segment index knows it (SegmentLog.readAt).
 * Ties on the due time are broken by (segment, offset), which grow in append order within one log:
 * messages due at the same millisecond come out in the order they were held, without a sequence field.
 *
 * Slots live in chunks of CHUNK_SLOTS, one ArrayBuffer per chunk holding the three columns. Growing adds
 * a chunk and never copies, so a burst of holds leaves no outgrown arrays behind: an outgrown array has
 * lived long enough to sit in V8's old generation, which only a full GC sweeps, and an idle broker may
 * run none for hours (with doubling, a million holds left ~20 MB of dead arrays in RSS). A growing heap
 * has under one chunk of slack; a draining one gives chunks back as it goes, keeping one spare. The first
 * chunk starts at INITIAL_SLOTS and doubles up to CHUNK_SLOTS, so an idle exchange costs 16 KiB.
 */
/** log2 of the slots per chunk */
const CHUNK_SHIFT = 15;
/** Slots per chunk: 32768 slots = 512 KiB, few enough allocations for a million holds (31 chunks). */
const CHUNK_SLOTS = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_SLOTS - 1;
/** bytes per slot: due time (8) + segment (4) + offset (4) */
const SLOT_BYTES = 16;
/** Slots of a new heap's first chunk (16 KiB): most delayed exchanges hold few messages. */
const INITIAL_SLOTS = 1024;
/**
 * An emptied heap keeps a first chunk of up to this many slots (128 KiB) instead of starting over, so a
 * heap that fills and drains by a few thousand messages does not reallocate every time.
 */
const KEEP_WHEN_EMPTY_SLOTS = 8192;

export class DueHeap {
  private dues: Float64Array[] = [];
  private segments: Uint32Array[] = [];
  private offsets: Uint32Array[] = [];
  private capacity = 0;
  private count = 0;

  constructor() {
    this.addChunk(INITIAL_SLOTS);
  }

  get size(): number {
    return this.count;
  }

  /** bytes of RAM the heap's arrays take (for tests and metrics) */
  get capacityBytes(): number {
    return this.capacity * SLOT_BYTES;
  }

  push(due: number, segment: number, offset: number): void {
    if (this.count === this.capacity) this.grow();
    let i = this.count++;
    const dues = this.dues;
    const segments = this.segments;
    const offsets = this.offsets;
    // sift up: move parents down until the new entry's place is found
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pc = parent >>> CHUNK_SHIFT;
      const ps = parent & CHUNK_MASK;
      const parentDue = dues[pc]![ps]!;
      const parentSegment = segments[pc]![ps]!;
      const parentOffset = offsets[pc]![ps]!;
      if (!before(due, segment, offset, parentDue, parentSegment, parentOffset)) break;
      const c = i >>> CHUNK_SHIFT;
      const s = i & CHUNK_MASK;
      dues[c]![s] = parentDue;
      segments[c]![s] = parentSegment;
      offsets[c]![s] = parentOffset;
      i = parent;
    }
    const c = i >>> CHUNK_SHIFT;
    const s = i & CHUNK_MASK;
    dues[c]![s] = due;
    segments[c]![s] = segment;
    offsets[c]![s] = offset;
  }

  /** due time of the earliest entry; Infinity when empty */
  topDue(): number {
    return this.count > 0 ? this.dues[0]![0]! : Infinity;
  }
  topSegment(): number {
    return this.segments[0]![0]!;
  }
  topOffset(): number {
    return this.offsets[0]![0]!;
  }

  /** drop the earliest entry; read it first with the top* accessors */
  pop(): void {
    if (this.count === 0) return;
    const last = --this.count;
    if (last === 0) {
      if (this.capacity > KEEP_WHEN_EMPTY_SLOTS) this.reset();
      return;
    }
    const dues = this.dues;
    const segments = this.segments;
    const offsets = this.offsets;
    const lc = last >>> CHUNK_SHIFT;
    const ls = last & CHUNK_MASK;
    const due = dues[lc]![ls]!;
    const segment = segments[lc]![ls]!;
    const offset = offsets[lc]![ls]!;
    // sift down from the root with the former last entry
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      let cc = child >>> CHUNK_SHIFT;
      let cs = child & CHUNK_MASK;
      let childDue = dues[cc]![cs]!;
      let childSegment = segments[cc]![cs]!;
      let childOffset = offsets[cc]![cs]!;
      const right = child + 1;
      if (right < last) {
        const rc = right >>> CHUNK_SHIFT;
        const rs = right & CHUNK_MASK;
        const rightDue = dues[rc]![rs]!;
        const rightSegment = segments[rc]![rs]!;
        const rightOffset = offsets[rc]![rs]!;
        if (before(rightDue, rightSegment, rightOffset, childDue, childSegment, childOffset)) {
          child = right;
          cc = rc;
          cs = rs;
          childDue = rightDue;
          childSegment = rightSegment;
          childOffset = rightOffset;
        }
      }
      if (!before(childDue, childSegment, childOffset, due, segment, offset)) break;
      const c = i >>> CHUNK_SHIFT;
      const s = i & CHUNK_MASK;
      dues[c]![s] = childDue;
      segments[c]![s] = childSegment;
      offsets[c]![s] = childOffset;
      i = child;
    }
    const c = i >>> CHUNK_SHIFT;
    const s = i & CHUNK_MASK;
    dues[c]![s] = due;
    segments[c]![s] = segment;
    offsets[c]![s] = offset;
    // give a chunk back once two are unused (one spare, so a heap hovering at a boundary does not churn)
    if (last <= this.capacity - 2 * CHUNK_SLOTS) this.dropLastChunk();
  }

  clear(): void {
    this.count = 0;
    if (this.capacity > KEEP_WHEN_EMPTY_SLOTS) this.reset();
  }

  private grow(): void {
    if (this.capacity < CHUNK_SLOTS) {
      // the first chunk doubles until it is a whole chunk: small copies, under 512 KiB of garbage in all
      const oldDues = this.dues[0]!;
      const oldSegments = this.segments[0]!;
      const oldOffsets = this.offsets[0]!;
      this.dues.length = this.segments.length = this.offsets.length = this.capacity = 0;
      this.addChunk(oldDues.length * 2);
      this.dues[0]!.set(oldDues);
      this.segments[0]!.set(oldSegments);
      this.offsets[0]!.set(oldOffsets);
    } else {
      this.addChunk(CHUNK_SLOTS);
    }
  }

  private addChunk(slots: number): void {
    const chunk = new ArrayBuffer(slots * SLOT_BYTES);
    this.dues.push(new Float64Array(chunk, 0, slots));
    this.segments.push(new Uint32Array(chunk, slots * 8, slots));
    this.offsets.push(new Uint32Array(chunk, slots * 12, slots));
    this.capacity += slots;
  }

  private dropLastChunk(): void {
    this.dues.pop();
    this.segments.pop();
    this.offsets.pop();
    this.capacity -= CHUNK_SLOTS;
  }

  private reset(): void {
    this.dues.length = this.segments.length = this.offsets.length = this.capacity = 0;
    this.addChunk(INITIAL_SLOTS);
  }
}

/** entry a comes out before entry b: earlier due time, then earlier position in the log */
function before(dueA: number, segmentA: number, offsetA: number, dueB: number, segmentB: number, offsetB: number): boolean {
  if (dueA !== dueB) return dueA < dueB;
  if (segmentA !== segmentB) return segmentA < segmentB;
  return offsetA < offsetB;
}
