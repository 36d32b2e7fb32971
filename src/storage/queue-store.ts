/**
 * QueueStore: the records of one queue (or of one x-delayed-message exchange's held messages), as the
 * core sees them. The core keeps positions, not bodies (ARCHITECTURE.md habit 4): a queued message in RAM
 * is a small fixed record in a PositionRing, and its record lives here until it is acked.
 *
 * Engines:
 * - file (log.ts, `SegmentLog`): records appended to segment files in the queue's directory, acks to an
 *   ack file per segment, a segment deleted once all of it is acked; durable by the engine's group-commit
 *   fsync (sync.ts). Reopening the directory recovers every live record (onRecovered).
 * - memory (memory/queue-store.ts): each record a Buffer of its own in RAM, freed when acked; nothing
 *   survives close(). For tests and anything a restart may lose anyway.
 * - PostgreSQL (later, ../shared/design/postgres-store.md): one row per record (queue id, sequence,
 *   priority, visible-at, delivery count, lease owner and epoch, properties and body); each operation's
 *   doc below says how it maps.
 *
 * Positions. A record is named by two unsigned 32-bit numbers, (segment, offset), that grow in append
 * order: comparing (segment, offset) pairs compares append order (Queue.requeue sorts on it to put
 * messages back in their original order). The file engine's are a segment file number and the byte offset
 * of the record in it; the memory engine's are synthetic (a block number and an index in it); PostgreSQL's
 * would split the row's sequence number (sequence = segment * 2^32 + offset, or a per-queue sequence kept
 * below 2^32 per segment). Positions are numbers, never objects: append() returns the offset and leaves the
 * segment in `lastSegment`, so the hot path allocates nothing per message (habit 8).
 *
 * Durability. A write returns at once; the store's engine makes it durable in its next group commit (a
 * round of `StorageEngine.durable`, or `transient` for a store opened with `durable: false`). The core asks
 * the engine's Durability for the round that covers what it appended (see core/queue/durability-gate.ts),
 * so "enqueue a batch" is every append of one turn of the event loop, committed by one round: one fsync
 * for the file engine, one transaction for PostgreSQL (never a round trip per message). A failed round
 * rolls back what it covered: `holds()` is then false for those positions, and `writeFailing` true until
 * the engine recovered.
 *
 * Settling. The three outcomes of a delivery, and what each needs from the store:
 * - ack: `ack()`.
 * - requeue: nothing. The record stays where it is and its position goes back into the queue's ring in
 *   RAM (marked redelivered, with its delivery count); `markDelivered()` at delivery already recorded what a
 *   restart needs to flag it redelivered. A networked engine would clear the row's lease (and set its
 *   visible-at for a retry backoff) in the same round as the next acks.
 * - dead-letter: the core acks this record and publishes a copy to the dead-letter exchange (a new record
 *   in another store). PostgreSQL would do both in one transaction (delete + insert with x-death), so a
 *   crash can neither lose nor duplicate the move; the file engine writes both in the same turn and one
 *   round makes both durable, but a crash between the two writes could keep one without the other.
 *
 * Leases (not in this interface yet). The issue asks for a time-limited lease, which SQS visibility
 * timeouts and consumers on several nodes need. Its shape will be
 *   `lease(count, untilMs, owner, epoch) → positions` (take up to `count` visible records and hide them until
 *   `untilMs`, fenced by the owner's epoch; PostgreSQL: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
 *   LOCKED LIMIT n) RETURNING`), `extendLease(position, untilMs, owner, epoch)` and expiry returning the
 *   record to visible (a `visible_at` in the past).
 * It is not here because no caller exists yet: on one node the queue itself is the only consumer of its
 * store, and what a lease would hold (who has the message, until when) is delivery state the Queue keeps
 * in RAM (its unacked positions; a timer is all an SQS visibility timeout needs there), which a restart
 * drops anyway (every unacked record comes back redelivered). A store operation with no caller in either
 * engine would be untested code. It comes with the first caller that needs the store to arbitrate between
 * consumers (the SQS adapter, or several nodes over PostgreSQL), implemented in the memory engine first
 * and tested by the shared test body (queue-store.contract.test.ts) on every engine.
 */
/**
 * One live record found while a store is reopened (`restore`), in append order. `payload` is valid only
 * during the call (the file engine reads one segment at a time into one buffer). `deliveries` counts the
 * record's delivered markers (markDelivered), capped at 255. `store` is the store being opened, for
 * describe() in an error thrown from here (which stops the open).
 */
export type QueueRecoveryVisitor = (segment: number, offset: number, length: number, payload: Buffer, deliveries: number, store: QueueStore) => void;

/** What a store holds: a queue's messages, or the messages an x-delayed-message exchange holds. */
export type QueueStoreKind = 'queue' | 'delayed';

