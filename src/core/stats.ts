/**
 * Message statistics, protocol-neutral: plain integer counters that the hot paths increment (one field
 * increment, no allocation, no call), and rates computed from them on one coarse shared timer.
 *
 * - QueueCounters: one per queue (`queue.counters`), counting what happened to that queue's messages.
 * - BrokerCounters: one per broker (`core.stats.counters`): client publishes, unroutable messages, churn
 *   (connections, channels, queues created and closed).
 * - LatencyHistogram: one per broker (`core.stats.latency`): publish → ack time of acknowledged messages
 *   (and publish → delivery for no-ack consumers), in fixed millisecond buckets.
 *
 * Sampling (BrokerStats.start): every `intervalMs` (RabbitMQ's collect_statistics_interval, 5 s by default)
 * each live queue's counters and depth are compared with the previous sample, giving per-second rates
 * (RabbitMQ's `*_details.rate`): rate = (value now − value at the previous sample) / seconds between them.
 * Broker-wide queue totals are the sum over live queues plus the counters of queues already deleted
 * (`retired`), so they never go backwards. Readers (the management API, Prometheus /metrics) read counters
 * directly at any time; rates change only at a sample.
 */

// ---------------------------------------------------------------- per-queue counters

/** Indexes of the per-queue counters in sampled arrays (QueueCounters.rates, snapshot order). */
export const Q_PUBLISH = 0;
export const Q_DELIVER = 1;
export const Q_DELIVER_NO_ACK = 2;
export const Q_GET = 3;
export const Q_GET_NO_ACK = 4;
export const Q_GET_EMPTY = 5;
export const Q_REDELIVER = 6;
export const Q_ACK = 7;
export const Q_REQUEUE = 8;
export const Q_DEAD_LETTERED_EXPIRED = 9;
export const Q_DEAD_LETTERED_REJECTED = 10;
export const Q_DEAD_LETTERED_MAXLEN = 11;
export const Q_DEAD_LETTERED_DELIVERY_LIMIT = 12;
/** not a counter: the ready depth, so its rate of change can be reported (messages_ready_details) */
export const Q_READY = 13;
/** not a counter: the unacknowledged count */
export const Q_UNACKED = 14;
/** how many values a queue sample holds */
export const QUEUE_SAMPLE_SIZE = 15;

/** Counters of one queue; every field only grows. */
export class QueueCounters {
  /** messages stored in (routed to) the queue */
  publish = 0;
  /** messages delivered to consumers that acknowledge */
  deliver = 0;
  /** messages delivered to no-ack consumers */
  deliverNoAck = 0;
  /** messages taken with a get that acknowledges */
  get = 0;
  /** messages taken with a no-ack get */
  getNoAck = 0;
  /** gets that found the queue empty */
  getEmpty = 0;
  /** deliveries and gets of messages that had been delivered before */
  redeliver = 0;
  /** acknowledgements */
  ack = 0;
  /** messages handed back unacknowledged (nack/reject with requeue, channel or connection closed, recover) */
  requeue = 0;
  /** messages a consumer refused with basic.nack or basic.reject, requeued or not */
  nack = 0;
  /**
   * Messages that left the queue undelivered, by reason: dead-lettered when the queue has a dead-letter
   * exchange, dropped when it has none (RabbitMQ's dead_letter_strategy "disabled" counts these too).
   */
  deadLetteredExpired = 0;
  deadLetteredRejected = 0;
  deadLetteredMaxlen = 0;
  deadLetteredDeliveryLimit = 0;
  /**
   * messages dropped because their storage write or fsync failed: before delivery when a publisher waited
   * for them (nacked), or, for messages nobody waited for (delivered before their fsync), when the rollback
   * took their records
   */
  storageFailed = 0;
  /** per-second rates over the last sampling interval, by Q_* index (filled by sampling) */
  readonly rates = new Float64Array(QUEUE_SAMPLE_SIZE);
  /** the values at the last sample, by Q_* index */
  readonly previous = new Float64Array(QUEUE_SAMPLE_SIZE);
  /** false until the first sample (which only records: a rate needs two samples) */
  sampled = false;
  /** the sampling pass that last visited the queue (BrokerStats) */
  sampledPass = 0;

