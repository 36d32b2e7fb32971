/**
 * One AMQP channel: maps basic/queue/exchange/confirm/tx methods onto the core, assembles published
 * content, tracks deliveries until they are acked, and sends publisher confirms after the group-commit
 * round that covers each message.
 */
import { randomBytes } from 'node:crypto';
import { Message, parseExpiration } from '../../core/message.js';
import type { Queue } from '../../core/queue/queue.js';
import { POSITION_REDELIVERED, type Position } from '../../util/position-ring.js';
import { DIRECT_REPLY_PREFIX, PUBLISH_CONFIRM, PUBLISH_MANDATORY, publishOutcome, type DirectReplyTarget } from '../../core/vhost.js';
import { BrokerError, brokerError, Errors } from '../../errors/errors.js';
import { checkTable, type FieldTable } from '../../core/field-table.js';
import { AmqpCodecError } from '../../errors/codec-error.js';
import type { AmqpConnection } from './connection.js';
import {
  CLASS_BASIC,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  M_ACCESS_REQUEST,
  M_ACCESS_REQUEST_OK,
  M_BASIC_ACK,
  M_BASIC_CANCEL,
  M_BASIC_CANCEL_OK,
  M_BASIC_CONSUME,
  M_BASIC_CONSUME_OK,
  M_BASIC_DELIVER,
  M_BASIC_GET,
  M_BASIC_GET_EMPTY,
  M_BASIC_GET_OK,
  M_BASIC_NACK,
  M_BASIC_PUBLISH,
  M_BASIC_QOS,
  M_BASIC_QOS_OK,
  M_BASIC_RECOVER,
  M_BASIC_RECOVER_ASYNC,
  M_BASIC_RECOVER_OK,
  M_BASIC_REJECT,
  M_BASIC_RETURN,
  M_CHANNEL_CLOSE,
  M_CHANNEL_CLOSE_OK,
  M_CHANNEL_FLOW,
  M_CHANNEL_FLOW_OK,
  M_CHANNEL_OPEN,
  M_CHANNEL_OPEN_OK,
  M_CONFIRM_SELECT,
  M_CONFIRM_SELECT_OK,
  M_EXCHANGE_BIND,
  M_EXCHANGE_BIND_OK,
  M_EXCHANGE_DECLARE,
  M_EXCHANGE_DECLARE_OK,
  M_EXCHANGE_DELETE,
  M_EXCHANGE_DELETE_OK,
  M_EXCHANGE_UNBIND,
  M_EXCHANGE_UNBIND_OK,
  M_QUEUE_BIND,
  M_QUEUE_BIND_OK,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
  M_QUEUE_DELETE,
  M_QUEUE_DELETE_OK,
  M_QUEUE_PURGE,
  M_QUEUE_PURGE_OK,
  M_QUEUE_UNBIND,
  M_QUEUE_UNBIND_OK,
  M_TX_COMMIT,
  M_TX_COMMIT_OK,
  M_TX_ROLLBACK,
  M_TX_ROLLBACK_OK,
  M_TX_SELECT,
  M_TX_SELECT_OK,
  ReplyCode,
  basicPropertiesSize,
  classIdOf,
  decodeBasicProperties,
  decodeMethod,
  isHardError,
  methodIdOf,
  methodName,
  newPropertyScan,
  scanBasicProperties,
  writeBasicProperties,
  type AmqpMethod,
  type BasicPublishArgs,
} from './generated/spec.js';
import type { Exchange } from '../../core/exchange/exchange.js';
import { ChannelConsumer, consumerPriority, Unacked } from './channel-consumer.js';
import type { ChannelDetails } from '../../core/clients.js';
import type { DefinitionsWaiter, DurabilityListener } from '../../core/core.js';
import { accessRefusedText, resourceName, type AccessKind } from '../../core/users.js';

const DIRECT_REPLY_QUEUE = 'amq.rabbitmq.reply-to';
/** confirm-round marker of a publish refused by a queue limit: answered with basic.nack */
const NACK_ROUND = -1;
/**
 * A body declared at most this large (bytes) is copied into one buffer of its size as its frames arrive; a
 * larger one frame by frame, so a content header claiming a large size costs nothing until the bytes come.
 */
const BODY_PREALLOCATE_BYTES = 128 * 1024;
/** Unconfirmed publishes the confirm-round list first has room for (8 KiB); it doubles when full. */
const INITIAL_CONFIRM_CAPACITY = 1024;
/** A confirm-round list larger than this (512 KiB) is dropped once every publish is confirmed. */
const KEEP_CONFIRM_CAPACITY = 65536;
/** property-flag bits read on the publish path (see core/properties.ts) */
const PROP_FLAG_REPLY_TO = 0x0200;
const PROP_FLAG_USER_ID = 0x0010;

const enum State {
  Open,
  Closing,
  Closed,
}

interface PendingPublish {
  exchange: Exchange;
  routingKey: string;
  mandatory: boolean;
}

interface TxPublish {
  readonly exchange: Exchange;
  readonly message: Message;
  readonly mandatory: boolean;
}

/**
 * A reply held back (see Channel.held): the answer to a definitions method waiting for the round that
 * makes the change durable (round > 0; method null for nowait), or any later reply queued behind one.
 */
interface HeldReply {
  readonly round: number;
  readonly method: AmqpMethod | null;
  readonly properties: Buffer | null;
  readonly body: Buffer | null;
  /** the method answered, named in a 541 if its round fails */
  readonly classId: number;
  readonly methodId: number;
}

