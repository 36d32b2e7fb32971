/**
 * The project's one AMQP 0-9-1 client, over a raw net.Socket: `postbox bench` (src/cli/bench.ts), the lean
 * load generators (bench/workers/lean-*.ts) and the wire tests (test/wire/, test/fuzz/, test/attack/) all
 * speak through it. It is not a general-purpose client (amqplib is); it does exactly what its caller says,
 * one method at a time, and lets a caller write any bytes it likes. Every method frame is encoded and
 * decoded with the generated codecs (../../protocol/amqp/generated/spec.ts) and the byte stream is split
 * into frames by the broker's own incremental FrameParser; ./frames.ts builds publishes and raw frames.
 *
 * Reading, two ways:
 * - awaiting: frames queue up, and `nextFrame`, `nextMethod`, `expect` (strict: the very next method),
 *   `call` (send, then skip deliveries, confirms and content until the reply), `readContent` and
 *   `awaitClose` take them in order. Setup steps and tests read this way.
 * - a frame handler: once `handler` is set, every frame goes to it synchronously as it is parsed, with no
 *   allocation by the client; a frame it declines (returns false) queues up as above. The load generators
 *   and `postbox bench` take deliveries and confirms this way, millions a run.
 *
 * Writing: `send` encodes one method; `write` sends bytes as they are (a batch of pre-encoded publishes in
 * one write, or malformed input in a test); `dribble` sends every byte on its own.
 *
 * Failures: without `onFailure` (tests) everything the broker does is data: a connection.close is a frame
 * to read, and the end of the socket makes `nextFrame` return null. With `onFailure` (the CLI, the load
 * generators) the client answers a connection.close or channel.close with close-ok and fails, and so does
 * the end of the socket, a socket error or input that does not parse: a pending wait rejects with the
 * error, and when none is pending `onFailure` hears it. Every wait has a guard (`guardMs`), so a broker
 * that stops answering fails the caller instead of hanging it; the guards are never timing assertions.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import type { FieldTable } from '../../core/field-table.js';
import { FrameParser, PROTOCOL_HEADER, type FrameSink } from '../../protocol/amqp/frame-parser.js';
import {
  DEFAULT_PORT,
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
  M_BASIC_NACK,
  M_BASIC_RETURN,
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
  encodeMethodFrame,
  methodName,
  type AmqpMethod,
  type AmqpMethodId,
  type BasicProperties,
  type ConnectionStartArgs,
  type ConnectionTuneArgs,
} from '../../protocol/amqp/generated/spec.js';
import { contentBodySize, encodePublish, plainResponse } from './frames.js';

/** How long any single wait may take by default before the caller is failed as hung, ms (a guard). */
export const GUARD_MS = 5_000;
/** Largest frame this client accepts from the broker, bytes: far above any frame-max the broker offers. */
const CLIENT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Frame-max used to split bodies before connection.tune says otherwise (the spec's frame-min-size). */
const INITIAL_FRAME_MAX = 4096;
/** The broker's first bytes kept for `receivedBytes()`, bytes: enough for any handshake answer, and a
 * load generator that reads gigabytes keeps no more than this. */
const RECEIVED_KEEP_BYTES = 64 * 1024;
/** Offset of the method id in a method payload (the first four bytes, read as u32, by the spec's numbering). */
const METHOD_ID_OFFSET = 0;

/** Methods a broker sends unasked; `call` skips them while it waits for a reply. */
const ASYNCHRONOUS = new Set<number>([M_BASIC_DELIVER, M_BASIC_ACK, M_BASIC_NACK, M_BASIC_RETURN, M_BASIC_CANCEL]);

export interface Frame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
}

/**
 * Takes every frame as it is parsed; returns true when it dealt with the frame, false to queue it for the
 * awaiting readers. `payload` is valid only during the call unless kept (the socket does not reuse chunks).
 */
export type FrameHandler = (type: number, channel: number, payload: Buffer) => boolean;

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
  /** when set, the frame-max chosen is at most this (and replaces an offer of 0, no limit) */
  readonly frameMaxLimit?: number;
  readonly channelMax?: number;
  /** seconds; undefined means 0 (no heartbeats) */
  readonly heartbeat?: number;
}