  /** deliver + deliver_no_ack + get + get_no_ack, RabbitMQ's deliver_get */
  get deliverGet(): number {
    return this.deliver + this.deliverNoAck + this.get + this.getNoAck;
  }

  /** add another queue's counters into this one (totals, retiring a deleted queue); `sign` -1 takes them out */
  add(other: QueueCounters, sign = 1): void {
    this.publish += sign * other.publish;
    this.deliver += sign * other.deliver;
    this.deliverNoAck += sign * other.deliverNoAck;
    this.get += sign * other.get;
    this.getNoAck += sign * other.getNoAck;
    this.getEmpty += sign * other.getEmpty;
    this.redeliver += sign * other.redeliver;
    this.ack += sign * other.ack;
    this.requeue += sign * other.requeue;
    this.deadLetteredExpired += sign * other.deadLetteredExpired;
    this.deadLetteredRejected += sign * other.deadLetteredRejected;
    this.deadLetteredMaxlen += sign * other.deadLetteredMaxlen;
    this.deadLetteredDeliveryLimit += sign * other.deadLetteredDeliveryLimit;
  }

  /** the current values by Q_* index (ready and unacked depths as given) */
  snapshot(out: Float64Array, ready: number, unacked: number): void {
    out[Q_PUBLISH] = this.publish;
    out[Q_DELIVER] = this.deliver;
    out[Q_DELIVER_NO_ACK] = this.deliverNoAck;
    out[Q_GET] = this.get;
    out[Q_GET_NO_ACK] = this.getNoAck;
    out[Q_GET_EMPTY] = this.getEmpty;
    out[Q_REDELIVER] = this.redeliver;
    out[Q_ACK] = this.ack;
    out[Q_REQUEUE] = this.requeue;
    out[Q_DEAD_LETTERED_EXPIRED] = this.deadLetteredExpired;
    out[Q_DEAD_LETTERED_REJECTED] = this.deadLetteredRejected;
    out[Q_DEAD_LETTERED_MAXLEN] = this.deadLetteredMaxlen;
    out[Q_DEAD_LETTERED_DELIVERY_LIMIT] = this.deadLetteredDeliveryLimit;
    out[Q_READY] = ready;
    out[Q_UNACKED] = unacked;
  }

  /** rate of deliver_get, per second, at the last sample */
  get deliverGetRate(): number {
    const r = this.rates;
    return r[Q_DELIVER]! + r[Q_DELIVER_NO_ACK]! + r[Q_GET]! + r[Q_GET_NO_ACK]!;
  }
}

// ---------------------------------------------------------------- per-exchange counters

export const X_PUBLISH_IN = 0;
export const X_PUBLISH_OUT = 1;
export const EXCHANGE_SAMPLE_SIZE = 2;

/** Counters of one exchange (RabbitMQ's exchange message_stats); every field only grows. */
export class ExchangeCounters {
  /** messages published into the exchange (by clients and the management API) */
  publishIn = 0;
  /** of those, messages routed to at least one queue (held by a delayed exchange counts as routed) */
  publishOut = 0;
  readonly rates = new Float64Array(EXCHANGE_SAMPLE_SIZE);
  readonly previous = new Float64Array(EXCHANGE_SAMPLE_SIZE);
  sampled = false;

  snapshot(out: Float64Array): void {
    out[X_PUBLISH_IN] = this.publishIn;
    out[X_PUBLISH_OUT] = this.publishOut;
  }
}

/** What the sampler needs of an exchange. */
export interface SampledExchange {
  readonly counters: ExchangeCounters;
}

// ---------------------------------------------------------------- per-partition counters (streams)

/**
 * Counters of one stream partition (Kafka UI's and Redpanda Console's produce/consume rates); the counts only
 * grow. Counted once per batch (produce) or per fetched slice (fetch), never per record. Plain number fields,
 * no typed arrays: a broker may hold 200,000 partitions, and two Float64Arrays each cost about 110 MB there
 * (measured: 26 MB of heap for 200,000 of these objects, 106 MB for a version with two Float64Arrays).
 */