type TxAck = { readonly kind: 'ack' | 'reject'; readonly tag: number; readonly multiple: boolean; readonly requeue: boolean };

export class Channel implements DurabilityListener, DirectReplyTarget, DefinitionsWaiter {
  flowActive = true;
  globalPrefetch = 0;
  unackedTotal = 0;
  /** messages published on this channel (management) */
  publishCount = 0;
  private state = State.Open;
  private prefetchCount = 0;
  private readonly consumers = new Map<string, ChannelConsumer>();
  private readonly unacked = new Map<number, Unacked>();
  private deliveryTag = 0;
  private lastQueueName = '';
  /** the exchange this channel last published to with write access, at permission generation publishCheckedAt */
  private publishChecked: Exchange | null = null;
  private publishCheckedAt = -1;
  // content assembly
  private pending: PendingPublish | null = null;
  private pendingProperties: Buffer | null = null;
  private bodySize = 0;
  private bodyReceived = 0;
  /** a body's frames so far: copies (frames are views of the connection's read buffer, reused by the next read) */
  private bodyParts: Buffer[] = [];
  /** the body being assembled when its declared size is at most BODY_PREALLOCATE_BYTES (one copy, no concat) */
  private body: Buffer | null = null;
  // publisher confirms: the sync round each unconfirmed publish waits for, in publish order, in
  // confirmRounds[confirmHead..confirmTail); sequence numbers are consecutive, the last one publishSeq.
  // A Float64Array, not a number[]: every young-generation GC copies a JS array of a window of thousands
  // of publishes, and V8 answers that survival by growing its young generation for good (+16..28 MB RSS).
  private confirming = false;
  private publishSeq = 0;
  private confirmRounds = new Float64Array(0);
  private confirmHead = 0;
  private confirmTail = 0;
  private confirmScheduled = false;
  // transactions
  private transactional = false;
  private txPublishes: TxPublish[] = [];
  private txAcks: TxAck[] = [];
  // direct reply-to
  private replyConsumerTag: Buffer | null = null;
  private replyToken = '';
  /** what the last publish did (VirtualHost.publish writes it) */
  private readonly outcome = publishOutcome();
  private readonly scan = newPropertyScan();
  private readonly confirmBound: () => void;
  /**
   * Replies in method order, held back while the answer to a definitions method (declare-ok, bind-ok …)
   * waits for the group-commit round that makes its change durable: every reply sent while one is held
   * (a later declare-ok, get-ok, consume-ok, close-ok, confirms) queues behind it, so none overtakes it,
   * and consumers get no deliveries meanwhile (a basic.deliver must not precede its consume-ok).
   */
  private held: HeldReply[] = [];
  /** the highest definitions round this channel asked the core to be told about */
  private waitingRound = 0;

  constructor(
    readonly id: number,
    readonly connection: AmqpConnection,
  ) {
    this.confirmBound = () => {
      this.confirmScheduled = false;
      this.sendConfirms();
    };
  }

  private get vhost() {
    return this.connection.vhost!;
  }

  opened(): void {
    this.send({ id: M_CHANNEL_OPEN_OK, args: { channelId: Buffer.alloc(0) } });
  }

  private send(m: AmqpMethod): void {
    if (this.held.length > 0) return this.hold(0, m, null, null, 0, 0);
    this.connection.writer.method(this.id, m);
  }

  private sendWithContent(m: AmqpMethod, properties: Buffer, body: Buffer): void {
    if (this.held.length > 0) return this.hold(0, m, properties, body, 0, 0);
    this.connection.writer.methodWithContent(this.id, m, properties, body);
  }

  /** true while replies are held back for a definitions round (consumers wait too) */
  get holdingReplies(): boolean {
    return this.held.length > 0;
  }

  private hold(round: number, method: AmqpMethod | null, properties: Buffer | null, body: Buffer | null, classId: number, methodId: number): void {
    this.held.push({ round, method, properties, body, classId, methodId });
  }

  /**
   * Answers a method that changed (or looked at) definitions: at once when no definitions change is
   * waiting for its sync, else held until the round covering every change made so far is durable
   * (group commit: all declarations made while a sync is in flight share the next one). `m` null: a
   * nowait method, nothing to send, but a failure of its round still closes the connection (541).
   */
  private answerDefinitions(m: AmqpMethod | null, answered: AmqpMethod['id']): void {
    const core = this.connection.core;
    const round = core.pendingDefinitionsRound();
    if (round === 0) {
      if (m !== null) this.send(m);
      return;
    }
    this.hold(round, m, null, null, classIdOf(answered), methodIdOf(answered));
    if (round > this.waitingRound) {
      this.waitingRound = round;
      core.whenDefinitionsDurable(round, this);
    }
  }

  /** DefinitionsWaiter: a round ended; send every held reply whose round is complete, in order. */
  definitionsDurable(): void {
    const completed = this.connection.core.completedRound;
    const held = this.held;
    let n = 0;
    while (n < held.length && held[n]!.round <= completed) n++;
    if (n === 0) return;
    const ready = held.splice(0, n);
    const writer = this.connection.writer;
    for (const r of ready) {
      if (r.method === null) continue;
      if (r.properties !== null) writer.methodWithContent(this.id, r.method, r.properties, r.body!);
      else writer.method(this.id, r.method);
    }
    if (held.length === 0 && this.state === State.Open) this.resumeConsumers();
  }

