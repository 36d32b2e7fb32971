/**
 * The held messages of one x-delayed-message exchange: bodies in a QueueStore (storage/queue-store.ts, kind
 * 'delayed': a segment log on disk with the file engine), positions in RAM.
 *
 *   hold(message) ──append──► QueueStore (<dataDir>/delayed/<hash>/ for a durable exchange, file engine)
 *                 ──push───► DueHeap: due time + segment/offset, 16 bytes per held message (the log's
 *                            segment index adds ~4.4 bytes: record lengths are read from it when due)
 *
 *   one timer, armed for the earliest due time (unref'd, re-armed only when a hold is due sooner)
 *     └─► deliverDue(): up to DUE_BATCH due messages per turn: read the record back, decode it, route it
 *         from the exchange by its inner type (bindings, alternate exchange and exchange-to-exchange
 *         bindings as of now), enqueue it, then ack the record here. When a queue needs the message
 *         fsynced (persistent into a durable queue), the ack waits for the sync round that covers the
 *         queue's copy, so a crash leaves the message in one place or both (redelivered), never neither.
 *
 * Record payload layout in the delayed log (big-endian):
 *
 *   offset   size  field
 *   0        1     delayed record version (= 1)
 *   1        8     due time: milliseconds since the Unix epoch, IEEE 754 float64 (wall clock, so it
 *                  survives a restart)
 *   9        ...   the message record exactly as a queue stores it (see message.ts)
 *
 * Recovery (durable exchanges): the log's onRecovered visitor rebuilds the heap from every live record,
 * one segment at a time; non-persistent messages are acked away (they do not survive a restart, as in a
 * queue). Messages whose due time passed while the broker was down are routed right after startup.
 */
import { UnsupportedFormatError, type Durability, type DurabilityListener, type QueueRecoveryVisitor, type QueueStore } from '../../storage/stores.js';
import { PositionRing } from '../../util/position-ring.js';
import type { Exchange } from '../exchange/exchange.js';
import { delayOf, markReleased } from '../exchange/delayed.js';
import { decodeRecord, RECORD_FLAG_PERSISTENT, type Message } from '../message.js';
import type { Queue } from '../queue/queue.js';
import { DueHeap } from './due-heap.js';
import { timerDelay } from '../../util/timers.js';

/**
 * How long held messages whose queue copies a failed round dropped wait before they are routed again, ms:
 * the pace at which the file engine retries a log it could not repair (storage/sync.ts), so a full disk is
 * not hammered once per held message.
 */
export const HELD_RETRY_INTERVAL_MS = 1000;

export const DELAYED_RECORD_VERSION = 1;
/** version byte + due time */
export const DELAYED_RECORD_HEADER_BYTES = 9;
/** Due messages routed per event-loop turn before yielding (keeps sockets served when many fall due at once). */
const DUE_BATCH = 1024;
const EMPTY = Buffer.alloc(0);

/** What a delayed store needs from the broker around it (BrokerCore provides it, through the vhost). */
export interface DelayedStorage {
  /** the durable stores' rounds: the held record's ack waits for the round covering its queue copies */
  readonly scheduler: Durability;
  /**
   * Storage for the held messages of an exchange. `restore`: reopen what a durable exchange left at the
   * last shutdown (calling `onRecovered` for each live record); otherwise start empty.
   */
  openDelayedStore(vhost: string, exchange: string, durable: boolean, restore: boolean, onRecovered: QueueRecoveryVisitor): QueueStore;
  /** a held message could not be read back or routed when due: it is dropped, and this says why */
  delayedMessageLost(vhost: string, exchange: string, reason: string): void;
}

/** How a due message is routed: the vhost's, which follows alternate and bound exchanges. */
export interface DelayedRouting {
  readonly name: string;
  /** the queues the message would reach now (the mandatory check at publish) */
  route(exchange: Exchange, message: Message, out: Queue[]): void;
  /** routes a due message into its queues, each copy awaited; true when a copy needs an fsync */
  publishReleased(exchange: Exchange, message: Message): boolean;
}

