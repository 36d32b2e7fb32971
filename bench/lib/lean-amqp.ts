/**
 * A deliberately tiny AMQP 0-9-1 client for load generation: raw net.Socket, the project's frame parser and
 * generated codecs for the handshake and setup, then pre-encoded frames on the hot path. It opens one
 * connection with one channel (1), no heartbeats, and treats any connection.close or channel.close from the
 * broker as fatal. It is not a general client: it exists so that the client library is not the bottleneck.
 *
 * Pre-encoded publish (basic.publish on channel 1, default exchange), the three frames back to back:
 *
 *   method: | 01 | 00 01 | u32 size | 00 3C 00 28 | 00 00 (ticket) | 00 (exchange "") | u8 n | queue | 00 | CE |
 *   header: | 02 | 00 01 | u32 size | 00 3C | 00 00 | u64 body size | 10 00 (flags: delivery-mode) | u8 mode | CE |
 *   body:   | 03 | 00 01 | u32 size | body bytes | CE |
 */
import { connect, type Socket } from 'node:net';
import { FrameParser, PROTOCOL_HEADER, type FrameSink } from '../../src/protocol/amqp/frame-parser.js';
import {
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_METHOD,
  M_BASIC_ACK,
  M_BASIC_CANCEL,
  M_BASIC_DELIVER,
  M_BASIC_NACK,
  M_BASIC_PUBLISH,
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
  decodeMethod,
  encodeMethodFrame,
  methodName,
  type AmqpMethod,
} from '../../src/protocol/amqp/generated/spec.js';

/** frame-max we ask for; the broker may offer less (then we take its value) */
const CLIENT_FRAME_MAX = 131072;
/** how long a setup step (handshake, declare, consume) may take, ms */
const SETUP_STEP_TIMEOUT_MS = 15_000;

/** Methods a broker may send at any time; they never answer a setup call, and we ignore them then. */
const ASYNCHRONOUS = new Set<number>([M_BASIC_CANCEL, M_BASIC_DELIVER, M_BASIC_ACK, M_BASIC_NACK, M_BASIC_RETURN]);

/** Hot-path frame handler installed by a worker once setup is done. */
export type FrameHandler = (type: number, channel: number, payload: Buffer) => void;