  /**
   * DefinitionsWaiter: the round a held reply waited for failed, so the change may not survive a restart.
   * As RabbitMQ answers an internal error: the connection is closed with 541 (memory is rewritten to disk
   * by the storage's repair, so a client that declares again finds or re-creates what it asked for).
   */
  definitionsFailed(error: BrokerError): void {
    const failed = this.held.find((r) => r.round > 0);
    this.held = [];
    this.connection.fatal(ReplyCode.INTERNAL_ERROR, error.message, failed?.classId ?? 0, failed?.methodId ?? 0);
  }

  // ---------------------------------------------------------------- frames

  onFrame(type: number, payload: Buffer): void {
    if (this.state !== State.Open) {
      if (type === FRAME_METHOD) {
        const m = decodeMethod(payload, 0, payload.length);
        if (m.id === M_CHANNEL_CLOSE_OK) this.finishClose();
        else if (m.id === M_CHANNEL_CLOSE) {
          this.send({ id: M_CHANNEL_CLOSE_OK, args: {} });
        }
      }
      return; // everything else on a closing channel is discarded, as the spec says
    }
    if (type === FRAME_METHOD) {
      if (this.pending !== null) {
        // RabbitMQ's wording, naming the basic.publish whose content was cut short
        const text =
          this.pendingProperties === null
            ? 'expected content header for class 60, got non content header frame instead'
            : 'expected content body, got non content body frame instead';
        return this.connection.fatal(ReplyCode.UNEXPECTED_FRAME, text, CLASS_BASIC, methodIdOf(M_BASIC_PUBLISH));
      }
      const m = decodeMethod(payload, 0, payload.length);
      try {
        this.onMethod(m);
      } catch (err) {
        if (err instanceof BrokerError) this.fail(err, classIdOf(m.id), methodIdOf(m.id));
        else throw err;
      }
      return;
    }
    if (type === FRAME_HEADER) return this.onContentHeader(payload);
    if (type === FRAME_BODY) return this.onContentBody(payload);
    this.connection.fatal(ReplyCode.FRAME_ERROR, `unexpected frame type ${type}`, 0, 0);
  }

  private onContentHeader(payload: Buffer): void {
    if (this.pending === null || this.pendingProperties !== null) {
      return this.connection.fatal(ReplyCode.UNEXPECTED_FRAME, 'unexpected content header frame', 0, 0);
    }
    if (payload.length < 14) return this.connection.fatal(ReplyCode.FRAME_ERROR, 'content header frame too short', 0, 0);
    const classId = payload.readUInt16BE(0);
    if (classId !== CLASS_BASIC) {
      return this.connection.fatal(ReplyCode.UNEXPECTED_FRAME, `expected content header for class 60, got one for class ${classId} instead`, 0, 0);
    }
    const size = payload.readUInt32BE(4) * 0x100000000 + payload.readUInt32BE(8);
    // a copy: the frame is a view of the connection's read buffer, which the next read overwrites
    const properties = Buffer.from(payload.subarray(12));
    scanBasicProperties(properties, 0, properties.length, this.scan);
    // Headers are checked once, here, so nothing stored can fail to decode later (in a consumer's client,
    // the headers exchange, dead-lettering or the HTTP get); a message without headers, or with the empty
    // table amqplib always sends (4 bytes: its length), skips it.
    if (this.scan.headersEnd - this.scan.headersStart > 4) {
      try {
        checkTable(properties, this.scan.headersStart, this.scan.headersEnd);
      } catch (err) {
        if (!(err instanceof AmqpCodecError)) throw err;
        // a connection error, as for any field that cannot be decoded (RabbitMQ's channel crashes: 541)
        return this.connection.fatal(err.replyCode, `basic.publish headers: ${err.message}`, CLASS_BASIC, methodIdOf(M_BASIC_PUBLISH));
      }
    }
    if (size > this.connection.maxMessageBytes) {
      this.pending = null;
      throw brokerError(Errors.PRECONDITION_FAILED, `message size ${size} is larger than configured max size ${this.connection.maxMessageBytes}`);
    }
    this.pendingProperties = properties;
    this.bodySize = size;
    this.bodyReceived = 0;
    if (size === 0) this.completePublish(EMPTY_BODY);
  }

  private onContentBody(payload: Buffer): void {
    if (this.pending === null || this.pendingProperties === null) {
      return this.connection.fatal(ReplyCode.UNEXPECTED_FRAME, 'unexpected content body frame', 0, 0);
    }
    const received = this.bodyReceived + payload.length;
    if (received > this.bodySize) {
      return this.connection.fatal(ReplyCode.FRAME_ERROR, `content body exceeds the declared size ${this.bodySize}`, 0, 0);
    }
    // the body is copied out of the frame (a view of the connection's read buffer): into a buffer of its
    // declared size when that is small, else frame by frame (memory follows what arrived, not what a header
    // claims) and joined at the end
    if (this.bodySize <= BODY_PREALLOCATE_BYTES) {
      this.body ??= Buffer.allocUnsafe(this.bodySize);
      payload.copy(this.body, this.bodyReceived);
    } else {
      this.bodyParts.push(Buffer.from(payload));
    }
    this.bodyReceived = received;
    if (received === this.bodySize) {
      let body: Buffer;
      if (this.body !== null) {
        body = this.body;
        this.body = null;
      } else {
        body = Buffer.concat(this.bodyParts, this.bodySize);
        this.bodyParts = [];
      }
      this.completePublish(body);
    }
  }

