/**
 * Reusable fixed-size buffers for data that is read, sent and then dropped (a Fetch response's record
 * batches). Allocating a fresh megabyte per fetch costs little by itself, but V8 answers every 64 MB of
 * such external memory with a full mark-compact, which took about a fifth of the broker's CPU while a
 * consumer read a topic from the start.
 *
 * acquire() lends a buffer of `slabBytes` (or allocates a plain one for larger requests); release() takes
 * back any view of a lent buffer once nothing uses its bytes any more, and ignores everything else, so a
 * caller may offer every buffer it held. A buffer that is never released is simply garbage-collected:
 * the pool keeps strong references only to the (at most `maxFree`) buffers it holds free.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** backing stores lent out and not yet released */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly slabBytes: number,
    private readonly maxFree: number,
  ) {}

  /** `size` bytes (uninitialised): a view of a pooled slab when it fits one, else a fresh buffer. */
  acquire(size: number): Buffer {
    if (size > this.slabBytes) return Buffer.allocUnsafe(size);
    const slab = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabBytes);
    this.lent.add(slab.buffer);
    return slab.subarray(0, size);
  }

  /** True when `view` lies in a slab lent by this pool and not yet released. */
  isLent(view: Buffer): boolean {
    return this.lent.has(view.buffer);
  }

  /** Takes back the slab `view` lies in, if this pool lent it; the caller must not touch its bytes again. */
  release(view: Buffer): void {
    const store = view.buffer;
    if (!this.lent.delete(store)) return;
    if (this.free.length < this.maxFree) this.free.push(Buffer.from(store, 0, this.slabBytes));
  }

  /** Slabs held free, for tests. */
  get freeCount(): number {
    return this.free.length;
  }
}