export interface HandshakeOptions extends TuneChoice {
  readonly vhost?: string;
  readonly username?: string;
  readonly password?: string;
  /** sent in connection.start-ok; CLIENT_PROPERTIES unless given */
  readonly clientProperties?: FieldTable;
}

export interface ClientOptions {
  /** the guard of every wait (connecting included) unless a call gives its own, ms; GUARD_MS unless given */
  readonly guardMs?: number;
  /** see the top of this file: given, the client treats closes and the end of the socket as failures */
  readonly onFailure?: (error: Error) => void;
}

export interface OpenOptions extends ClientOptions, HandshakeOptions {
  readonly host?: string;
}

/** The client capabilities a modern client (amqplib, pika) announces. */
export const CLIENT_PROPERTIES: FieldTable = {
  product: 'postbox client',
  capabilities: {
    publisher_confirms: true,
    'basic.nack': true,
    consumer_cancel_notify: true,
    'connection.blocked': true,
    authentication_failure_close: true,
  },
};

/** Host, port and login of an amqp:// URL (user, password and vhost default to guest, guest and /). */
export function parseAmqpUrl(url: string): HandshakeOptions & { host: string; port: number } {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port === '' ? DEFAULT_PORT : Number(u.port),
    username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    password: u.password === '' ? 'guest' : decodeURIComponent(u.password),
    vhost: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/',
  };
}

export class AmqpClient implements FrameSink {
  /** takes every frame first when set (see the top of this file) */
  handler: FrameHandler | null = null;
  /** set when the broker's bytes could not be parsed as frames (e.g. it answered with a protocol header) */
  parseError: string | null = null;
  /** frame-max used to split bodies this client publishes */
  frameMax = INITIAL_FRAME_MAX;
  /** when true every write is dribbled one byte at a time, with a setImmediate between bytes */
  dribble = false;
  /** what the broker said of itself in connection.start, once `start` has read it */
  serverProperties: FieldTable = {};
  readonly guardMs: number;
  private readonly onFailure: ((error: Error) => void) | null;
  /** the broker's first bytes, in order, up to RECEIVED_KEEP_BYTES */
  private readonly received: Buffer[] = [];
  private receivedLength = 0;
  private readonly parser: FrameParser;
  private readonly frames: Frame[] = [];
  private readonly wakers = new Set<() => void>();
  private ended = false;
  /** set by close() and destroy(): what follows is no failure */
  private closing = false;
  private failure: Error | null = null;
  private socketError: Error | null = null;
  private readonly endPromise: Promise<void>;
  private outgoing: Buffer[] = [];
  private pumping: Promise<void> | null = null;