  // ---------------------------------------------------------------- publish

  private startPublish(args: BasicPublishArgs): void {
    if (args.immediate) throw new BrokerError(Errors.NOT_IMPLEMENTED, 'immediate=true');
    let exchange: Exchange;
    if (args.exchange === '' && args.routingKey.startsWith(DIRECT_REPLY_PREFIX)) exchange = this.vhost.exchangeOrThrow('');
    else exchange = this.vhost.exchangeOrThrow(args.exchange);
    if (exchange.internal) throw brokerError(Errors.ACCESS_REFUSED, `cannot publish to internal exchange '${exchange.name}' in vhost '${this.vhost.name}'`);
    const generation = this.connection.core.users.generation;
    if (exchange !== this.publishChecked || generation !== this.publishCheckedAt) {
      this.checkAccess('write', 'exchange', exchange.name);
      this.publishChecked = exchange;
      this.publishCheckedAt = generation;
    }
    this.pending = { exchange, routingKey: args.routingKey, mandatory: args.mandatory };
    this.pendingProperties = null;
    if (this.connection.core.alarm?.reason != null) this.connection.pausePublisher();
  }

  private completePublish(body: Buffer): void {
    const pending = this.pending!;
    let properties = this.pendingProperties!;
    this.pending = null;
    this.pendingProperties = null;
    const flags = properties.length >= 2 ? properties.readUInt16BE(0) : 0;
    if ((flags & (PROP_FLAG_REPLY_TO | PROP_FLAG_USER_ID)) !== 0) properties = this.checkSpecialProperties(properties);
    const message = new Message(pending.exchange.name, pending.routingKey, properties, body, this.scan.deliveryMode === 2);
    const scan = this.scan;
    if (scan.priority > 0) message.priority = scan.priority;
    if (scan.expiration !== undefined) {
      try {
        message.expirationMs = parseExpiration(scan.expiration);
      } catch (err) {
        throw brokerError(Errors.PRECONDITION_FAILED, (err as Error).message);
      }
    }
    if (this.transactional) {
      this.txPublishes.push({ exchange: pending.exchange, message, mandatory: pending.mandatory });
      return;
    }
    this.publish(pending.exchange, message, pending.mandatory);
  }

  /** validate user-id, and rewrite reply-to for direct reply-to */
  private checkSpecialProperties(properties: Buffer): Buffer {
    const props = decodeBasicProperties(properties, 0, properties.length);
    if (props.userId !== undefined && props.userId !== this.connection.user!.name) {
      throw brokerError(Errors.PRECONDITION_FAILED, `user_id property set to '${props.userId}' but authenticated user was '${this.connection.user!.name}'`);
    }
    if (props.replyTo === DIRECT_REPLY_QUEUE) {
      if (this.replyConsumerTag === null) throw brokerError(Errors.PRECONDITION_FAILED, 'fast reply consumer does not exist');
      props.replyTo = DIRECT_REPLY_PREFIX + this.replyToken;
      const out = Buffer.allocUnsafe(basicPropertiesSize(props));
      writeBasicProperties(out, 0, props);
      return out;
    }
    return properties;
  }

  private publish(exchange: Exchange, message: Message, mandatory: boolean): void {
    this.publishCount++;
    const out = this.vhost.publish(exchange, message, (this.confirming ? PUBLISH_CONFIRM : 0) | (mandatory ? PUBLISH_MANDATORY : 0), this.outcome);
    if (out.routed === 0 && mandatory) {
      this.connection.writer.methodWithContent(
        this.id,
        { id: M_BASIC_RETURN, args: { replyCode: ReplyCode.NO_ROUTE, replyText: 'NO_ROUTE', exchange: exchange.name, routingKey: message.routingKey } },
        message.properties,
        message.body,
      );
    }
    if (this.confirming) {
      this.connection.core.stats.counters.publishConfirm++;
      if (this.confirmTail === this.confirmRounds.length) this.makeConfirmRoom();
      this.publishSeq++;
      // a queue's reject-publish limit refused it: the publisher gets basic.nack (RabbitMQ's rule)
      this.confirmRounds[this.confirmTail++] = out.rejected ? NACK_ROUND : out.round;
      if (out.round === 0 && !this.confirmScheduled) {
        this.confirmScheduled = true;
        setImmediate(this.confirmBound);
      }
    }
  }

  onDurable(_round: number): void {
    this.sendConfirms();
  }

  /**
   * A write or fsync failed: publishes waiting for a round up to `through` were not stored (the queues
   * dropped them, so they are never delivered): each gets a basic.nack, as RabbitMQ nacks what a queue
   * could not take responsibility for.
   */
  onFailed(through: number): void {
    const rounds = this.confirmRounds;
    for (let i = this.confirmHead; i < this.confirmTail; i++) {
      const round = rounds[i]!;
      if (round > 0 && round <= through) rounds[i] = NACK_ROUND;
    }
    this.sendConfirms();
  }

