/**
 * A tiny raw AMQP 0-9-1 client for wire tests, built on the broker's own codec (encodeMethodFrame,
 * decodeMethod, FrameParser, encodeTable, encodeBasicHeaderFrame). It does exactly what a test tells it:
 * send the protocol header, walk the handshake step by step, write arbitrary bytes or frames, and await the
 * next frame, a connection.close / channel.close, or the end of the socket.
 *
 * Every wait has a guard timeout so a broken broker fails the test instead of hanging it; the guards are
 * never timing assertions.
 *
 * Frames as written here (see src/protocol/amqp/frame-parser.ts for the drawing):
 *   | u8 type | u16 channel | u32 size | payload (size bytes) | u8 0xCE |
 */
import { connect, type Socket } from 'node:net';
import { encodeTable, type FieldTable } from '../../../src/core/field-table.js';
import { FrameParser, PROTOCOL_HEADER, type FrameSink } from '../../../src/protocol/amqp/frame-parser.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  M_BASIC_ACK,
  M_BASIC_CANCEL,
  M_BASIC_CANCEL_OK,
  M_BASIC_CONSUME,
  M_BASIC_CONSUME_OK,
  M_BASIC_DELIVER,
  M_BASIC_PUBLISH,
  M_CHANNEL_CLOSE,
  M_CHANNEL_CLOSE_OK,
  M_CHANNEL_OPEN,
  M_CHANNEL_OPEN_OK,
  M_CONNECTION_CLOSE,
  M_CONNECTION_CLOSE_OK,
  M_CONNECTION_OPEN,
  M_CONNECTION_OPEN_OK,
  M_CONNECTION_START,
  M_CONNECTION_START_OK,
  M_CONNECTION_TUNE,
  M_CONNECTION_TUNE_OK,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
  decodeBasicProperties,
  decodeMethod,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
  methodName,
  type AmqpMethod,
  type AmqpMethodId,
  type BasicProperties,
  type ConnectionStartArgs,
  type ConnectionTuneArgs,
} from '../../../src/protocol/amqp/generated/spec.js';

/** How long any single wait may take before the test is failed as hung, ms (a guard, not an assertion). */
export const GUARD_MS = 5_000;
/** Largest frame this client accepts from the broker, bytes: far above any frame-max the broker offers. */
const CLIENT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Frame-max used to split bodies before connection.tune says otherwise (the spec's frame-min-size). */
const INITIAL_FRAME_MAX = 4096;

export interface Frame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
}

/** The args of the method with id `I`. */
export type ArgsOf<I extends AmqpMethodId> = Extract<AmqpMethod, { id: I }>['args'];

export interface CloseReceived {
  readonly scope: 'connection' | 'channel';
  readonly channel: number;
  readonly replyCode: number;
  readonly replyText: string;
  readonly classId: number;
  readonly methodId: number;
}

export interface Delivery {
  readonly method: AmqpMethod;
  readonly properties: BasicProperties;
  readonly body: Buffer;
}

export interface TuneChoice {
  /** 0 asks for the broker's value; undefined echoes what the broker offered */
  readonly frameMax?: number;
  readonly channelMax?: number;
  /** seconds; undefined means 0 (no heartbeats) */
  readonly heartbeat?: number;
}

export interface HandshakeOptions extends TuneChoice {
  readonly vhost?: string;
  readonly username?: string;
  readonly password?: string;
}

/** A frame with an arbitrary type, channel, size field and frame-end octet (for malformed input). */
export function rawFrame(type: number, channel: number, payload: Buffer, end = 0xce, size = payload.length): Buffer {
  const frame = Buffer.alloc(8 + payload.length);
  frame[0] = type;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(size, 3);
  payload.copy(frame, 7);
  frame[7 + payload.length] = end;
  return frame;
}

/** The payload of a method frame (class id, method id, arguments), without the frame around it. */
export function methodPayload(m: AmqpMethod): Buffer {
  const frame = encodeMethodFrame(0, m);
  return frame.subarray(7, frame.length - 1);
}

/** The PLAIN SASL response: NUL user NUL password. */
export function plainResponse(username: string, password: string): Buffer {
  return Buffer.from(`\0${username}\0${password}`, 'utf8');
}

/** The AMQPLAIN response: a field table without its u32 length prefix. */
export function amqplainResponse(username: string, password: string): Buffer {
  return encodeTable({ LOGIN: username, PASSWORD: password }).subarray(4);
}

/** The client capabilities a modern client (amqplib, pika) announces. */
export const CLIENT_PROPERTIES: FieldTable = {
  product: 'postbox raw test client',
  capabilities: {
    publisher_confirms: true,
    'basic.nack': true,
    consumer_cancel_notify: true,
    'connection.blocked': true,
    authentication_failure_close: true,
  },
};