  private constructor(
    readonly socket: Socket,
    options: ClientOptions,
  ) {
    this.guardMs = options.guardMs ?? GUARD_MS;
    this.onFailure = options.onFailure ?? null;
    this.parser = new FrameParser(this, CLIENT_MAX_FRAME_BYTES);
    // the parser is written for the server side, which reads a protocol header first; a broker sends none,
    // so prime the parser past it and the first bytes parse as frames
    this.parser.push(PROTOCOL_HEADER);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      // ECONNRESET and friends: the 'close' event follows; keep the reason for it
      this.socketError ??= err;
    });
    this.endPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.ended = true;
        if (this.onFailure !== null) {
          this.fail(this.socketError === null ? new Error('the broker closed the connection') : new Error(`socket error: ${this.socketError.message}`));
        }
        this.wake();
        resolve();
      });
    });
  }

  /** Open a TCP connection to the broker; nothing is sent yet. */
  static async connect(port: number, host = '127.0.0.1', options: ClientOptions = {}): Promise<AmqpClient> {
    const socket = connectTcp({ port, host });
    const guardMs = options.guardMs ?? GUARD_MS;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no TCP connection to ${host}:${port} within ${guardMs} ms`)), guardMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return new AmqpClient(socket, options);
  }

  /** Connect and complete the handshake (PLAIN, guest/guest unless told, tune-ok, open the vhost, '/' unless told). */
  static async open(port: number, options: OpenOptions = {}): Promise<AmqpClient> {
    const client = await AmqpClient.connect(port, options.host, options);
    try {
      await client.handshake(options);
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  /** `open` with the host, port, login and vhost of an amqp:// URL. */
  static openUrl(url: string, options: ClientOptions & TuneChoice & { clientProperties?: FieldTable } = {}): Promise<AmqpClient> {
    const target = parseAmqpUrl(url);
    return AmqpClient.open(target.port, { ...options, ...target });
  }

  // ---------------------------------------------------------------- FrameSink

  onProtocolHeader(): void {
    // primed in the constructor; never called again
  }

  onFrame(type: number, channel: number, payload: Buffer): void {
    // kept this small so that V8 inlines it, and the handler into it, in the parser's loop (the hot path)
    const handler = this.handler;
    if (handler === null || !handler(type, channel, payload)) this.queueFrame(type, channel, payload);
  }

  private queueFrame(type: number, channel: number, payload: Buffer): void {
    if (this.onFailure !== null && type === FRAME_METHOD && this.answeredClose(channel, payload)) return;
    this.frames.push({ type, channel, payload });
    this.wake();
  }

  onFrameError(_replyCode: number, text: string): void {
    this.parseError = text;
    if (this.onFailure !== null) this.fail(new Error(`the broker sent bytes that are no AMQP frames: ${text}`));
    this.wake();
  }

  private onData(chunk: Buffer): void {
    if (this.receivedLength < RECEIVED_KEEP_BYTES) {
      this.received.push(chunk);
      this.receivedLength += chunk.length;
    }
    this.parser.push(chunk);
  }

  /** With onFailure: a connection.close or channel.close is answered with close-ok and fails the client. */
  private answeredClose(channel: number, payload: Buffer): boolean {
    const id = payload.readUInt32BE(METHOD_ID_OFFSET);
    if (id !== M_CONNECTION_CLOSE && id !== M_CHANNEL_CLOSE) return false;
    const m = decodeMethod(payload, 0, payload.length);
    if (m.id === M_CONNECTION_CLOSE) {
      this.send(0, { id: M_CONNECTION_CLOSE_OK, args: {} });
      this.fail(new Error(`the broker closed the connection: ${m.args.replyCode} ${m.args.replyText}`));
    } else if (m.id === M_CHANNEL_CLOSE) {
      this.send(channel, { id: M_CHANNEL_CLOSE_OK, args: {} });
      const cause = m.args.classId === 0 ? '' : ` (in ${methodName((m.args.classId << 16) | m.args.methodId)})`;
      this.fail(new Error(`the broker closed channel ${channel}: ${m.args.replyCode} ${m.args.replyText}${cause}`));
    }
    return true;
  }

  private fail(error: Error): void {
    if (this.failure !== null || this.closing) return;
    this.failure = error;
    const someoneWaits = this.wakers.size > 0;
    this.wake();
    if (!someoneWaits) this.onFailure?.(error);
  }

  // ---------------------------------------------------------------- sending

  /** true once the socket has closed (either side) */
  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Write bytes as they are (dribbled when `dribble` is set). A load generator that wants the socket's
   * back-pressure writes its batches to `socket` itself.
   */
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

  /** Send a method and wait for its reply `replyId` on the same channel, skipping what arrives unasked meanwhile. */
  async call<I extends AmqpMethodId>(channel: number, m: AmqpMethod, replyId: I, guardMs = this.guardMs): Promise<ArgsOf<I>> {
    this.send(channel, m);
    for (;;) {
      const frame = await this.takeFrame(guardMs, `'${methodName(replyId)}'`);
      if (frame === null) throw new Error(`amqp client: the socket ended while waiting for '${methodName(replyId)}'`);
      // content of a delivery or a return, and heartbeats, are no reply
      if (frame.type !== FRAME_METHOD) continue;
      const reply = decodeMethod(frame.payload, 0, frame.payload.length);
      if (reply.id === replyId && frame.channel === channel) return reply.args as ArgsOf<I>;
      if (!ASYNCHRONOUS.has(reply.id)) throw unexpected(replyId, channel, frame.channel, reply);
    }
  }

  /** the bytes of basic.publish + content header + body frames split at this client's frame-max */
  publishBytes(channel: number, exchange: string, routingKey: string, body: Buffer, properties: BasicProperties = {}): Buffer {
    return encodePublish(channel, exchange, routingKey, body, properties, this.frameMax).bytes;
  }

  publish(channel: number, exchange: string, routingKey: string, body: Buffer, properties: BasicProperties = {}): void {
    this.write(this.publishBytes(channel, exchange, routingKey, body, properties));
  }

  // ---------------------------------------------------------------- receiving

  private wake(): void {
    if (this.wakers.size === 0) return;
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
        reject(new Error(`amqp client: guard of ${guardMs} ms passed waiting for ${what}`));
      }, guardMs);
      this.wakers.add(wake);
    });
  }

  private async takeFrame(guardMs: number, what: string): Promise<Frame | null> {
    while (this.frames.length === 0) {
      if (this.failure !== null) throw this.failure;
      if (this.ended || this.parseError !== null) return null;
      await this.activity(guardMs, what);
    }
    return this.frames.shift()!;
  }

  /**
   * The next frame from the broker, or null once the socket has ended (or sent bytes that are no frames) and
   * every frame was read; with onFailure it rejects with the failure instead.
   */
  nextFrame(guardMs = this.guardMs): Promise<Frame | null> {
    return this.takeFrame(guardMs, 'a frame');
  }

  /** the next method (heartbeats skipped), or null at the end of the socket; content frames are an error */
  async nextMethod(guardMs = this.guardMs): Promise<{ channel: number; method: AmqpMethod } | null> {
    for (;;) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null) return null;
      if (frame.type === FRAME_HEARTBEAT) continue;
      if (frame.type !== FRAME_METHOD) throw new Error(`amqp client: expected a method frame, got frame type ${frame.type} on channel ${frame.channel}`);
      return { channel: frame.channel, method: decodeMethod(frame.payload, 0, frame.payload.length) };
    }
  }

  /** the next method, which must be `id` (on `channel` when given); returns its args */
  async expect<I extends AmqpMethodId>(id: I, channel?: number, guardMs = this.guardMs): Promise<ArgsOf<I>> {
    const next = await this.nextMethod(guardMs);
    if (next === null) throw new Error(`amqp client: socket ended while expecting '${methodName(id)}'`);
    if (next.method.id !== id || (channel !== undefined && next.channel !== channel)) throw unexpected(id, channel, next.channel, next.method);
    return next.method.args as ArgsOf<I>;
  }

  /** reads a content header and body frames on `channel` (after a deliver / get-ok / return) */
  async readContent(channel: number, guardMs = this.guardMs): Promise<{ properties: BasicProperties; body: Buffer }> {
    const header = await this.nextFrame(guardMs);
    if (header === null || header.type !== FRAME_HEADER || header.channel !== channel) {
      throw new Error(`amqp client: expected a content header on channel ${channel}, got ${header === null ? 'end of socket' : `type ${header.type}`}`);
    }
    const bodySize = contentBodySize(header.payload);
    const properties = decodeBasicProperties(header.payload, 12, header.payload.length);
    const parts: Buffer[] = [];
    let received = 0;
    while (received < bodySize) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null || frame.type !== FRAME_BODY || frame.channel !== channel) {
        throw new Error(`amqp client: expected a content body on channel ${channel}, got ${frame === null ? 'end of socket' : `type ${frame.type}`}`);
      }
      parts.push(frame.payload);
      received += frame.payload.length;
    }
    return { properties, body: Buffer.concat(parts) };
  }

  /** the next basic.deliver on `channel` with its content */
  async nextDelivery(channel: number, guardMs = this.guardMs): Promise<Delivery & { deliveryTag: number }> {
    const args = await this.expect(M_BASIC_DELIVER, channel, guardMs);
    const content = await this.readContent(channel, guardMs);
    return { method: { id: M_BASIC_DELIVER, args }, deliveryTag: args.deliveryTag, ...content };
  }

  /** resolves when the socket has closed; rejects after the guard */
  async waitForEnd(guardMs = this.guardMs): Promise<void> {
    await Promise.race([
      this.endPromise,
      new Promise<never>((_, reject) => {
        const t = setTimeout(() => reject(new Error(`amqp client: socket still open after the ${guardMs} ms guard`)), guardMs);
        void this.endPromise.then(() => clearTimeout(t));
      }),
    ]);
  }

  /**
   * Reads until the broker sends connection.close or channel.close (other frames are skipped), answers it
   * with close-ok, and for a connection.close waits for the broker to end the socket.
   */
  async awaitClose(guardMs = this.guardMs): Promise<CloseReceived> {
    for (;;) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null)
        throw new Error(`amqp client: socket ended without connection.close or channel.close${this.parseError !== null ? ` (${this.parseError})` : ''}`);
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
    const start = await this.expect(M_CONNECTION_START, 0);
    this.serverProperties = start.serverProperties;
    return start;
  }

  /** send connection.start-ok; the caller reads what follows (tune, secure or close) */
  startOk(mechanism: string, response: Buffer, clientProperties: FieldTable = CLIENT_PROPERTIES): void {
    this.send(0, { id: M_CONNECTION_START_OK, args: { clientProperties, mechanism, response, locale: 'en_US' } });
  }

  /** send tune-ok with the choices made against `offered` */
  tuneOk(offered: ConnectionTuneArgs, choice: TuneChoice = {}): void {
    let frameMax = choice.frameMax ?? offered.frameMax;
    const limit = choice.frameMaxLimit;
    if (limit !== undefined && (frameMax === 0 || frameMax > limit)) frameMax = limit;
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
    this.startOk('PLAIN', plainResponse(options.username ?? 'guest', options.password ?? 'guest'), options.clientProperties);
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

  /** queue.declare (a server-named queue for ''); strict like `expect`: the reply must be the next method */
  async declareQueue(
    channel: number,
    queue: string,
    options: { exclusive?: boolean; durable?: boolean; autoDelete?: boolean } = {},
  ): Promise<ArgsOf<typeof M_QUEUE_DECLARE_OK>> {
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

  /** basic.consume; resolves with the consumer tag. Set `handler` first when deliveries should go to it. */
  async consume(channel: number, queue: string, consumerTag = '', noAck = false): Promise<string> {
    const method: AmqpMethod = {
      id: M_BASIC_CONSUME,
      args: { ticket: 0, queue, consumerTag, noLocal: false, noAck, exclusive: false, nowait: false, arguments: {} },
    };
    // with a handler taking deliveries, confirms and content, the reply may come after some of them
    if (this.handler !== null) return (await this.call(channel, method, M_BASIC_CONSUME_OK)).consumerTag;
    this.send(channel, method);
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
      if (frame === null) throw new Error(`amqp client: socket ended while closing channel ${channel}`);
      if (frame.type !== FRAME_METHOD || frame.channel !== channel) continue;
      if (frame.payload.readUInt32BE(METHOD_ID_OFFSET) === M_CHANNEL_CLOSE_OK) return;
    }
  }

  /**
   * A clean client-initiated close: connection.close 200, close-ok (frames before it are skipped), end of
   * socket. The handler is removed first; after a failure the socket is just dropped.
   */
  async close(guardMs = this.guardMs): Promise<void> {
    this.handler = null;
    if (this.ended) return;
    if (this.failure !== null) {
      this.destroy();
      return;
    }
    this.closing = true;
    this.send(0, { id: M_CONNECTION_CLOSE, args: { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 } });
    for (;;) {
      const frame = await this.nextFrame(guardMs);
      if (frame === null) break;
      if (frame.type === FRAME_METHOD && frame.payload.readUInt32BE(METHOD_ID_OFFSET) === M_CONNECTION_CLOSE_OK) break;
    }
    this.socket.end();
    await this.waitForEnd(guardMs);
  }

  /** drop the TCP connection without any AMQP goodbye */
  destroy(): void {
    this.closing = true;
    this.handler = null;
    this.socket.destroy();
  }

  /** the bytes the broker sent first (up to 64 KiB), concatenated */
  receivedBytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

function unexpected(id: number, channel: number | undefined, gotChannel: number, got: AmqpMethod): Error {
  const detail = got.id === M_CONNECTION_CLOSE || got.id === M_CHANNEL_CLOSE ? ` ${JSON.stringify(got.args)}` : '';
  return new Error(`amqp client: expected '${methodName(id)}' on channel ${channel ?? 'any'}, got '${methodName(got.id)}' on channel ${gotChannel}${detail}`);
}
