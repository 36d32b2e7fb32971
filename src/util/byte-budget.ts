/**
 * A count of bytes shared by many users (connections), with a capacity: what Kafka's MemoryPool is to
 * queued.max.request.bytes. take() always succeeds and may pass the capacity (a caller that already holds
 * the bytes accounts for them); tryTake() succeeds only while the total stays within the capacity, or when
 * nothing is taken at all (so one request larger than the whole budget still goes through, alone). Those
 * refused wait in order with whenAvailable() and are woken as bytes are released.
 */
export class ByteBudget {
  private taken = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly capacity: number) {}

  get used(): number {
    return this.taken;
  }

  /** Callers waiting for room (whenAvailable). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Bytes left before the capacity (0 when it is passed). */
  get available(): number {
    return Math.max(0, this.capacity - this.taken);
  }

  take(bytes: number): void {
    this.taken += bytes;
  }

  /** Takes `bytes` when they fit (or when nothing is taken); false, taking nothing, otherwise. */
  tryTake(bytes: number): boolean {
    if (this.taken > 0 && this.taken + bytes > this.capacity) return false;
    this.taken += bytes;
    return true;
  }

  release(bytes: number): void {
    this.taken -= bytes;
    if (this.taken < 0) this.taken = 0;
    // every waiter tries again, in order; one that still does not fit waits again at the back
    if (this.waiters.length > 0 && this.taken < this.capacity) {
      const woken = this.waiters.splice(0);
      for (const wake of woken) wake();
    }
  }

  /** `wake` is called once, at the next release that leaves room (see release()); cancel with the result. */
  whenAvailable(wake: () => void): () => void {
    this.waiters.push(wake);
    return () => {
      const i = this.waiters.indexOf(wake);
      if (i >= 0) this.waiters.splice(i, 1);
    };
  }
}