export class PartitionCounters {
  /** records appended (by clients and the management API) */
  recordsIn = 0;
  /** bytes of record batches appended, as they came (compressed batches count compressed) */
  bytesIn = 0;
  /** records sent to consumers: from the fetch offset to the end of the batches sent */
  recordsOut = 0;
  /** bytes of record batches sent to consumers */
  bytesOut = 0;
  /** per-second rates over the last sampling interval */
  recordsInRate = 0;
  bytesInRate = 0;
  recordsOutRate = 0;
  bytesOutRate = 0;
  /** the counts at the last sample */
  private previousRecordsIn = 0;
  private previousBytesIn = 0;
  private previousRecordsOut = 0;
  private previousBytesOut = 0;
  /** false until the first sample (which only records: a rate needs two samples) */
  private sampled = false;

  /** a sample `seconds` after the previous one: rates = change ÷ seconds; the first sample only records */
  sample(seconds: number): void {
    const rated = this.sampled && seconds > 0;
    this.recordsInRate = rated ? (this.recordsIn - this.previousRecordsIn) / seconds : 0;
    this.bytesInRate = rated ? (this.bytesIn - this.previousBytesIn) / seconds : 0;
    this.recordsOutRate = rated ? (this.recordsOut - this.previousRecordsOut) / seconds : 0;
    this.bytesOutRate = rated ? (this.bytesOut - this.previousBytesOut) / seconds : 0;
    this.previousRecordsIn = this.recordsIn;
    this.previousBytesIn = this.bytesIn;
    this.previousRecordsOut = this.recordsOut;
    this.previousBytesOut = this.bytesOut;
    this.sampled = true;
  }
}

/** What the sampler needs of a stream partition. */
export interface SampledPartition {
  readonly counters: PartitionCounters;
}

// ---------------------------------------------------------------- broker-wide counters

export const B_PUBLISH = 0;
export const B_RETURN_UNROUTABLE = 1;
export const B_DROP_UNROUTABLE = 2;
export const B_CONNECTION_CREATED = 3;
export const B_CONNECTION_CLOSED = 4;
export const B_CHANNEL_CREATED = 5;
export const B_CHANNEL_CLOSED = 6;
export const B_QUEUE_DECLARED = 7;
export const B_QUEUE_CREATED = 8;
export const B_QUEUE_DELETED = 9;
export const BROKER_SAMPLE_SIZE = 10;

/** Broker-wide counters that are not the sum of queue counters. */
export class BrokerCounters {
  /** messages published by clients into exchanges (AMQP basic.publish and the management API) */
  publish = 0;
  /** unroutable mandatory messages returned to the publisher */
  returnUnroutable = 0;
  /** unroutable messages dropped (not mandatory) */
  dropUnroutable = 0;
  connectionCreated = 0;
  connectionClosed = 0;
  channelCreated = 0;
  channelClosed = 0;
  /** queue.declare calls (new and existing queues) */
  queueDeclared = 0;
  queueCreated = 0;
  queueDeleted = 0;
  /** of `publish`, messages published on AMQP channels in confirm mode (RabbitMQ's received_confirm) */
  publishConfirm = 0;
  /** publisher confirms sent (basic.ack per message, a multiple ack counting each message it covers) */
  confirmed = 0;
  readonly rates = new Float64Array(BROKER_SAMPLE_SIZE);
  readonly previous = new Float64Array(BROKER_SAMPLE_SIZE);

  snapshot(out: Float64Array): void {
    out[B_PUBLISH] = this.publish;
    out[B_RETURN_UNROUTABLE] = this.returnUnroutable;
    out[B_DROP_UNROUTABLE] = this.dropUnroutable;
    out[B_CONNECTION_CREATED] = this.connectionCreated;
    out[B_CONNECTION_CLOSED] = this.connectionClosed;
    out[B_CHANNEL_CREATED] = this.channelCreated;
    out[B_CHANNEL_CLOSED] = this.channelClosed;
    out[B_QUEUE_DECLARED] = this.queueDeclared;
    out[B_QUEUE_CREATED] = this.queueCreated;
    out[B_QUEUE_DELETED] = this.queueDeleted;
  }
}

// ---------------------------------------------------------------- message sizes

/**
 * Upper bounds of the message size buckets, bytes: RabbitMQ's (rabbit_msg_size_metrics), so its Overview
 * dashboard's size panels, which select these exact `le` values, read Postbox's histogram.
 */
export const MESSAGE_SIZE_BUCKET_BOUNDS: readonly number[] = Object.freeze([100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000]);