export interface QueueStoreOptions {
  readonly kind: QueueStoreKind;
  /**
   * The store's name, unique within its kind and durability (the core derives it from the vhost and the
   * queue or exchange name and keeps it in the definitions). The file engine makes it a directory name.
   */
  readonly name: string;
  /**
   * Survives a restart (its writes are covered by rounds of the engine's `durable` Durability). Otherwise
   * transient: rounds of `transient`, and dropped by dropTransientQueueStores().
   */
  readonly durable: boolean;
  /**
   * true: reopen what is stored under this name (at startup), calling `onRecovered` for every live record
   * before open returns. false: a new store, empty; whatever is left under the name (a deleted queue's
   * records) is dropped first.
   */
  readonly restore: boolean;
  readonly onRecovered?: QueueRecoveryVisitor;
  /** one line per notable event (recovery summary, dropped tails); default: none */
  readonly logger?: (line: string) => void;
  /** one line per damage found while reopening (damaged records skipped, files moved aside); default: `logger` */
  readonly errorLogger?: (line: string) => void;
}

export interface QueueStore {
  /**
   * Segment of the last append() (the other half of its position). PostgreSQL: the high half of the
   * sequence the node reserved for the record (sequences are reserved in blocks, so appends stay local
   * until the round's transaction inserts the rows).
   */
  readonly lastSegment: number;
  /** live (not acked) records, and their payload bytes */
  readonly liveRecords: number;
  readonly liveBytes: number;
  /**
   * A write failed and the engine has not rolled back and recovered from it yet: records appended since
   * the last completed round may be unreadable (read() throws RangeError) and will be dropped. PostgreSQL:
   * the round's transaction failed or the database is unreachable.
   */
  readonly writeFailing: boolean;
  /**
   * Appends one record whose payload is the concatenation of `parts` (`payloadLength` bytes in all, 1 to
   * 512 MiB: RangeError otherwise). Returns its offset; its segment is `lastSegment` until the next append.
   * Never blocks and never throws for a storage failure: a failed write is reported to the engine, and the
   * round covering the record fails. The parts are copied before it returns (they may be views of a
   * socket's read buffer). File: into the log's write buffer, written at the end of the turn. PostgreSQL:
   * into the round's batch, inserted by the round's transaction (one multi-row INSERT or COPY).
   */
  append(parts: readonly Buffer[], payloadLength: number): number;
  /**
   * The payload of the record at (segment, offset), `length` bytes as append() was given. The Buffer stays
   * valid and unchanged for as long as the caller holds it. Throws RangeError when no such record is
   * readable (a position a failed round rolled back, a freed record). File: from a read-ahead block of the
   * segment. PostgreSQL: from the node's cache of the batch it fetched (`SELECT ... WHERE queue = $1 AND
   * sequence >= $2 ORDER BY sequence LIMIT n`, sized to the consumers' prefetch), never a query per message.
   */
  read(segment: number, offset: number, length: number): Buffer;
  /** read() for a caller that keeps no length (the delayed store); RangeError when no record starts there. */
  readAt(segment: number, offset: number): Buffer;
  /**
   * True while a record starts at (segment, offset), acked or not; false for a position a failed round
   * rolled back (see writeFailing). PostgreSQL: the row's sequence is below the node's last committed one
   * (a rolled-back batch's sequences are never reused).
   */
  holds(segment: number, offset: number): boolean;
  /**
   * Records the ack of a live record; false when there is none (unknown position, acked before, rolled
   * back). Made durable by the next round (nobody waits for it). File: an entry in the segment's ack file, the
   * segment deleted once all of it is acked. Memory: the record is freed. PostgreSQL: the row's id joins the
   * round's batch of deletes (`DELETE ... WHERE queue = $1 AND sequence = ANY($2)`).
   */
  ack(segment: number, offset: number): boolean;
  /**
   * The record was handed to a consumer that owes an ack: if the store is reopened before the ack, the
   * record comes back with its delivered markers counted (`deliveries` of onRecovered), so the message is
   * flagged redelivered with its delivery count. A hint nobody waits for. File: a marker in the ack file.
   * Memory: nothing (it is never reopened). PostgreSQL: `delivery_count = delivery_count + 1` in the round.
   */
  markDelivered(segment: number, offset: number): void;
  /** Where a record is, for messages (a file and offset, a table row). */
  describe(segment: number, offset: number): string;
  /** Drops every record and whatever holds them (the owner was deleted). The store cannot be used after. */
  destroy(): void;
  /**
   * Writes what is buffered and releases the store's resources (the records stay, for the next open with
   * `restore`). Called at shutdown, after the engine's last round.
   */
  close(): void;
}