export class LeanConnection implements FrameSink {
  readonly socket: Socket;
  private readonly parser: FrameParser;
  private waiter: { id: number; resolve: (m: AmqpMethod) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  /** set by the worker after setup; frames it does not understand it passes to `handleMethod` */
  hot: FrameHandler | undefined;
  onFatal: (err: Error) => void = (err) => {
    throw err;
  };
  serverProduct = 'unknown';
  frameMax = CLIENT_FRAME_MAX;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.parser = new FrameParser(this, CLIENT_FRAME_MAX);
    // the parser is written for the server side, which reads a protocol header first; a server sends frames
    // straight away, so feed it the header it expects
    this.parser.push(PROTOCOL_HEADER);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
    socket.on('error', (err) => this.fail(new Error(`socket error: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('connection closed by the broker')));
  }

  /** Connects, runs the handshake (PLAIN, vhost from the URL) and opens channel 1. */
  static async open(url: string): Promise<LeanConnection> {
    const u = new URL(url);
    const socket = connect({ host: u.hostname, port: Number(u.port || '5672') });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new LeanConnection(socket);
    const user = decodeURIComponent(u.username || 'guest');
    const password = decodeURIComponent(u.password || 'guest');
    const vhost = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/';
    const started = c.expect(M_CONNECTION_START);
    socket.write(PROTOCOL_HEADER);
    const start = await started;
    if (start.id === M_CONNECTION_START) {
      const props = start.args.serverProperties;
      c.serverProduct = `${String(props['product'] ?? '?')} ${String(props['version'] ?? '?')}`;
    }
    const tuned = c.expect(M_CONNECTION_TUNE);
    c.send(0, {
      id: M_CONNECTION_START_OK,
      args: {
        clientProperties: { product: 'postbox-bench-lean' },
        mechanism: 'PLAIN',
        response: Buffer.from(`\0${user}\0${password}`),
        locale: 'en_US',
      },
    });
    const tune = await tuned;
    if (tune.id === M_CONNECTION_TUNE && tune.args.frameMax > 0) c.frameMax = Math.min(tune.args.frameMax, CLIENT_FRAME_MAX);
    c.parser.setMaxFrameSize(c.frameMax);
    c.send(0, { id: M_CONNECTION_TUNE_OK, args: { channelMax: 1, frameMax: c.frameMax, heartbeat: 0 } });
    await c.call(0, { id: M_CONNECTION_OPEN, args: { virtualHost: vhost, capabilities: '', insist: false } }, M_CONNECTION_OPEN_OK);
    await c.call(1, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } }, M_CHANNEL_OPEN_OK);
    return c;
  }

  send(channel: number, m: AmqpMethod): void {
    this.socket.write(encodeMethodFrame(channel, m));
  }

  /** Sends a synchronous method and waits for its reply (by method id). */
  call(channel: number, m: AmqpMethod, replyId: number): Promise<AmqpMethod> {
    const reply = this.expect(replyId);
    this.send(channel, m);
    return reply;
  }

  private expect(id: number): Promise<AmqpMethod> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error(`lean client: already waiting for ${methodName(this.waiter.id)}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`lean client: no ${methodName(id)} within ${SETUP_STEP_TIMEOUT_MS / 1000} s`));
      }, SETUP_STEP_TIMEOUT_MS);
      this.waiter = {
        id,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  onProtocolHeader(ok: boolean, header: Buffer): void {
    if (!ok) this.fail(new Error(`internal: frame parser refused ${header.toString('hex')}`));
  }

  onFrame(type: number, channel: number, payload: Buffer): void {
    if (this.hot !== undefined) {
      this.hot(type, channel, payload);
      return;
    }
    if (type === FRAME_METHOD) this.handleMethod(channel, payload);
  }

  onFrameError(replyCode: number, text: string): void {
    this.fail(new Error(`frame error from broker stream: ${replyCode} ${text}`));
  }

  /** Decodes a method frame that is not on the hot path: a setup reply, or a close (fatal). */
  handleMethod(channel: number, payload: Buffer): void {
    let m: AmqpMethod;
    try {
      m = decodeMethod(payload, 0, payload.length);
    } catch (err) {
      this.fail(new Error(`undecodable method from broker: ${(err as Error).message}`));
      return;
    }
    if (m.id === M_CONNECTION_CLOSE) {
      this.send(0, { id: M_CONNECTION_CLOSE_OK, args: {} });
      this.fail(new Error(`broker closed the connection: ${m.args.replyCode} ${m.args.replyText}`));
      return;
    }
    if (m.id === M_CHANNEL_CLOSE) {
      this.send(channel, { id: M_CHANNEL_CLOSE_OK, args: {} });
      this.fail(new Error(`broker closed channel ${channel}: ${m.args.replyCode} ${m.args.replyText} (in ${methodName((m.args.classId << 16) | m.args.methodId)})`));
      return;
    }
    const w = this.waiter;
    if (w && w.id === m.id) {
      this.waiter = undefined;
      w.resolve(m);
    } else if (!ASYNCHRONOUS.has(m.id)) {
      if (w) {
        this.waiter = undefined;
        w.reject(new Error(`lean client: expected ${methodName(w.id)}, got ${methodName(m.id)}`));
      }
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.reject(err);
    else this.onFatal(err);
  }

  /** Sends connection.close and waits briefly for close-ok, then destroys the socket. */
  async close(): Promise<void> {
    if (this.failure) {
      this.socket.destroy();
      return;
    }
    const done = new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      setTimeout(resolve, 2000).unref();
    });
    this.failure = new Error('closing');
    this.hot = undefined;
    this.socket.write(encodeMethodFrame(0, { id: M_CONNECTION_CLOSE, args: { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 } }));
    this.socket.end();
    await done;
    this.socket.destroy();
  }
}