/** Body sizes of published messages (RabbitMQ's rabbitmq_message_size_bytes): a fixed-bucket histogram. */
export class MessageSizeHistogram {
  /** observations per bucket (not cumulative), by MESSAGE_SIZE_BUCKET_BOUNDS; the last is above the last bound */
  readonly counts = new Float64Array(MESSAGE_SIZE_BUCKET_BOUNDS.length + 1);
  count = 0;
  /** sum of the sizes observed, bytes */
  sum = 0;

  /** one message of `bytes` (the publish path: comparisons and increments, no allocation) */
  observe(bytes: number): void {
    let i = 0;
    if (bytes > 100) {
      if (bytes <= 1000) i = 1;
      else if (bytes <= 10_000) i = 2;
      else if (bytes <= 100_000) i = 3;
      else if (bytes <= 1_000_000) i = 4;
      else if (bytes <= 10_000_000) i = 5;
      else if (bytes <= 50_000_000) i = 6;
      else if (bytes <= 100_000_000) i = 7;
      else i = 8;
    }
    this.counts[i]!++;
    this.count++;
    this.sum += bytes;
  }
}

// ---------------------------------------------------------------- latency

/**
 * Upper bounds of the latency buckets, ms (Prometheus-style "le" bounds; one more bucket, +Inf, follows).
 * From 1 ms (a local consumer acking at once) to 5 min (a backlog being worked off); roughly 1-2.5-5 steps.
 */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = Object.freeze([
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
]);

/** A fixed-bucket histogram of end-to-end latency (publish → ack), ms. */
export class LatencyHistogram {
  /** bucket upper bounds, ms, ascending */
  readonly bounds: Float64Array = Float64Array.from(LATENCY_BUCKET_BOUNDS_MS);
  /** observations per bucket (not cumulative); the last bucket is everything above the last bound */
  readonly counts = new Float64Array(LATENCY_BUCKET_BOUNDS_MS.length + 1);
  /** number of observations */
  count = 0;
  /** sum of all observations, ms */
  sumMs = 0;
  /**
   * The clock, read once per event-loop turn: a clock read costs about as much as the rest of an ack
   * (~100 ns on a VM), and a turn that acks a batch of 1000 would otherwise read it 1000 times. The error is
   * at most one turn, well under the smallest bucket that matters.
   */
  private nowMs = 0;
  private clockValid = false;
  private readonly invalidateClock = (): void => {
    this.clockValid = false;
  };

  /** record the time from `publishedAt` (ms since the epoch) to now */
  recordSince(publishedAt: number): void {
    if (!this.clockValid) {
      this.nowMs = Date.now();
      this.clockValid = true;
      setImmediate(this.invalidateClock);
    }
    this.record(this.nowMs - publishedAt);
  }

  record(ms: number): void {
    const value = ms > 0 ? ms : 0;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sumMs += value;
  }

  /** counts per bucket made cumulative (Prometheus `_bucket{le=...}`), the last entry equal to `count` */
  cumulative(): number[] {
    const out: number[] = [];
    let running = 0;
    for (let i = 0; i < this.counts.length; i++) {
      running += this.counts[i]!;
      out.push(running);
    }
    return out;
  }
}

// ---------------------------------------------------------------- sampling

/**
 * A client connection's socket traffic rates (RabbitMQ's recv_oct_details / send_oct_details), filled by
 * the sampler from the socket's own byte counters: nothing is counted per message.
 */
export class ConnectionTraffic {
  /** bytes per second received from the client over the last sampling interval */
  recvRate = 0;
  /** bytes per second sent to the client over the last sampling interval */
  sendRate = 0;
  private previousRecv = 0;
  private previousSend = 0;
  private sampled = false;

  /** a sample: the byte counts now, `seconds` after the previous sample (a first sample only records) */
  update(recv: number, send: number, seconds: number): void {
    const first = !this.sampled || seconds <= 0;
    this.recvRate = first ? 0 : Math.max(0, (recv - this.previousRecv) / seconds);
    this.sendRate = first ? 0 : Math.max(0, (send - this.previousSend) / seconds);
    this.previousRecv = recv;
    this.previousSend = send;
    this.sampled = true;
  }
}

