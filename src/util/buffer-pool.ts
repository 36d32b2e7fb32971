/**
 * Reusable fixed-size buffers for data that is read, sent and then dropped (a Fetch response's record
 * batches). Allocating a fresh megabyte per fetch costs little by itself, but V8 answers every 64 MB of
 * such external memory with a full mark-compact, which took about a fifth of the broker's CPU while a
 * consumer read a topic from the start.
 *
 * acquire() lends a buffer of `slabBytes`, or for a larger request up to `maxSlabBytes` one of the next
 * power-of-two multiple of it (a 4 MiB fetch is as common a setting as a 1 MiB one, and a fresh 4 MiB
 * buffer costs a thousand page faults before the first byte is read into it); past that it allocates a
 * plain one. release() takes back any view of a lent buffer once nothing uses its bytes any more, and
 * ignores everything else, so a caller may offer every buffer it held. A buffer that is never released is
 * simply garbage-collected: the pool keeps strong references only to the buffers it holds free, at most
 * `maxFree` of `slabBytes` and `maxFreeLarge` of each larger size.
 */
export class BufferPool {
  /** free slabs by their size */
  private readonly free = new Map<number, Buffer[]>();
  /** backing stores lent out and not yet released */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly slabBytes: number,
    private readonly maxFree: number,
    readonly maxSlabBytes: number = slabBytes,
    private readonly maxFreeLarge: number = 1,
  ) {}

  /** `size` bytes (uninitialised): a view of a pooled slab when it fits one, else a fresh buffer. */
  acquire(size: number): Buffer {
    if (size > this.maxSlabBytes) return Buffer.allocUnsafe(size);
    let slabSize = this.slabBytes;
    while (slabSize < size) slabSize *= 2;
    const slab = this.free.get(slabSize)?.pop() ?? Buffer.allocUnsafeSlow(slabSize);
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
    const slabSize = store.byteLength;
    let list = this.free.get(slabSize);
    if (list === undefined) this.free.set(slabSize, (list = []));
    if (list.length < (slabSize === this.slabBytes ? this.maxFree : this.maxFreeLarge)) list.push(Buffer.from(store, 0, slabSize));
  }

  /** Slabs held free, of every size, for tests. */
  get freeCount(): number {
    let count = 0;
    for (const list of this.free.values()) count += list.length;
    return count;
  }
}