  /** ack every pending confirm whose round is complete, in publish order, as one multiple ack */
  private sendConfirms(): void {
    if (this.state !== State.Open) return;
    const completed = this.connection.core.completedRound;
    const rounds = this.confirmRounds;
    const tail = this.confirmTail;
    /** sequence number of the publish at index 0 (the one at tail - 1 is publishSeq) */
    const seqBase = this.publishSeq - tail + 1;
    let head = this.confirmHead;
    let runStart = head;
    let nacked = 0;
    while (head < tail && rounds[head]! <= completed) {
      if (rounds[head] === NACK_ROUND) {
        nacked++;
        // ack the run before it (multiple acks are cumulative), then nack this one alone
        if (head > runStart) this.send({ id: M_BASIC_ACK, args: { deliveryTag: seqBase + head - 1, multiple: head - runStart > 1 } });
        this.send({ id: M_BASIC_NACK, args: { deliveryTag: seqBase + head, multiple: false, requeue: false } });
        runStart = head + 1;
      }
      head++;
    }
    if (head > runStart) this.send({ id: M_BASIC_ACK, args: { deliveryTag: seqBase + head - 1, multiple: head - runStart > 1 } });
    if (head === this.confirmHead) return;
    this.connection.core.stats.counters.confirmed += head - this.confirmHead - nacked;
    if (head === tail) {
      this.confirmHead = this.confirmTail = 0;
      if (rounds.length > KEEP_CONFIRM_CAPACITY) this.confirmRounds = new Float64Array(0);
    } else {
      this.confirmHead = head;
    }
  }

  /** the confirm-round list is full: move the unconfirmed rounds to its front, or double it if over half are */
  private makeConfirmRoom(): void {
    const rounds = this.confirmRounds;
    const head = this.confirmHead;
    const unconfirmed = this.confirmTail - head;
    if (rounds.length > 0 && unconfirmed <= rounds.length >> 1) {
      rounds.copyWithin(0, head, this.confirmTail);
    } else {
      const grown = new Float64Array(Math.max(INITIAL_CONFIRM_CAPACITY, rounds.length * 2));
      grown.set(rounds.subarray(head, this.confirmTail));
      this.confirmRounds = grown;
    }
    this.confirmHead = 0;
    this.confirmTail = unconfirmed;
  }

  // ---------------------------------------------------------------- deliveries

  deliver(consumer: ChannelConsumer, queue: Queue, message: Message, position: Readonly<Position>): void {
    const tag = ++this.deliveryTag;
    if (!consumer.noAck) {
      this.unacked.set(tag, new Unacked(queue, position, message.priority, consumer, message.publishedAt));
      consumer.unacked++;
      this.unackedTotal++;
    }
    const redelivered = (position.flags & POSITION_REDELIVERED) !== 0;
    this.connection.writer.deliver(this.id, consumer.tagBuffer, tag, redelivered, message.exchange, message.routingKey, message.properties, message.body);
  }

  deliverReply(message: Message): boolean {
    if (this.state !== State.Open || this.replyConsumerTag === null) return false;
    const tag = ++this.deliveryTag;
    if (this.held.length > 0) {
      // its consume-ok may be among the held replies: the reply must not overtake it
      const args = {
        consumerTag: this.replyConsumerTag.toString(),
        deliveryTag: tag,
        redelivered: false,
        exchange: message.exchange,
        routingKey: message.routingKey,
      };
      this.hold(0, { id: M_BASIC_DELIVER, args }, message.properties, message.body, 0, 0);
      return true;
    }
    this.connection.writer.deliver(this.id, this.replyConsumerTag, tag, false, message.exchange, message.routingKey, message.properties, message.body);
    return true;
  }

  resumeConsumers(): void {
    for (const c of this.consumers.values()) c.queue.drain();
  }

  consumerCancelledByBroker(consumer: ChannelConsumer): void {
    if (this.consumers.get(consumer.tag) !== consumer) return;
    this.consumers.delete(consumer.tag);
    const caps = this.connection.clientProperties.capabilities as FieldTable | undefined;
    if (this.state === State.Open && caps?.consumer_cancel_notify === true) {
      this.send({ id: M_BASIC_CANCEL, args: { consumerTag: consumer.tag, nowait: true } });
    }
  }

  private settle(tag: number, multiple: boolean, requeue: boolean | null): void {
    // requeue === null: ack; true/false: reject/nack
    if (multiple) {
      if (tag !== 0 && tag > this.deliveryTag) throw brokerError(Errors.PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
      const requeued: Unacked[] = [];
      for (const [t, entry] of this.unacked) {
        if (tag !== 0 && t > tag) break;
        this.unacked.delete(t);
        this.release1(entry, requeue, requeued);
      }
      this.requeueAll(requeued);
    } else {
      const entry = this.unacked.get(tag);
      if (entry === undefined) throw brokerError(Errors.PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
      this.unacked.delete(tag);
      const requeued: Unacked[] = [];
      this.release1(entry, requeue, requeued);
      this.requeueAll(requeued);
    }
    this.resumeConsumers();
  }

  private release1(entry: Unacked, requeue: boolean | null, requeued: Unacked[]): void {
    if (entry.consumer !== null) entry.consumer.unacked--;
    this.unackedTotal--;
    if (requeue !== null) entry.queue.counters.nack++;
    if (requeue === true) requeued.push(entry);
    else if (requeue === false) entry.queue.reject(entry);
    else entry.queue.settle(entry.segment, entry.offset, entry.publishedAt);
  }

  private requeueAll(entries: Unacked[]): void {
    if (entries.length === 0) return;
    const byQueue = new Map<Queue, Unacked[]>();
    for (const e of entries) {
      let list = byQueue.get(e.queue);
      if (list === undefined) byQueue.set(e.queue, (list = []));
      list.push(e);
    }
    for (const [q, list] of byQueue) q.requeue(list);
  }

  // ---------------------------------------------------------------- methods

  /**
   * Throws 403 ACCESS_REFUSED (closing the channel) unless the user's permissions in this vhost allow `kind`
   * on the resource, with RabbitMQ's wording. The default exchange is named amq.default, as in RabbitMQ.
   */
  private checkAccess(kind: AccessKind, type: 'queue' | 'exchange', name: string): void {
    const user = this.connection.user!;
    if (this.connection.core.users.access(user.name, this.vhost.name).allows(kind, resourceName(type, name))) return;
    throw brokerError(Errors.ACCESS_REFUSED, accessRefusedText(type, name, this.vhost.name, user.name));
  }

  private queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueueName === '') throw brokerError(Errors.NOT_FOUND, 'no previously declared queue');
    return this.lastQueueName;
  }