export class DelayedStore implements DurabilityListener {
  private readonly heap = new DueHeap();
  private readonly log: QueueStore;
  private readonly scheduler: Durability;
  private readonly parts: Buffer[] = [EMPTY, EMPTY, EMPTY, EMPTY];
  /** version + due time of the record being appended; append copies it at once, so one buffer serves all */
  private readonly recordStart = Buffer.allocUnsafe(DELAYED_RECORD_HEADER_BYTES);
  private readonly routed: Queue[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** when the armed timer fires (ms since the epoch); Infinity when none is armed */
  private armedAt = Infinity;
  /** a batch left due messages behind: a setImmediate continues it, no timer needed */
  private continuing = false;
  private stopped = false;
  /** delivered positions whose ack waits for the sync round covering the queues' copies, oldest first */
  private readonly acksWaiting = new PositionRing();
  private readonly ackBatchRounds: number[] = [];
  private readonly ackBatchSizes: number[] = [];
  private readonly fireBound = (): void => this.fire();

  constructor(
    private readonly storage: DelayedStorage,
    private readonly routing: DelayedRouting,
    private readonly exchange: Exchange,
    restore: boolean,
  ) {
    this.scheduler = storage.scheduler;
    const dropped = new PositionRing();
    const heap = this.heap;
    this.log = storage.openDelayedStore(routing.name, exchange.name, exchange.durable, restore, (segment, offset, length, payload) => {
      if (payload[0] !== DELAYED_RECORD_VERSION) {
        // its CRC holds, so a newer Postbox wrote it: refuse, never drop it
        const where = `delayed exchange '${exchange.name}' in vhost '${routing.name}', record ${segment}:${offset}`;
        throw new UnsupportedFormatError(where, payload[0] ?? -1, DELAYED_RECORD_VERSION, 'delayed record version');
      }
      const ok = payload.length > DELAYED_RECORD_HEADER_BYTES;
      if (ok && (payload[DELAYED_RECORD_HEADER_BYTES + 1]! & RECORD_FLAG_PERSISTENT) !== 0) {
        heap.push(payload.readDoubleBE(1), segment, offset);
      } else {
        dropped.push(segment, offset, length, 0);
      }
    });
    const log = this.log;
    dropped.forEach((segment, offset) => log.ack(segment, offset));
    this.scheduler.addListener(this);
    this.arm();
  }

  /** messages held and not yet routed */
  get pending(): number {
    return this.heap.size;
  }

  /** true when the message asks to be held (a positive integer x-delay header) */
  delays(message: Message): boolean {
    return delayOf(message) > 0;
  }

  /** how many queues the message would reach if it were routed now (the mandatory check at publish) */
  routableNow(message: Message): number {
    const routed = this.routed;
    this.routing.route(this.exchange, message, routed);
    const n = routed.length;
    routed.length = 0;
    return n;
  }

  /**
   * Hold a message until now + its x-delay. Returns true when the record must be fsynced before a
   * publisher confirm (a persistent message held by a durable exchange), as Queue.enqueue does.
   */
  hold(message: Message): boolean {
    const due = Date.now() + delayOf(message);
    const start = this.recordStart;
    start[0] = DELAYED_RECORD_VERSION;
    start.writeDoubleBE(due, 1);
    const parts = this.parts;
    parts[0] = start;
    parts[1] = message.recordHeader();
    parts[2] = message.properties;
    parts[3] = message.body;
    const length = DELAYED_RECORD_HEADER_BYTES + parts[1].length + parts[2].length + parts[3].length;
    const offset = this.log.append(parts, length);
    parts[1] = parts[2] = parts[3] = EMPTY;
    this.heap.push(due, this.log.lastSegment, offset);
    if (due < this.armedAt) this.arm();
    return message.persistent && this.exchange.durable;
  }

  onDurable(_round: number): void {
    const rounds = this.ackBatchRounds;
    if (rounds.length === 0 || this.stopped) return;
    const completed = this.scheduler.completedRound;
    const sizes = this.ackBatchSizes;
    const waiting = this.acksWaiting;
    const log = this.log;
    let batches = 0;
    while (batches < rounds.length && rounds[batches]! <= completed) {
      for (let n = sizes[batches]!; n > 0; n--) {
        log.ack(waiting.headSegment(), waiting.headOffset());
        waiting.shift();
      }
      batches++;
    }
    if (batches > 0) {
      rounds.splice(0, batches);
      sizes.splice(0, batches);
    }
  }

  /**
   * The rounds up to `through` failed: the queue copies of messages routed in them were dropped, so
   * those held records are not acked but held again, routed once more after HELD_RETRY_INTERVAL_MS.
   * (A held record whose own write failed was dropped by the log: its publisher was nacked.)
   */
  onFailed(through: number): void {
    const rounds = this.ackBatchRounds;
    if (rounds.length === 0 || this.stopped) return;
    const sizes = this.ackBatchSizes;
    const waiting = this.acksWaiting;
    const again = Date.now() + HELD_RETRY_INTERVAL_MS;
    let batches = 0;
    while (batches < rounds.length && rounds[batches]! <= through) {
      for (let n = sizes[batches]!; n > 0; n--) {
        this.heap.push(again, waiting.headSegment(), waiting.headOffset());
        waiting.shift();
      }
      batches++;
    }
    if (batches === 0) return;
    rounds.splice(0, batches);
    sizes.splice(0, batches);
    this.arm();
  }

  /** the exchange was deleted: drop every held message and the storage */
  destroy(): void {
    this.stop();
    this.heap.clear();
    this.acksWaiting.clear();
    this.log.destroy();
  }

  /** broker shutdown: stop the timer and close the log (held messages stay on disk) */
  close(): void {
    this.stop();
    this.log.close();
  }

  private stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = -Infinity; // no hold re-arms from now on
    this.ackBatchRounds.length = 0;
    this.ackBatchSizes.length = 0;
    this.scheduler.removeListener(this);
  }

