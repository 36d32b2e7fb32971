/**
 * A queue's records that wait for their durability round (see queue.ts's header: delivery and
 * durability), in append order, and the gets waiting behind them (afterAll).
 *
 * Positions are in a PositionRing; the priority of each is kept in its `deliveries` column (always 0 for
 * a new message). The rounds are run-length encoded: rounds[i] is the round of the next counts[i]
 * records, from `head` on. A run of round 0 is records nobody waits for, queued behind one that waits: it
 * goes (released or dropped) with the run before it.
 *
 * The queue takes records out in two steps: endRoundsThrough() (or endUnawaitedHead()) ends runs and says
 * how many records they cover, and the queue then moves that many from the head of the ring with shift().
 */
import { PositionRing, type Position } from '../../util/position-ring.js';

/**
 * First chunk of a queue's ring of records waiting for their round, slots (13 bytes each): a round is
 * milliseconds, so it rarely holds more; created on the first push, it grows by chunks if need be.
 */
const PENDING_INITIAL_SLOTS = 64;
/** Ended runs kept at the front of the run arrays before they are sliced off (amortised O(1) per run). */
const TRIM_AFTER_RUNS = 1024;

/** the ring of a queue that never had a pending record (shared, always empty: never pushed to) */
const NO_RING = new PositionRing(1);

export class PendingRecords {
  private ring: PositionRing = NO_RING;
  private rounds: number[] = [];
  private counts: number[] = [];
  private head = 0;
  /** tracked body bytes of the records (see Queue.trackedSize) */
  bodyBytes = 0;
  /** gets waiting for every record pending when they came (afterAll): the last such round, and whom to call */
  private waiterRounds: number[] = [];
  private waiterCallbacks: Array<() => void> = [];

  get size(): number {
    return this.ring.size;
  }

  get capacityBytes(): number {
    return this.ring.capacityBytes;
  }

  /** true while a run of some round has not ended */
  get waitsForRounds(): boolean {
    return this.head < this.rounds.length;
  }

  /** a record joins, covered by `round` (0: nobody waits for it, it goes with the one before it) */
  push(segment: number, offset: number, length: number, expiresAt: number, priority: number, trackedBody: number, round: number): void {
    if (this.ring === NO_RING) this.ring = new PositionRing(PENDING_INITIAL_SLOTS);
    this.ring.push(segment, offset, length, 0, expiresAt, priority, trackedBody);
    this.bodyBytes += trackedBody;
    const rounds = this.rounds;
    if (rounds.length > this.head && rounds[rounds.length - 1] === round) this.counts[rounds.length - 1]!++;
    else {
      rounds.push(round);
      this.counts.push(1);
    }
  }

  /**
   * Ends the runs of rounds up to `through`: returns how many records they cover (now at the head of the
   * ring, for shift()), or -1 when no run ended.
   */
  endRoundsThrough(through: number): number {
    const rounds = this.rounds;
    const counts = this.counts;
    let head = this.head;
    let records = 0;
    while (head < rounds.length && rounds[head]! <= through) records += counts[head++]!;
    if (head === this.head) return -1;
    this.trim(head);
    return records;
  }

  /**
   * The records that waited for a round went (drop-head took them): ends the runs of round 0 now at the
   * head, records nobody waits for that have nothing left to wait for. Returns how many records they
   * cover (for shift()), or -1 when there were none.
   */
  endUnawaitedHead(): number {
    const rounds = this.rounds;
    const counts = this.counts;
    let head = this.head;
    let records = 0;
    while (head < rounds.length && rounds[head] === 0) records += counts[head++]!;
    if (head === this.head) return -1;
    this.trim(head);
    return records;
  }

  /** removes the head record (of runs ended by endRoundsThrough / endUnawaitedHead) into `p` */
  shift(p: Position): Position {
    this.ring.readHead(p);
    this.ring.shift();
    this.bodyBytes -= p.bodySize;
    return p;
  }

  /** removes the oldest record, whatever its round, into `p` (drop-head overflow); null when none */
  shiftOldest(p: Position): Position | null {
    const ring = this.ring;
    if (ring.size === 0) return null;
    ring.readHead(p);
    ring.shift();
    this.bodyBytes -= p.bodySize;
    p.deliveries = 0; // the column held its priority
    let head = this.head;
    const counts = this.counts;
    while (head < counts.length && counts[head] === 0) head++;
    if (head < counts.length) counts[head]!--;
    while (head < counts.length && counts[head] === 0) head++;
    this.trim(head);
    return p;
  }

  /** calls `visit` with each record's position, oldest first */
  forEach(visit: (segment: number, offset: number) => void): void {
    this.ring.forEach(visit);
  }

  /** forgets every record; the runs stay (with no records) and end when their rounds do */
  clear(): void {
    this.ring.clear();
    this.bodyBytes = 0;
    for (let i = this.head; i < this.counts.length; i++) this.counts[i] = 0;
  }

  /**
   * `callback` runs once every record waiting now has been released or dropped (at once when none
   * waits): see wakeWaiters.
   */
  afterAll(callback: () => void): void {
    const rounds = this.rounds;
    // the last round anything pending waits for (runs of round 0, records nobody waits for, go with the
    // round before them; rounds only grow, so the last non-zero one is the highest)
    let last = 0;
    for (let i = rounds.length - 1; i >= this.head && last === 0; i--) last = rounds[i]!;
    if (last === 0) {
      callback();
      return;
    }
    this.waiterRounds.push(last);
    this.waiterCallbacks.push(callback);
  }

  /** calls the waiters whose records are all gone (every waiter when `all`: the queue was deleted) */
  wakeWaiters(all: boolean): void {
    const targets = this.waiterRounds;
    if (targets.length === 0) return;
    const rounds = this.rounds;
    const headRound = this.head < rounds.length ? rounds[this.head]! : Infinity;
    let woken = 0;
    while (woken < targets.length && (targets[woken]! < headRound || all)) woken++;
    if (woken === 0) return;
    const callbacks = this.waiterCallbacks.splice(0, woken);
    targets.splice(0, woken);
    for (const callback of callbacks) callback();
  }

  private trim(head: number): void {
    if (head === this.rounds.length) {
      this.rounds.length = 0;
      this.counts.length = 0;
      this.head = 0;
    } else if (head > TRIM_AFTER_RUNS && head * 2 > this.rounds.length) {
      this.rounds = this.rounds.slice(head);
      this.counts = this.counts.slice(head);
      this.head = 0;
    } else {
      this.head = head;
    }
  }
}