  private onMethod(m: AmqpMethod): void {
    const owner = this.connection;
    const vhost = this.vhost;
    switch (m.id) {
      case M_BASIC_PUBLISH:
        return this.startPublish(m.args);
      case M_BASIC_ACK:
        if (this.transactional) return void this.txAcks.push({ kind: 'ack', tag: m.args.deliveryTag, multiple: m.args.multiple, requeue: false });
        return this.settle(m.args.deliveryTag, m.args.multiple, null);
      case M_BASIC_NACK:
        if (this.transactional) return void this.txAcks.push({ kind: 'reject', tag: m.args.deliveryTag, multiple: m.args.multiple, requeue: m.args.requeue });
        return this.settle(m.args.deliveryTag, m.args.multiple, m.args.requeue);
      case M_BASIC_REJECT:
        if (this.transactional) return void this.txAcks.push({ kind: 'reject', tag: m.args.deliveryTag, multiple: false, requeue: m.args.requeue });
        return this.settle(m.args.deliveryTag, false, m.args.requeue);
      case M_BASIC_QOS:
        if (m.args.prefetchSize !== 0) throw brokerError(Errors.NOT_IMPLEMENTED, `prefetch_size!=0 (${m.args.prefetchSize})`);
        if (m.args.global) this.globalPrefetch = m.args.prefetchCount;
        else this.prefetchCount = m.args.prefetchCount;
        this.send({ id: M_BASIC_QOS_OK, args: {} });
        this.resumeConsumers();
        return;
      case M_BASIC_CONSUME:
        return this.consume(m.args.queue, m.args.consumerTag, m.args.noAck, m.args.exclusive, m.args.nowait, m.args.arguments);
      case M_BASIC_CANCEL:
        return this.cancel(m.args.consumerTag, m.args.nowait);
      case M_BASIC_GET:
        return this.get(m.args.queue, m.args.noAck);
      case M_BASIC_RECOVER:
      case M_BASIC_RECOVER_ASYNC: {
        if (!m.args.requeue) throw brokerError(Errors.NOT_IMPLEMENTED, 'requeue=false');
        this.requeueEverything();
        if (m.id === M_BASIC_RECOVER) this.send({ id: M_BASIC_RECOVER_OK, args: {} });
        return;
      }
      case M_QUEUE_DECLARE: {
        const a = m.args;
        if (a.queue === DIRECT_REPLY_QUEUE && a.passive) {
          return this.send({ id: M_QUEUE_DECLARE_OK, args: { queue: a.queue, messageCount: 0, consumerCount: 0 } });
        }
        // a server-named queue is checked as amq.gen-* (its name is made by the declaration)
        if (!a.passive) this.checkAccess('configure', 'queue', a.queue === '' ? 'amq.gen-' : a.queue);
        const r = vhost.declareQueue(
          { name: a.queue, passive: a.passive, durable: a.durable, exclusive: a.exclusive, autoDelete: a.autoDelete, arguments: a.arguments },
          owner,
        );
        this.lastQueueName = r.queue.name;
        return this.answerDefinitions(
          a.nowait ? null : { id: M_QUEUE_DECLARE_OK, args: { queue: r.queue.name, messageCount: r.messageCount, consumerCount: r.consumerCount } },
          m.id,
        );
      }
      case M_QUEUE_BIND: {
        const q = this.queueName(m.args.queue);
        const key = m.args.queue === '' && m.args.routingKey === '' ? q : m.args.routingKey;
        this.checkAccess('write', 'queue', q);
        this.checkAccess('read', 'exchange', m.args.exchange);
        vhost.bindQueue(q, m.args.exchange, key, m.args.arguments, owner);
        return this.answerDefinitions(m.args.nowait ? null : { id: M_QUEUE_BIND_OK, args: {} }, m.id);
      }
      case M_QUEUE_UNBIND: {
        const q = this.queueName(m.args.queue);
        this.checkAccess('write', 'queue', q);
        this.checkAccess('read', 'exchange', m.args.exchange);
        vhost.unbindQueue(q, m.args.exchange, m.args.routingKey, m.args.arguments, owner);
        return this.answerDefinitions({ id: M_QUEUE_UNBIND_OK, args: {} }, m.id);
      }
      case M_QUEUE_PURGE: {
        const q = this.queueName(m.args.queue);
        this.checkAccess('read', 'queue', q);
        const n = vhost.purgeQueue(q, owner);
        if (!m.args.nowait) this.send({ id: M_QUEUE_PURGE_OK, args: { messageCount: n } });
        return;
      }
      case M_QUEUE_DELETE: {
        const q = this.queueName(m.args.queue);
        this.checkAccess('configure', 'queue', q);
        const n = vhost.deleteQueue(q, m.args.ifUnused, m.args.ifEmpty, owner);
        return this.answerDefinitions(m.args.nowait ? null : { id: M_QUEUE_DELETE_OK, args: { messageCount: n } }, m.id);
      }
      case M_EXCHANGE_DECLARE: {
        const a = m.args;
        if (!a.passive) this.checkAccess('configure', 'exchange', a.exchange);
        vhost.declareExchange({
          name: a.exchange,
          type: a.type,
          passive: a.passive,
          durable: a.durable,
          autoDelete: a.autoDelete,
          internal: a.internal,
          arguments: a.arguments,
        });
        return this.answerDefinitions(a.nowait ? null : { id: M_EXCHANGE_DECLARE_OK, args: {} }, m.id);
      }
      case M_EXCHANGE_DELETE:
        this.checkAccess('configure', 'exchange', m.args.exchange);
        vhost.deleteExchange(m.args.exchange, m.args.ifUnused);
        return this.answerDefinitions(m.args.nowait ? null : { id: M_EXCHANGE_DELETE_OK, args: {} }, m.id);
      case M_EXCHANGE_BIND:
        this.checkAccess('write', 'exchange', m.args.destination);
        this.checkAccess('read', 'exchange', m.args.source);
        vhost.bindExchange(m.args.destination, m.args.source, m.args.routingKey, m.args.arguments);
        return this.answerDefinitions(m.args.nowait ? null : { id: M_EXCHANGE_BIND_OK, args: {} }, m.id);
      case M_EXCHANGE_UNBIND:
        this.checkAccess('write', 'exchange', m.args.destination);
        this.checkAccess('read', 'exchange', m.args.source);
        vhost.unbindExchange(m.args.destination, m.args.source, m.args.routingKey, m.args.arguments);
        return this.answerDefinitions(m.args.nowait ? null : { id: M_EXCHANGE_UNBIND_OK, args: {} }, m.id);
      case M_CONFIRM_SELECT:
        if (this.transactional) throw brokerError(Errors.PRECONDITION_FAILED, 'cannot switch from tx to confirm mode');
        if (!this.confirming) {
          this.confirming = true;
          this.connection.core.addDurabilityListener(this);
        }
        if (!m.args.nowait) this.send({ id: M_CONFIRM_SELECT_OK, args: {} });
        return;
      case M_TX_SELECT:
        if (this.confirming) throw brokerError(Errors.PRECONDITION_FAILED, 'cannot switch from confirm to tx mode');
        this.transactional = true;
        return this.send({ id: M_TX_SELECT_OK, args: {} });
      case M_TX_COMMIT:
        if (!this.transactional) throw brokerError(Errors.PRECONDITION_FAILED, 'channel is not transactional');
        return this.commit();
      case M_TX_ROLLBACK:
        if (!this.transactional) throw brokerError(Errors.PRECONDITION_FAILED, 'channel is not transactional');
        this.txPublishes = [];
        this.txAcks = [];
        return this.send({ id: M_TX_ROLLBACK_OK, args: {} });
      case M_CHANNEL_FLOW:
        this.flowActive = m.args.active;
        this.send({ id: M_CHANNEL_FLOW_OK, args: { active: m.args.active } });
        if (this.flowActive) this.resumeConsumers();
        return;
      case M_CHANNEL_CLOSE:
        this.release();
        this.send({ id: M_CHANNEL_CLOSE_OK, args: {} });
        this.state = State.Closed;
        this.connection.channelClosed(this.id);
        return;
      case M_CHANNEL_CLOSE_OK:
        return;
      case M_CHANNEL_OPEN:
        return this.connection.fatal(ReplyCode.CHANNEL_ERROR, `second 'channel.open' seen`, classIdOf(m.id), methodIdOf(m.id));
      case M_ACCESS_REQUEST:
        return this.send({ id: M_ACCESS_REQUEST_OK, args: { ticket: 1 } });
      default:
        return this.connection.fatal(ReplyCode.COMMAND_INVALID, `unexpected method '${methodName(m.id)}' from client`, classIdOf(m.id), methodIdOf(m.id));
    }
  }

