/**
 * The smallest AMQP 0-9-1 client that `postbox bench` needs: PLAIN login, one channel, synchronous methods one
 * at a time, publishing pre-encoded frames, publisher confirms and consumer deliveries. Method frames are
 * encoded and decoded with the generated codecs (../protocol/amqp/generated/spec.ts); this file only splits
 * the byte stream into frames and follows the conversation.
 *
 * Frame layout (AMQP 0-9-1 §2.3.5, drawn in full in src/protocol/amqp/frame-parser.ts):
 *
 *   | u8 type | u16 channel | u32 size | payload (size bytes) | u8 0xCE |
 *
 * A content header payload is | u16 class | u16 weight | u64 body size | properties |; the body follows in
 * body frames of at most frame-max - 8 payload bytes each.
 */
import { connect, type Socket } from 'node:net';
import {
  decodeMethod,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_METHOD,
  M_BASIC_ACK,
  M_BASIC_CONSUME,
  M_BASIC_QOS,
  M_BASIC_DELIVER,
  M_BASIC_NACK,
  M_BASIC_PUBLISH,
  M_CHANNEL_CLOSE,
  M_CHANNEL_CLOSE_OK,
  M_CHANNEL_OPEN,
  M_CONNECTION_CLOSE,
  M_CONNECTION_CLOSE_OK,
  M_CONNECTION_OPEN,
  M_CONNECTION_START,
  M_CONNECTION_START_OK,
  M_CONNECTION_TUNE,
  M_CONNECTION_TUNE_OK,
  M_CONFIRM_SELECT,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
  methodName,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  PROTOCOL_REVISION,
  type AmqpMethod,
  type BasicProperties,
} from '../protocol/amqp/generated/spec.js';

/** The one channel the client uses. */
export const BENCH_CHANNEL = 1;
/** Largest frame the client asks for, bytes; the server's offer wins when smaller. */
const CLIENT_FRAME_MAX = 128 * 1024;
/** Type byte, channel and size before a payload; the frame-end octet after it. */
const FRAME_HEADER_BYTES = 7;
const FRAME_OVERHEAD_BYTES = 8;
/** Byte offset of the u64 body size inside a content header payload (after class and weight). */
const HEADER_BODY_SIZE_OFFSET = 4;
/** How long connecting and logging in may take before the client gives up, ms. */
export const AMQP_CONNECT_TIMEOUT_MS = 10_000;

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_REVISION]);

export interface AmqpClientOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
}

/** What the client tells its owner about; every callback runs on the socket's data event. */
export interface AmqpClientEvents {
  /** publisher confirm: `multiple` covers every tag up to and including `tag` */
  onConfirm(tag: number, multiple: boolean, ok: boolean): void;
  /** a whole message arrived (method, header and every body frame) */
  onDelivery(deliveryTag: number): void;
  /** the server closed the channel or connection, or the socket failed */
  onFailure(error: Error): void;
}

interface Pending {
  readonly expect: number;
  resolve(method: AmqpMethod): void;
  reject(error: Error): void;
}

export class MiniAmqpClient {
  private pending: Pending | null = null;
  private leftover: Buffer | null = null;
  private failed: Error | null = null;
  /** delivery tag of the message whose content is being received, and its body bytes still to come */
  private deliveryTag = 0;
  private bodyRemaining = 0;
  private receivingContent = false;
  frameMax = CLIENT_FRAME_MAX;

  private constructor(
    private readonly socket: Socket,
    private readonly events: AmqpClientEvents,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the connection closed')));
  }