  /** (re-)arm the one timer for the earliest due time */
  private arm(): void {
    if (this.stopped || this.continuing) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Infinity;
    const due = this.heap.topDue();
    if (due === Infinity) return;
    const now = Date.now();
    const wait = timerDelay(Math.ceil(due - now)); // a longer wait re-arms when it fires
    this.timer = setTimeout(this.fireBound, wait);
    this.timer.unref();
    this.armedAt = now + wait;
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Infinity;
    this.continuing = false;
    if (this.stopped) return;
    if (this.deliverDue()) {
      this.continuing = true;
      setImmediate(this.fireBound);
    } else {
      this.arm();
    }
  }

  /** route up to DUE_BATCH due messages; true when more are due */
  private deliverDue(): boolean {
    const heap = this.heap;
    const log = this.log;
    const waiting = this.acksWaiting;
    const now = Date.now();
    let delivered = 0;
    let syncing = 0;
    while (heap.size > 0 && heap.topDue() <= now) {
      if (delivered === DUE_BATCH) break;
      const segment = heap.topSegment();
      const offset = heap.topOffset();
      heap.pop();
      delivered++;
      if (this.routeRecord(segment, offset)) {
        waiting.push(segment, offset, 0, 0); // an ack needs the position only
        syncing++;
      } else {
        log.ack(segment, offset);
      }
    }
    if (syncing > 0) {
      this.ackBatchRounds.push(this.scheduler.requestRound());
      this.ackBatchSizes.push(syncing);
    }
    return heap.size > 0 && heap.topDue() <= now;
  }

  /** route one held record into its queues; true when a queue's copy needs a sync before the ack */
  private routeRecord(segment: number, offset: number): boolean {
    let needsSync = false;
    try {
      const payload = this.log.readAt(segment, offset);
      if (payload[0] !== DELAYED_RECORD_VERSION) throw new Error(`unknown delayed record version ${payload[0]}`);
      const message = decodeRecord(payload.subarray(DELAYED_RECORD_HEADER_BYTES));
      message.publishedAt = Date.now(); // a TTL runs from here, as with the plugin (which republishes)
      const delay = delayOf(message);
      if (delay > 0) markReleased(message, delay); // x-delay: -delay, as the plugin delivers it
      // awaited: the held record is acked only once the copies' round completes, and routed again if it
      // fails (onFailed), so a copy delivered before its fsync could be delivered twice: copies wait
      needsSync = this.routing.publishReleased(this.exchange, message);
    } catch (error) {
      this.storage.delayedMessageLost(this.routing.name, this.exchange.name, `record ${segment}:${offset}: ${(error as Error).message}`);
    }
    return needsSync;
  }
}