/** What the sampler needs of a client connection. */
export interface SampledConnection {
  readonly traffic: ConnectionTraffic;
  /** bytes received on the socket so far */
  bytesReceived(): number;
  /** bytes sent on the socket so far */
  bytesSent(): number;
}

/** What the sampler needs of a queue. */
export interface SampledQueue {
  readonly counters: QueueCounters;
  /** ready messages */
  readonly messageCount: number;
  /** delivered, not yet acknowledged */
  readonly unackedCount: number;
}

/** Longest a sampling pass works before it lets the event loop run, ms. */
const SAMPLE_SLICE_MS = 2;
/** Queues or exchanges sampled between two looks at the clock. */
const OBJECTS_PER_CLOCK_CHECK = 64;

interface SamplingPass {
  readonly now: number;
  /** since the previous pass started, s */
  readonly seconds: number;
  queues: Iterator<SampledQueue> | null;
  exchanges: Iterator<SampledExchange> | null;
  connections: Iterator<SampledConnection> | null;
  partitions: Iterator<SampledPartition> | null;
  /** the live queues' counters visited so far */
  readonly sum: QueueCounters;
  ready: number;
  unacked: number;
}

/** Per-broker statistics: counters, latency and the sampler that turns counters into rates. */
export class BrokerStats {
  readonly counters = new BrokerCounters();
  readonly latency = new LatencyHistogram();
  /** body sizes of messages published over AMQP (and the management API) */
  readonly messageSizes = new MessageSizeHistogram();
  /** counters of queues that were deleted, so broker-wide totals never go backwards */
  readonly retired = new QueueCounters();
  /** broker-wide sums of queue counters at the last sample, with their rates */
  readonly queueTotals = new QueueCounters();
  /** the sampling interval, ms (0 before start) */
  intervalMs = 0;
  /** when the last sample was taken, ms since the epoch (0 before the first) */
  sampledAt = 0;
  /** how many samples have been taken */
  samples = 0;
  private timer: NodeJS.Timeout | null = null;
  /** the sampling pass under way, if any */
  private pass: SamplingPass | null = null;
  private passNumber = 0;
  private queues: (() => Iterable<SampledQueue>) | null = null;
  private exchanges: (() => Iterable<SampledExchange>) | null = null;
  private connections: (() => Iterable<SampledConnection>) | null = null;
  private partitions: (() => Iterable<SampledPartition>) | null = null;
  private readonly scratch = new Float64Array(QUEUE_SAMPLE_SIZE);
  private readonly exchangeScratch = new Float64Array(EXCHANGE_SAMPLE_SIZE);
  private readonly brokerScratch = new Float64Array(BROKER_SAMPLE_SIZE);