  /** Connect, log in with PLAIN, open the vhost and channel BENCH_CHANNEL. */
  static async connect(options: AmqpClientOptions, events: AmqpClientEvents): Promise<MiniAmqpClient> {
    const socket = connect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    const client = new MiniAmqpClient(socket, events);
    const timer = setTimeout(() => client.fail(new Error(`no AMQP handshake within ${AMQP_CONNECT_TIMEOUT_MS} ms`)), AMQP_CONNECT_TIMEOUT_MS);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const start = client.expect(M_CONNECTION_START);
      socket.write(PROTOCOL_HEADER);
      await start;
      const tune = client.expect(M_CONNECTION_TUNE);
      client.send(0, {
        id: M_CONNECTION_START_OK,
        args: { clientProperties: { product: 'postbox bench', capabilities: { authentication_failure_close: true } }, mechanism: 'PLAIN', response: Buffer.from(`\0${options.user}\0${options.password}`), locale: 'en_US' },
      });
      const offered = await tune;
      if (offered.id !== M_CONNECTION_TUNE) throw new Error('internal: expected connection.tune');
      const serverFrameMax = offered.args.frameMax;
      client.frameMax = serverFrameMax === 0 ? CLIENT_FRAME_MAX : Math.min(serverFrameMax, CLIENT_FRAME_MAX);
      client.send(0, { id: M_CONNECTION_TUNE_OK, args: { channelMax: 1, frameMax: client.frameMax, heartbeat: 0 } });
      await client.call(0, { id: M_CONNECTION_OPEN, args: { virtualHost: options.vhost, capabilities: '', insist: false } });
      await client.call(BENCH_CHANNEL, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } });
      return client;
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send a synchronous method and resolve with its reply (the method id + 1, by the spec's numbering). */
  call(channel: number, method: AmqpMethod): Promise<AmqpMethod> {
    const reply = this.expect(method.id + 1);
    this.send(channel, method);
    return reply;
  }

  /** Declare a server-named, exclusive, auto-delete queue (gone when the connection closes); its name. */
  async declareTemporaryQueue(): Promise<string> {
    const ok = await this.call(BENCH_CHANNEL, {
      id: M_QUEUE_DECLARE,
      args: { ticket: 0, queue: '', passive: false, durable: false, exclusive: true, autoDelete: true, nowait: false, arguments: {} },
    });
    if (ok.id !== M_QUEUE_DECLARE_OK) throw new Error('internal: expected queue.declare-ok');
    return ok.args.queue;
  }

  /** Turn on publisher confirms: from now on every publish is counted and confirmed with basic.ack. */
  async confirmSelect(): Promise<void> {
    await this.call(BENCH_CHANNEL, { id: M_CONFIRM_SELECT, args: { nowait: false } });
  }

  /** Limit unacknowledged deliveries to `prefetch`, then start consuming `queue` with explicit acks. */
  async consume(queue: string, prefetch: number): Promise<void> {
    await this.call(BENCH_CHANNEL, { id: M_BASIC_QOS, args: { prefetchSize: 0, prefetchCount: prefetch, global: false } });
    await this.call(BENCH_CHANNEL, {
      id: M_BASIC_CONSUME,
      args: { ticket: 0, queue, consumerTag: '', noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {} },
    });
  }

  ack(deliveryTag: number, multiple: boolean): void {
    this.send(BENCH_CHANNEL, { id: M_BASIC_ACK, args: { deliveryTag, multiple } });
  }

  send(channel: number, method: AmqpMethod): void {
    this.socket.write(encodeMethodFrame(channel, method));
  }

  /** Write bytes as they are (e.g. many pre-encoded publishes); false when the socket wants a drain first. */
  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** resolve on the next 'drain' of the socket */
  drained(): Promise<void> {
    return new Promise((resolve) => this.socket.once('drain', resolve));
  }

  /** Close the connection politely, or just drop it when that is not possible. */
  async close(): Promise<void> {
    if (this.failed === null) {
      try {
        await this.call(0, { id: M_CONNECTION_CLOSE, args: { replyCode: 200, replyText: 'bench done', classId: 0, methodId: 0 } });
      } catch {
        // already closing
      }
    }
    this.failed ??= new Error('closed by the client');
    this.socket.destroy();
  }

  private expect(id: number): Promise<AmqpMethod> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.pending !== null) throw new Error(`internal: ${methodName(id)} asked while ${methodName(this.pending.expect)} is outstanding`);
    return new Promise((resolve, reject) => (this.pending = { expect: id, resolve, reject }));
  }

  private fail(error: Error): void {
    if (this.failed !== null) return;
    this.failed = error;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
    this.events.onFailure(error);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const buf = this.leftover === null ? chunk : Buffer.concat([this.leftover, chunk]);
    this.leftover = null;
    let offset = 0;
    while (buf.length - offset >= FRAME_HEADER_BYTES && this.failed === null) {
      const size = buf.readUInt32BE(offset + 3);
      const end = offset + FRAME_HEADER_BYTES + size;
      if (buf.length < end + 1) break;
      if (buf[end] !== FRAME_END) {
        this.fail(new Error('the server sent a frame without its frame-end octet'));
        return;
      }
      this.onFrame(buf[offset]!, buf.readUInt16BE(offset + 1), buf.subarray(offset + FRAME_HEADER_BYTES, end));
      offset = end + 1;
    }
    if (offset < buf.length) this.leftover = Buffer.from(buf.subarray(offset));
  }

  private onFrame(type: number, channel: number, payload: Buffer): void {
    if (type === FRAME_METHOD) this.onMethod(channel, decodeMethod(payload, 0, payload.length));
    else if (type === FRAME_HEADER && this.receivingContent) {
      this.bodyRemaining = Number(payload.readBigUInt64BE(HEADER_BODY_SIZE_OFFSET));
      if (this.bodyRemaining === 0) this.contentDone();
    } else if (type === FRAME_BODY && this.receivingContent) {
      this.bodyRemaining -= payload.length;
      if (this.bodyRemaining <= 0) this.contentDone();
    }
    // heartbeats need no answer: the client asked for none
  }

  private contentDone(): void {
    this.receivingContent = false;
    this.events.onDelivery(this.deliveryTag);
  }

  private onMethod(channel: number, m: AmqpMethod): void {
    switch (m.id) {
      case M_BASIC_ACK:
        this.events.onConfirm(m.args.deliveryTag, m.args.multiple, true);
        return;
      case M_BASIC_NACK:
        this.events.onConfirm(m.args.deliveryTag, m.args.multiple, false);
        return;
      case M_BASIC_DELIVER:
        this.deliveryTag = m.args.deliveryTag;
        this.receivingContent = true;
        return;
      case M_CONNECTION_CLOSE:
        this.send(0, { id: M_CONNECTION_CLOSE_OK, args: {} });
        this.fail(new Error(`the server closed the connection: ${m.args.replyCode} ${m.args.replyText}`));
        return;
      case M_CHANNEL_CLOSE:
        this.send(channel, { id: M_CHANNEL_CLOSE_OK, args: {} });
        this.fail(new Error(`the server closed the channel: ${m.args.replyCode} ${m.args.replyText}`));
        return;
    }
    const pending = this.pending;
    if (pending !== null && pending.expect === m.id) {
      this.pending = null;
      pending.resolve(m);
    }
  }
}

/**
 * The frames of one basic.publish of `body` on BENCH_CHANNEL (method, content header, body frames split at
 * frame-max), as one buffer that can be written any number of times.
 */
export function encodePublish(exchange: string, routingKey: string, body: Buffer, properties: BasicProperties, frameMax: number): Buffer {
  const parts: Buffer[] = [
    encodeMethodFrame(BENCH_CHANNEL, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange, routingKey, mandatory: false, immediate: false } }),
    encodeBasicHeaderFrame(BENCH_CHANNEL, body.length, properties),
  ];
  const maxPayload = frameMax - FRAME_OVERHEAD_BYTES;
  for (let offset = 0; offset < body.length; offset += maxPayload) {
    const piece = body.subarray(offset, Math.min(offset + maxPayload, body.length));
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    head[0] = FRAME_BODY;
    head.writeUInt16BE(BENCH_CHANNEL, 1);
    head.writeUInt32BE(piece.length, 3);
    parts.push(head, piece, Buffer.from([FRAME_END]));
  }
  return Buffer.concat(parts);
}