  private consume(queueArg: string, tagArg: string, noAck: boolean, exclusive: boolean, nowait: boolean, args: FieldTable): void {
    const tag = tagArg === '' ? `amq.ctag-${randomBytes(16).toString('base64url').slice(0, 22)}` : tagArg;
    if (this.consumers.has(tag) || (this.replyConsumerTag !== null && this.replyConsumerTag.toString() === tag)) {
      throw brokerError(Errors.NOT_ALLOWED, `attempt to reuse consumer tag '${tag}'`);
    }
    if (queueArg === DIRECT_REPLY_QUEUE) {
      if (!noAck) throw brokerError(Errors.PRECONDITION_FAILED, 'reply consumer cannot acknowledge');
      if (this.replyConsumerTag !== null) throw brokerError(Errors.PRECONDITION_FAILED, 'reply consumer already set');
      this.replyConsumerTag = Buffer.from(tag);
      this.replyToken = randomBytes(18).toString('base64url');
      this.vhost.directReply.set(this.replyToken, this);
      if (!nowait) this.send({ id: M_BASIC_CONSUME_OK, args: { consumerTag: tag } });
      return;
    }
    const queueName = this.queueName(queueArg);
    this.checkAccess('read', 'queue', queueName);
    const queue = this.vhost.queueOrThrow(queueName, this.connection);
    if (queue.hasExclusiveConsumer() || (exclusive && queue.consumers.length > 0)) {
      throw brokerError(Errors.ACCESS_REFUSED, `queue '${queue.name}' in vhost '${this.vhost.name}' in exclusive use`);
    }
    const consumer = new ChannelConsumer(this, queue, tag, noAck, exclusive, this.prefetchCount, this.connection, consumerPriority(args));
    this.consumers.set(tag, consumer);
    if (!nowait) this.send({ id: M_BASIC_CONSUME_OK, args: { consumerTag: tag } });
    queue.addConsumer(consumer);
  }