/**
 * One basic.publish with its content header and a single body frame, as bytes (see the layout above).
 * Returns the bytes and the offset of the body inside them, so callers can stamp each copy.
 */
export function encodePublish(queue: string, body: Buffer, deliveryMode: number): { bytes: Buffer; bodyOffset: number } {
  const queueBytes = Buffer.from(queue);
  const methodPayload = 4 + 2 + 1 + 1 + queueBytes.length + 1;
  const headerPayload = 2 + 2 + 8 + 2 + 1;
  const size = 8 + methodPayload + 8 + headerPayload + 8 + body.length;
  const b = Buffer.alloc(size);
  let o = 0;
  b[o] = FRAME_METHOD;
  b.writeUInt16BE(1, o + 1);
  b.writeUInt32BE(methodPayload, o + 3);
  o += 7;
  b.writeUInt32BE(M_BASIC_PUBLISH, o);
  o += 4;
  b.writeUInt16BE(0, o); // ticket
  o += 2;
  b[o++] = 0; // exchange "" (the default exchange)
  b[o++] = queueBytes.length;
  queueBytes.copy(b, o);
  o += queueBytes.length;
  b[o++] = 0; // mandatory, immediate
  b[o++] = FRAME_END;
  b[o] = FRAME_HEADER;
  b.writeUInt16BE(1, o + 1);
  b.writeUInt32BE(headerPayload, o + 3);
  o += 7;
  b.writeUInt16BE(60, o); // class basic
  b.writeUInt16BE(0, o + 2); // weight
  b.writeUInt32BE(0, o + 4); // body size, high word
  b.writeUInt32BE(body.length, o + 8);
  b.writeUInt16BE(0x1000, o + 12); // property flags: delivery-mode only
  b[o + 14] = deliveryMode;
  o += headerPayload;
  b[o++] = FRAME_END;
  b[o] = FRAME_BODY;
  b.writeUInt16BE(1, o + 1);
  b.writeUInt32BE(body.length, o + 3);
  o += 7;
  const bodyOffset = o;
  body.copy(b, o);
  o += body.length;
  b[o++] = FRAME_END;
  if (o !== size) throw new Error(`internal: publish encoded ${o} bytes, sized ${size}`);
  return { bytes: b, bodyOffset };
}

/** basic.ack on channel 1 as a 21-byte frame; `setAckTag` patches the tag in place. */
export function encodeAck(multiple: boolean): Buffer {
  const b = Buffer.alloc(8 + 13);
  b[0] = FRAME_METHOD;
  b.writeUInt16BE(1, 1);
  b.writeUInt32BE(13, 3);
  b.writeUInt32BE(0x003c0050, 7); // basic.ack
  b.writeUInt32BE(0, 11);
  b.writeUInt32BE(0, 15);
  b[19] = multiple ? 1 : 0;
  b[20] = FRAME_END;
  return b;
}

export function setAckTag(frame: Buffer, tag: number): void {
  frame.writeUInt32BE(Math.floor(tag / 0x100000000), 11);
  frame.writeUInt32BE(tag >>> 0, 15);
}

/** Reads the delivery tag from a basic.deliver payload (after its consumer-tag shortstr). */
export function deliverTag(payload: Buffer): number {
  const o = 4 + 1 + payload[4]!;
  return payload.readUInt32BE(o) * 0x100000000 + payload.readUInt32BE(o + 4);
}

/** Reads (tag, multiple) from a basic.ack or basic.nack payload; the multiple bit is bit 0 of the next octet. */
export function ackFields(payload: Buffer): { tag: number; multiple: boolean } {
  return { tag: payload.readUInt32BE(4) * 0x100000000 + payload.readUInt32BE(8), multiple: (payload[12]! & 1) !== 0 };
}
