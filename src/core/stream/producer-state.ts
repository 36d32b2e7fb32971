/**
 * Idempotent producers: per partition, the last few batches each producer id appended, so that a batch
 * the producer retries (its response was lost) is answered with the offset it already got instead of
 * being written twice, and a gap in sequence numbers is reported instead of silently accepted.
 *
 * Kafka's rules, for a batch with producerId >= 0 and baseSequence >= 0:
 *   - epoch older than the producer's current one    → INVALID_PRODUCER_EPOCH (a fenced, older producer)
 *   - same epoch, same (baseSequence, lastSequence) as one of the last DEDUPE_WINDOW batches → duplicate:
 *     answer with that batch's base offset, append nothing
 *   - same epoch, baseSequence != last sequence + 1   → OUT_OF_ORDER_SEQUENCE_NUMBER
 *   - newer epoch: sequences restart (must be 0, but any start is accepted, as for an unknown producer)
 *   - a producer not seen yet (new, or its state aged out with retention): any sequence starts it
 *
 * State is rebuilt at open by reading the batch headers the log store (storage/log-store.ts) appended within the
 * last PRODUCER_RETRY_WINDOW_MS (LogStore.baseOffsetAppendedSince; the file engine answers in whole segments),
 * up to PRODUCER_RECOVERY_MAX_BYTES: a retry can refer to a batch written just before a restart, but not to one
 * written longer ago than a producer retries. The byte bound keeps a restart quick after a burst: the batches
 * a retry can refer to are the ones not yet answered when the broker stopped, so written just before it.
 *
 * Where it lives: every stored batch carries its producer id, epoch and sequences in its header, so the state
 * is derived from the log and needs no store of its own. It is checked here, before the append (append.ts),
 * within the same synchronous turn, so no other append comes between the check and the write. An engine
 * shared by several nodes keeps that true by letting one node append to a partition at a time (a lease with
 * an epoch that fences the append transaction, ../shared/design/postgres-store.md): that node holds the
 * state in memory and rebuilds it from the batch rows' producer columns when it takes the lease.
 */
import {
  BASE_OFFSET_AT,
  BASE_SEQUENCE_AT,
  BATCH_LENGTH_AT,
  BATCH_LENGTH_OVERHEAD,
  LAST_OFFSET_DELTA_AT,
  PRODUCER_EPOCH_AT,
  PRODUCER_ID_AT,
} from '../../format/kafka/record-batch.js';
import type { LogStore } from '../../storage/stores.js';

/** Batches remembered per producer: Kafka's max.in.flight.requests.per.connection limit for idempotence. */
export const DEDUPE_WINDOW = 5;
/**
 * How far back, ms, recovery at open looks for producers' batches: a producer retries a batch for at most its
 * delivery timeout (librdkafka's message.timeout.ms defaults to 300 s, the Java client's delivery.timeout.ms
 * to 120 s), so a segment last appended to longer ago holds nothing a retry can still refer to.
 */
export const PRODUCER_RETRY_WINDOW_MS = 5 * 60 * 1000;
/** Most bytes of a partition's tail that recovery at open reads (at ~1 GB/s from the page cache, a fraction of a second). */
export const PRODUCER_RECOVERY_MAX_BYTES = 256 * 1024 * 1024;
/** Bytes read per step while rebuilding state at open. */
const RECOVERY_READ_BYTES = 1024 * 1024;

interface RememberedBatch {
  firstSequence: number;
  lastSequence: number;
  baseOffset: bigint;
}

interface ProducerEntry {
  epoch: number;
  /** oldest first, at most DEDUPE_WINDOW */
  batches: RememberedBatch[];
}

export type SequenceCheck =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly baseOffset: bigint }
  | { readonly kind: 'out-of-order'; readonly expected: number; readonly got: number }
  | { readonly kind: 'fenced'; readonly current: number; readonly got: number };

export interface BatchIdentity {
  producerId: bigint;
  epoch: number;
  firstSequence: number;
  lastSequence: number;
}

/** The idempotence fields of the batch at `at`, or null when the batch carries none. */
export function batchIdentity(bytes: Buffer, at: number): BatchIdentity | null {
  const producerId = bytes.readBigInt64BE(at + PRODUCER_ID_AT);
  const firstSequence = bytes.readInt32BE(at + BASE_SEQUENCE_AT);
  if (producerId < 0n || firstSequence < 0) return null;
  const delta = bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT);
  // sequences wrap at int32 max back to 0, as in Kafka
  const lastSequence = (firstSequence + delta) % 2147483648;
  return { producerId, epoch: bytes.readInt16BE(at + PRODUCER_EPOCH_AT), firstSequence, lastSequence };
}

export class ProducerStates {
  private readonly producers = new Map<bigint, ProducerEntry>();

  get size(): number {
    return this.producers.size;
  }

  /** Forgets every producer (before recover() reads them again from a log cut back after a failure). */
  clear(): void {
    this.producers.clear();
  }

  check(id: BatchIdentity): SequenceCheck {
    const entry = this.producers.get(id.producerId);
    if (entry === undefined) return { kind: 'new' };
    if (id.epoch < entry.epoch) return { kind: 'fenced', current: entry.epoch, got: id.epoch };
    if (id.epoch > entry.epoch) return { kind: 'new' };
    for (const b of entry.batches) {
      if (b.firstSequence === id.firstSequence && b.lastSequence === id.lastSequence) return { kind: 'duplicate', baseOffset: b.baseOffset };
    }
    const last = entry.batches[entry.batches.length - 1];
    if (last === undefined) return { kind: 'new' };
    const expected = (last.lastSequence + 1) % 2147483648;
    if (id.firstSequence !== expected) return { kind: 'out-of-order', expected, got: id.firstSequence };
    return { kind: 'new' };
  }

  record(id: BatchIdentity, baseOffset: bigint): void {
    let entry = this.producers.get(id.producerId);
    if (entry === undefined || id.epoch > entry.epoch) {
      entry = { epoch: id.epoch, batches: [] };
      this.producers.set(id.producerId, entry);
    }
    entry.batches.push({ firstSequence: id.firstSequence, lastSequence: id.lastSequence, baseOffset });
    if (entry.batches.length > DEDUPE_WINDOW) entry.batches.shift();
  }

  /** Rebuilds from the batch headers of the log's recent appends (see the header comment for which). */
  recover(log: LogStore, now = Date.now()): void {
    let offset = log.baseOffsetAppendedSince(now - PRODUCER_RETRY_WINDOW_MS, PRODUCER_RECOVERY_MAX_BYTES);
    if (offset < log.logStartOffset) offset = log.logStartOffset;
    const end = log.endOffset;
    while (offset < end) {
      const bytes = log.read(offset, RECOVERY_READ_BYTES);
      if (bytes.length === 0) break;
      let at = 0;
      let next = offset;
      while (at + BATCH_LENGTH_OVERHEAD <= bytes.length) {
        const size = BATCH_LENGTH_OVERHEAD + bytes.readInt32BE(at + BATCH_LENGTH_AT);
        if (at + size > bytes.length) break;
        const base = bytes.readBigInt64BE(at + BASE_OFFSET_AT);
        const id = batchIdentity(bytes, at);
        if (id !== null) this.record(id, base);
        next = base + BigInt(bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT)) + 1n;
        at += size;
      }
      if (next <= offset) break;
      offset = next;
    }
  }
}