  private cancel(tag: string, nowait: boolean): void {
    if (this.replyConsumerTag !== null && this.replyConsumerTag.toString() === tag) {
      this.dropReplyConsumer();
    } else {
      const consumer = this.consumers.get(tag);
      if (consumer !== undefined) this.removeConsumer(consumer);
    }
    if (!nowait) this.send({ id: M_BASIC_CANCEL_OK, args: { consumerTag: tag } });
  }

  private removeConsumer(consumer: ChannelConsumer): void {
    this.consumers.delete(consumer.tag);
    if (consumer.queue.removeConsumer(consumer)) this.vhost.removeQueueQuietly(consumer.queue);
  }

  private dropReplyConsumer(): void {
    if (this.replyConsumerTag === null) return;
    this.vhost.directReply.delete(this.replyToken);
    this.replyConsumerTag = null;
  }

  private get(queueArg: string, noAck: boolean, waited = false): void {
    const queueName = this.queueName(queueArg);
    this.checkAccess('read', 'queue', queueName);
    const queue = this.vhost.queueOrThrow(queueName, this.connection);
    // messages published before the get may wait for their durability round: answer once it ends
    if (!waited && queue.hasPending) return queue.afterPending(() => this.getAgain(queueArg, noAck));
    const taken = queue.take();
    if (taken === null) return this.send({ id: M_BASIC_GET_EMPTY, args: { clusterId: '' } });
    const tag = ++this.deliveryTag;
    const p = taken.position;
    if (noAck) queue.discard(p.segment, p.offset);
    else {
      queue.trackUnacked(taken);
      this.unacked.set(tag, new Unacked(queue, p, taken.message.priority, null, taken.message.publishedAt));
      this.unackedTotal++;
    }
    const msg = taken.message;
    const redelivered = (p.flags & POSITION_REDELIVERED) !== 0;
    this.sendWithContent(
      { id: M_BASIC_GET_OK, args: { deliveryTag: tag, redelivered, exchange: msg.exchange, routingKey: msg.routingKey, messageCount: queue.messageCount } },
      msg.properties,
      msg.body,
    );
  }

  private getAgain(queueArg: string, noAck: boolean): void {
    if (this.state !== State.Open) return;
    try {
      this.get(queueArg, noAck, true);
    } catch (err) {
      if (err instanceof BrokerError) this.fail(err, 0, 0);
      else throw err;
    }
  }

  private commit(): void {
    const publishes = this.txPublishes;
    const acks = this.txAcks;
    this.txPublishes = [];
    this.txAcks = [];
    for (const a of acks) this.settle(a.tag, a.multiple, a.kind === 'ack' ? null : a.requeue);
    for (const p of publishes) this.publish(p.exchange, p.message, p.mandatory);
    this.send({ id: M_TX_COMMIT_OK, args: {} });
  }

  private requeueEverything(): void {
    const all = [...this.unacked.values()];
    this.unacked.clear();
    const requeued: Unacked[] = [];
    for (const e of all) this.release1(e, true, requeued);
    this.requeueAll(requeued);
  }

  // ---------------------------------------------------------------- closing

  /** this channel as the management API lists it */
  details(): ChannelDetails {
    return {
      number: this.id,
      consumerCount: this.consumers.size,
      unacked: this.unacked.size,
      prefetchCount: this.prefetchCount,
      globalPrefetchCount: this.globalPrefetch,
      confirm: this.confirming,
      transactional: this.transactional,
      unconfirmed: this.confirmTail - this.confirmHead,
      state: this.state !== State.Open ? 'closing' : this.flowActive ? 'running' : 'flow',
      publish: this.publishCount,
    };
  }

  /** a soft error closes this channel; a hard one the whole connection */
  fail(err: BrokerError, classId: number, methodId: number): void {
    const code = err.def.amqp;
    if (isHardError(code)) return this.connection.fatal(code, err.message, classId, methodId);
    if (this.state !== State.Open) return;
    const text = `${err.def.code} - ${err.message}`;
    this.connection.logger.info(`connection ${this.connection.name}, channel ${this.id}: closing with ${code} ${text}`);
    this.release();
    this.state = State.Closing;
    this.send({ id: M_CHANNEL_CLOSE, args: { replyCode: code, replyText: text.slice(0, 255), classId, methodId } });
  }

  private finishClose(): void {
    this.state = State.Closed;
    this.connection.channelClosed(this.id);
  }

  /** give back everything this channel holds: consumers cancelled, unacked messages requeued in order */
  release(): void {
    if (this.confirming) this.connection.core.removeDurabilityListener(this);
    this.confirming = false;
    this.pending = null;
    this.bodyParts = [];
    this.body = null;
    this.txPublishes = [];
    this.txAcks = [];
    this.dropReplyConsumer();
    this.requeueEverything();
    for (const c of [...this.consumers.values()]) this.removeConsumer(c);
  }
}

const EMPTY_BODY = Buffer.alloc(0);