  /** start sampling every `intervalMs`; `queues`, `exchanges` and `connections` list the live ones at each sample */
  start(
    intervalMs: number,
    queues: () => Iterable<SampledQueue>,
    exchanges: () => Iterable<SampledExchange> = () => [],
    connections: () => Iterable<SampledConnection> = () => [],
  ): void {
    this.stop();
    this.intervalMs = intervalMs;
    this.queues = queues;
    this.exchanges = exchanges;
    this.connections = connections;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** sample the stream partitions too (the stream store opens after the core, so it is added here) */
  samplePartitions(partitions: () => Iterable<SampledPartition>): void {
    this.partitions = partitions;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** a queue is being deleted: keep its counts in the broker-wide totals */
  queueDeleted(counters: QueueCounters): void {
    this.retired.add(counters);
    // a pass that already added it would count it twice at its end
    if (this.pass !== null && counters.sampledPass === this.passNumber) this.pass.sum.add(counters, -1);
    this.counters.queueDeleted++;
  }

  /** Broker-wide sums of queue counters now (retired queues included): a fresh object, for readers. */
  totals(queues: Iterable<SampledQueue>): QueueCounters {
    const t = new QueueCounters();
    t.add(this.retired);
    for (const q of queues) t.add(q.counters);
    return t;
  }

  /**
   * Take a sample (the timer calls this). With many queues a pass is long (about 0.6 µs a queue: 120 ms
   * for 200,000), so it runs in SAMPLE_SLICE_MS slices with an event-loop turn between them; a pass still
   * running when the next is due makes that one a no-op. The totals and their rates change at the end of
   * a pass, so readers see one pass's figures or the next one's.
   */
  sample(): void {
    if (this.pass !== null) return;
    const now = Date.now();
    this.passNumber++;
    this.pass = {
      now,
      seconds: this.sampledAt === 0 ? 0 : (now - this.sampledAt) / 1000,
      queues: this.queues === null ? null : this.queues()[Symbol.iterator](),
      exchanges: this.exchanges === null ? null : this.exchanges()[Symbol.iterator](),
      connections: this.connections === null ? null : this.connections()[Symbol.iterator](),
      partitions: this.partitions === null ? null : this.partitions()[Symbol.iterator](),
      sum: new QueueCounters(),
      ready: 0,
      unacked: 0,
    };
    this.continuePass();
  }

  private continuePass(): void {
    const pass = this.pass;
    if (pass === null) return;
    const until = performance.now() + SAMPLE_SLICE_MS;
    let n = 0;
    const due = (): boolean => ++n % OBJECTS_PER_CLOCK_CHECK === 0 && performance.now() >= until;
    if (pass.queues !== null) {
      for (let r = pass.queues.next(); r.done !== true; r = pass.queues.next()) {
        const q = r.value;
        const c = q.counters;
        pass.sum.add(c);
        pass.ready += q.messageCount;
        pass.unacked += q.unackedCount;
        c.snapshot(this.scratch, q.messageCount, q.unackedCount);
        // a queue's first sample has no previous one: its rates start at 0
        updateRates(this.scratch, c.previous, c.rates, pass.seconds, !c.sampled);
        c.sampled = true;
        c.sampledPass = this.passNumber;
        if (due()) return void setImmediate(this.continueLater);
      }
      pass.queues = null;
    }
    if (pass.exchanges !== null) {
      for (let r = pass.exchanges.next(); r.done !== true; r = pass.exchanges.next()) {
        const c = r.value.counters;
        c.snapshot(this.exchangeScratch);
        updateRates(this.exchangeScratch, c.previous, c.rates, pass.seconds, !c.sampled);
        c.sampled = true;
        if (due()) return void setImmediate(this.continueLater);
      }
      pass.exchanges = null;
    }
    if (pass.connections !== null) {
      for (let r = pass.connections.next(); r.done !== true; r = pass.connections.next()) {
        const c = r.value;
        c.traffic.update(c.bytesReceived(), c.bytesSent(), pass.seconds);
        if (due()) return void setImmediate(this.continueLater);
      }
      pass.connections = null;
    }
    if (pass.partitions !== null) {
      for (let r = pass.partitions.next(); r.done !== true; r = pass.partitions.next()) {
        r.value.counters.sample(pass.seconds);
        if (due()) return void setImmediate(this.continueLater);
      }
      pass.partitions = null;
    }
    // the totals: the retired queues' counts and every live queue's (a queue retired during the pass after
    // it was visited was taken out of the sum by queueDeleted)
    const totals = this.queueTotals;
    zero(totals);
    totals.add(this.retired);
    totals.add(pass.sum);
    totals.snapshot(this.scratch, pass.ready, pass.unacked);
    updateRates(this.scratch, totals.previous, totals.rates, pass.seconds, this.samples === 0);
    this.counters.snapshot(this.brokerScratch);
    updateRates(this.brokerScratch, this.counters.previous, this.counters.rates, pass.seconds, this.samples === 0);
    this.sampledAt = pass.now;
    this.samples++;
    this.pass = null;
  }

  private readonly continueLater = (): void => this.continuePass();
}

function zero(c: QueueCounters): void {
  c.publish = c.deliver = c.deliverNoAck = c.get = c.getNoAck = c.getEmpty = c.redeliver = c.ack = c.requeue = 0;
  c.deadLetteredExpired = c.deadLetteredRejected = c.deadLetteredMaxlen = c.deadLetteredDeliveryLimit = 0;
}

/** rates[i] = (now[i] − previous[i]) / seconds, then previous = now; a first sample only records */
function updateRates(now: Float64Array, previous: Float64Array, rates: Float64Array, seconds: number, first: boolean): void {
  for (let i = 0; i < now.length; i++) {
    rates[i] = first || seconds <= 0 ? 0 : (now[i]! - previous[i]!) / seconds;
    previous[i] = now[i]!;
  }
}