export class RawClient implements FrameSink {
  /** every byte the broker sent, in order */
  readonly received: Buffer[] = [];
  /** set when the broker's bytes could not be parsed as frames (e.g. it answered with a protocol header) */
  parseError: string | null = null;
  /** frame-max used to split bodies this client publishes */
  frameMax = INITIAL_FRAME_MAX;
  /** when true every write is dribbled one byte at a time, with a setImmediate between bytes */
  dribble = false;
  private readonly parser: FrameParser;
  private readonly frames: Frame[] = [];
  private readonly wakers = new Set<() => void>();
  private ended = false;
  private readonly endPromise: Promise<void>;
  private outgoing: Buffer[] = [];
  private pumping: Promise<void> | null = null;

  private constructor(readonly socket: Socket) {
    this.parser = new FrameParser(this, CLIENT_MAX_FRAME_BYTES);
    // the broker sends no protocol header: prime the parser past it so the first bytes parse as frames
    this.parser.push(PROTOCOL_HEADER);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.parser.push(chunk);
    });
    socket.on('error', () => {
      // ECONNRESET and friends: the 'close' event that follows is what tests wait for
    });
    this.endPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
  }

  /** open a TCP connection to the broker; nothing is sent yet */
  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** connect and complete the handshake (PLAIN guest/guest, tune-ok, open '/') */
  static async open(port: number, options: HandshakeOptions = {}): Promise<RawClient> {
    const client = await RawClient.connect(port);
    await client.handshake(options);
    return client;
  }

  // ---------------------------------------------------------------- FrameSink

  onProtocolHeader(): void {
    // primed in the constructor; never called again
  }

  onFrame(type: number, channel: number, payload: Buffer): void {
    this.frames.push({ type, channel, payload });
    this.wake();
  }

  onFrameError(_replyCode: number, text: string): void {
    this.parseError = text;
    this.wake();
  }

  // ---------------------------------------------------------------- sending

  /** true once the socket has closed (either side) */
  get isEnded(): boolean {
    return this.ended;
  }

  write(bytes: Buffer): void {
    if (this.ended || this.socket.destroyed) return;
    if (!this.dribble) {
      this.socket.write(bytes);
      return;
    }
    this.outgoing.push(bytes);
    this.pumping ??= this.pump();
  }

  /** resolves when every dribbled byte has been handed to the socket */
  async drained(): Promise<void> {
    while (this.pumping !== null) await this.pumping;
  }

  private async pump(): Promise<void> {
    while (this.outgoing.length > 0) {
      const bytes = this.outgoing.shift()!;
      for (let i = 0; i < bytes.length; i++) {
        if (this.ended || this.socket.destroyed) break;
        this.socket.write(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    this.pumping = null;
  }

  send(channel: number, m: AmqpMethod): void {
    this.write(encodeMethodFrame(channel, m));
  }

  /** the bytes of basic.publish + content header + body frames split at this client's frame-max */
  publishBytes(channel: number, exchange: string, routingKey: string, body: Buffer, properties: BasicProperties = {}): Buffer {
    const parts: Buffer[] = [
      encodeMethodFrame(channel, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange, routingKey, mandatory: false, immediate: false } }),
      encodeBasicHeaderFrame(channel, body.length, properties),
    ];
    const maxPayload = this.frameMax - 8;
    for (let offset = 0; offset < body.length; offset += maxPayload) {
      parts.push(rawFrame(FRAME_BODY, channel, body.subarray(offset, Math.min(body.length, offset + maxPayload))));
    }
    return Buffer.concat(parts);
  }

  publish(channel: number, exchange: string, routingKey: string, body: Buffer, properties: BasicProperties = {}): void {
    this.write(this.publishBytes(channel, exchange, routingKey, body, properties));
  }

  // ---------------------------------------------------------------- receiving

  private wake(): void {
    const wakers = [...this.wakers];
    this.wakers.clear();
    for (const w of wakers) w();
  }

  private activity(guardMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wakers.delete(wake);
        reject(new Error(`raw client: guard of ${guardMs} ms passed waiting for ${what}`));
      }, guardMs);
      this.wakers.add(wake);
    });
  }

  /** the next frame from the broker, or null once the socket has ended and every frame was read */
  async nextFrame(guardMs = GUARD_MS): Promise<Frame | null> {
    while (this.frames.length === 0) {
      if (this.ended || this.parseError !== null) return null;
      await this.activity(guardMs, 'a frame');
    }
    return this.frames.shift()!;
  }

  /** the next method (heartbeats skipped), or null at the end of the socket; content frames are an error */
  async nextMethod(guardMs = GUARD_MS): Promise<{ channel: number; method: AmqpMethod } | null> {
    for (;;) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null) return null;
      if (frame.type === FRAME_HEARTBEAT) continue;
      if (frame.type !== FRAME_METHOD) throw new Error(`raw client: expected a method frame, got frame type ${frame.type} on channel ${frame.channel}`);
      return { channel: frame.channel, method: decodeMethod(frame.payload, 0, frame.payload.length) };
    }
  }

  /** the next method, which must be `id` (on `channel` when given); returns its args */
  async expect<I extends AmqpMethodId>(id: I, channel?: number, guardMs = GUARD_MS): Promise<ArgsOf<I>> {
    const next = await this.nextMethod(guardMs);
    if (next === null) throw new Error(`raw client: socket ended while expecting '${methodName(id)}'`);
    if (next.method.id !== id || (channel !== undefined && next.channel !== channel)) {
      const detail = next.method.id === M_CONNECTION_CLOSE || next.method.id === M_CHANNEL_CLOSE ? ` ${JSON.stringify(next.method.args)}` : '';
      throw new Error(`raw client: expected '${methodName(id)}' on channel ${channel ?? 'any'}, got '${methodName(next.method.id)}' on channel ${next.channel}${detail}`);
    }
    return next.method.args as ArgsOf<I>;
  }

  /** reads a content header and body frames on `channel` (after a deliver / get-ok / return) */
  async readContent(channel: number, guardMs = GUARD_MS): Promise<{ properties: BasicProperties; body: Buffer }> {
    const header = await this.nextFrame(guardMs);
    if (header === null || header.type !== FRAME_HEADER || header.channel !== channel) {
      throw new Error(`raw client: expected a content header on channel ${channel}, got ${header === null ? 'end of socket' : `type ${header.type}`}`);
    }
    const bodySize = Number(header.payload.readBigUInt64BE(4));
    const properties = decodeBasicProperties(header.payload, 12, header.payload.length);
    const parts: Buffer[] = [];
    let received = 0;
    while (received < bodySize) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null || frame.type !== FRAME_BODY || frame.channel !== channel) {
        throw new Error(`raw client: expected a content body on channel ${channel}, got ${frame === null ? 'end of socket' : `type ${frame.type}`}`);
      }
      parts.push(frame.payload);
      received += frame.payload.length;
    }
    return { properties, body: Buffer.concat(parts) };
  }

  /** the next basic.deliver on `channel` with its content */
  async nextDelivery(channel: number, guardMs = GUARD_MS): Promise<Delivery & { deliveryTag: number }> {
    const args = await this.expect(M_BASIC_DELIVER, channel, guardMs);
    const content = await this.readContent(channel, guardMs);
    return { method: { id: M_BASIC_DELIVER, args }, deliveryTag: args.deliveryTag, ...content };
  }

  /** resolves when the socket has closed; rejects after the guard */
  async waitForEnd(guardMs = GUARD_MS): Promise<void> {
    await Promise.race([
      this.endPromise,
      new Promise<never>((_, reject) => {
        const t = setTimeout(() => reject(new Error(`raw client: socket still open after the ${guardMs} ms guard`)), guardMs);
        void this.endPromise.then(() => clearTimeout(t));
      }),
    ]);
  }

  /**
   * Reads until the broker sends connection.close or channel.close (other frames are skipped), answers it
   * with close-ok, and for a connection.close waits for the broker to end the socket.
   */
  async awaitClose(guardMs = GUARD_MS): Promise<CloseReceived> {
    for (;;) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null) throw new Error(`raw client: socket ended without connection.close or channel.close${this.parseError !== null ? ` (${this.parseError})` : ''}`);
      if (frame.type !== FRAME_METHOD) continue;
      const m = decodeMethod(frame.payload, 0, frame.payload.length);
      if (m.id === M_CONNECTION_CLOSE) {
        this.send(0, { id: M_CONNECTION_CLOSE_OK, args: {} });
        await this.waitForEnd(guardMs);
        return { scope: 'connection', channel: frame.channel, ...m.args };
      }
      if (m.id === M_CHANNEL_CLOSE) {
        this.send(frame.channel, { id: M_CHANNEL_CLOSE_OK, args: {} });
        return { scope: 'channel', channel: frame.channel, ...m.args };
      }
    }
  }

  // ---------------------------------------------------------------- handshake steps

  /** send the protocol header and read connection.start */
  async start(): Promise<ConnectionStartArgs> {
    this.write(PROTOCOL_HEADER);
    return this.expect(M_CONNECTION_START, 0);
  }

  /** send connection.start-ok; the caller reads what follows (tune, secure or close) */
  startOk(mechanism: string, response: Buffer, clientProperties: FieldTable = CLIENT_PROPERTIES): void {
    this.send(0, { id: M_CONNECTION_START_OK, args: { clientProperties, mechanism, response, locale: 'en_US' } });
  }

  /** send tune-ok with the choices made against `offered` */
  tuneOk(offered: ConnectionTuneArgs, choice: TuneChoice = {}): void {
    const frameMax = choice.frameMax ?? offered.frameMax;
    const channelMax = choice.channelMax ?? offered.channelMax;
    this.send(0, { id: M_CONNECTION_TUNE_OK, args: { channelMax, frameMax, heartbeat: choice.heartbeat ?? 0 } });
    this.frameMax = frameMax === 0 ? offered.frameMax : frameMax;
  }

  connectionOpen(vhost = '/'): void {
    this.send(0, { id: M_CONNECTION_OPEN, args: { virtualHost: vhost, capabilities: '', insist: false } });
  }

  /** the whole handshake; returns what the broker offered */
  async handshake(options: HandshakeOptions = {}): Promise<{ start: ConnectionStartArgs; tune: ConnectionTuneArgs }> {
    const start = await this.start();
    this.startOk('PLAIN', plainResponse(options.username ?? 'guest', options.password ?? 'guest'));
    const tune = await this.expect(M_CONNECTION_TUNE, 0);
    this.tuneOk(tune, options);
    this.connectionOpen(options.vhost);
    await this.expect(M_CONNECTION_OPEN_OK, 0);
    return { start, tune };
  }

  async openChannel(channel: number): Promise<void> {
    this.send(channel, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } });
    await this.expect(M_CHANNEL_OPEN_OK, channel);
  }

  async declareQueue(channel: number, queue: string, options: { exclusive?: boolean; durable?: boolean; autoDelete?: boolean } = {}): Promise<ArgsOf<typeof M_QUEUE_DECLARE_OK>> {
    this.send(channel, {
      id: M_QUEUE_DECLARE,
      args: {
        ticket: 0,
        queue,
        passive: false,
        durable: options.durable ?? false,
        exclusive: options.exclusive ?? false,
        autoDelete: options.autoDelete ?? false,
        nowait: false,
        arguments: {},
      },
    });
    return this.expect(M_QUEUE_DECLARE_OK, channel);
  }

  async consume(channel: number, queue: string, consumerTag = '', noAck = false): Promise<string> {
    this.send(channel, { id: M_BASIC_CONSUME, args: { ticket: 0, queue, consumerTag, noLocal: false, noAck, exclusive: false, nowait: false, arguments: {} } });
    return (await this.expect(M_BASIC_CONSUME_OK, channel)).consumerTag;
  }

  ack(channel: number, deliveryTag: number, multiple = false): void {
    this.send(channel, { id: M_BASIC_ACK, args: { deliveryTag, multiple } });
  }

  /**
   * Proves the broker still serves this connection: publish `body` to `queue` through the default exchange,
   * consume it back, ack it and cancel the consumer. Returns the body received.
   */
  async publishAndConsume(channel: number, queue: string, body: Buffer): Promise<Buffer> {
    await this.declareQueue(channel, queue);
    this.publish(channel, '', queue, body, { contentType: 'application/octet-stream' });
    const tag = await this.consume(channel, queue);
    const delivery = await this.nextDelivery(channel);
    this.ack(channel, delivery.deliveryTag);
    this.send(channel, { id: M_BASIC_CANCEL, args: { consumerTag: tag, nowait: false } });
    await this.expect(M_BASIC_CANCEL_OK, channel);
    return delivery.body;
  }

  /** a clean channel.close 200; deliveries still in flight on the channel are skipped */
  async closeChannel(channel: number): Promise<void> {
    this.send(channel, { id: M_CHANNEL_CLOSE, args: { replyCode: 200, replyText: 'done', classId: 0, methodId: 0 } });
    for (;;) {
      const frame = await this.nextFrame();
      if (frame === null) throw new Error(`raw client: socket ended while closing channel ${channel}`);
      if (frame.type !== FRAME_METHOD || frame.channel !== channel) continue;
      if (decodeMethod(frame.payload, 0, frame.payload.length).id === M_CHANNEL_CLOSE_OK) return;
    }
  }

  /** a clean client-initiated close: connection.close 200, close-ok, end of socket */
  async close(): Promise<void> {
    if (this.ended) return;
    this.send(0, { id: M_CONNECTION_CLOSE, args: { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 } });
    for (;;) {
      const next = await this.nextMethod();
      if (next === null || next.method.id === M_CONNECTION_CLOSE_OK) break;
    }
    this.socket.end();
    await this.waitForEnd();
  }

  /** drop the TCP connection without any AMQP goodbye */
  destroy(): void {
    this.socket.destroy();
  }

  /** the raw bytes received so far, concatenated */
  receivedBytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

