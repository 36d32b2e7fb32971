/**
 * One Kafka connection: size-prefixed frames in, one response per request out, in request order.
 *
 * Frame: | int32 size | request header + body (size bytes) |
 *
 * Requests are handled as they arrive (a Produce is appended at once, so many share one fsync), but
 * answers leave strictly in request order: each request takes a slot in `slots`, a handler's promise
 * fills its slot when it settles, and the filled slots at the head are written. A request without an
 * answer (Produce with acks=0) takes no slot's bytes but keeps its place. At most MAX_IN_FLIGHT requests
 * wait per connection; past that the socket stops being read until answers leave.
 */
import type { Socket } from 'node:net';
import type { ChannelDetails, ClientConnection, ConnectionDetails } from '../../core/clients.js';
import type { Logger } from '../../log/logger.js';
import { KafkaCodecError } from './codec.js';
import { decodeRequest, encodeResponse, encodeResponsePieces, FRAME_SIZE_BYTES, UnsupportedKafkaRequestError, type DecodedRequest } from './envelope.js';
import { API_VERSIONS_API, PRODUCE_API } from './generated/messages.js';
import { KafkaErrorCode } from './errors.js';
import type { KafkaContext, KafkaSession } from './handlers/context.js';
import { handlerFor, apiVersionsBody } from './handlers/index.js';
import { FETCH_BUFFERS } from './handlers/fetch.js';

export { ADVERTISED_APIS } from './handlers/index.js';
export type { KafkaBrokerIdentity } from './handlers/context.js';

/** Largest request accepted, bytes (Kafka's socket.request.max.bytes default, 100 MiB). */
export const MAX_REQUEST_BYTES = 100 * 1024 * 1024;
/** Requests a connection may have waiting for their answers before the broker stops reading it. */
export const MAX_IN_FLIGHT = 128;

/**
 * Produce frames that span socket chunks are assembled here instead of in a fresh buffer: the Produce
 * handler appends (copies or writes) every batch before handle() returns and keeps no reference to the
 * request's bytes, and a frame is assembled only once all its bytes are here and then handled at once, so
 * one buffer serves every connection. It grows to the largest such frame up to PRODUCE_SCRATCH_MAX_BYTES;
 * larger frames get their own buffer. This spares a 1 MB allocation per request and the garbage
 * collections those trigger (about a sixth of the broker's CPU when producing 1 KiB records).
 */
const PRODUCE_SCRATCH_MAX_BYTES = 8 * 1024 * 1024;
let produceScratch: Buffer = Buffer.alloc(0);

/** The api key of a request frame (size prefix included) whose first bytes are `head`. */
function frameApiKey(head: Buffer): number {
  return head.length >= FRAME_SIZE_BYTES + 2 ? head.readInt16BE(FRAME_SIZE_BYTES) : -1;
}

interface Slot {
  done: boolean;
  /** the response frame as pieces to write in order (see encodeResponsePieces), or null: no answer */
  frame: Buffer[] | null;
}

export class KafkaConnection implements KafkaSession, ClientConnection {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed = false;
  private readonly slots: Slot[] = [];
  private paused = false;
  /** a Produce arrived while a resource alarm is on: reading waits for publishUnblocked() */
  private heldByAlarm = false;
  /** "peer host:port -> local host:port", as AMQP connections are named in the management API */
  readonly name: string;
  readonly clientHost: string;
  clientId = '';
  private readonly connectedAt = Date.now();

  constructor(
    private readonly socket: Socket,
    private readonly context: KafkaContext,
    private readonly logger: Logger,
  ) {
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    this.clientHost = `/${socket.remoteAddress ?? ''}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.logger.debug(() => `kafka connection ${this.name}: ${err.message}`));
    socket.on('close', () => (this.closed = true));
  }

  private onData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drainFrames();
  }

  /**
   * Cuts whole frames out of the received chunks. A frame's bytes are copied at most once, when they span
   * chunks, and only once all of them are here (a 1 MB produce request arrives in dozens of chunks).
   */
  private drainFrames(): void {
    while (!this.closed && !this.paused && !this.heldByAlarm && this.pendingBytes >= FRAME_SIZE_BYTES) {
      const size = this.peekSize();
      if (size < 0 || size > MAX_REQUEST_BYTES) {
        this.fail(`request size ${size} outside 0..${MAX_REQUEST_BYTES}`);
        return;
      }
      if (this.pendingBytes >= FRAME_SIZE_BYTES + 2 && this.context.publishBlocked() && this.peekApiKey() === PRODUCE_API.apiKey) {
        this.heldByAlarm = true;
        this.socket.pause();
        return;
      }
      if (this.pendingBytes < FRAME_SIZE_BYTES + size) return;
      const frame = this.take(FRAME_SIZE_BYTES + size).subarray(FRAME_SIZE_BYTES);
      this.onFrame(frame);
      if (this.slots.length >= MAX_IN_FLIGHT && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
    }
  }

  /** The int32 size prefix at the head of the pending bytes (which may span chunks). */
  private peekSize(): number {
    return this.peekHead(FRAME_SIZE_BYTES).readInt32BE(0);
  }

  /** The api key (int16 after the size prefix) of the frame at the head of the pending bytes. */
  private peekApiKey(): number {
    return this.peekHead(FRAME_SIZE_BYTES + 2).readInt16BE(FRAME_SIZE_BYTES);
  }

  /** The first `n` pending bytes (at least `n` are pending): a view of the first chunk, or a copy. */
  private peekHead(n: number): Buffer {
    const first = this.pending[0]!;
    if (first.length >= n) return first;
    const head = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.pending) {
      filled += chunk.copy(head, filled, 0, Math.min(chunk.length, n - filled));
      if (filled === n) break;
    }
    return head;
  }

  /** the resource alarm cleared: read on (a held Produce is handled now) */
  publishUnblocked(): void {
    if (!this.heldByAlarm || this.closed) return;
    this.heldByAlarm = false;
    if (!this.paused) this.socket.resume();
    this.drainFrames();
  }

  /**
   * Removes the first `length` pending bytes (one whole frame) and returns them: a view when they lie in
   * one chunk, else a copy (into the shared produce scratch for a Produce frame).
   */
  private take(length: number): Buffer {
    this.pendingBytes -= length;
    const first = this.pending[0]!;
    if (first.length >= length) {
      if (first.length === length) this.pending.shift();
      else this.pending[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    let out: Buffer;
    if (frameApiKey(first) === PRODUCE_API.apiKey && length <= PRODUCE_SCRATCH_MAX_BYTES) {
      if (produceScratch.length < length) produceScratch = Buffer.allocUnsafe(Math.min(PRODUCE_SCRATCH_MAX_BYTES, Math.max(length, 2 * produceScratch.length)));
      out = produceScratch.subarray(0, length);
    } else {
      out = Buffer.allocUnsafe(length);
    }
    let filled = 0;
    while (filled < length) {
      const chunk = this.pending[0]!;
      const n = Math.min(chunk.length, length - filled);
      chunk.copy(out, filled, 0, n);
      filled += n;
      if (n === chunk.length) this.pending.shift();
      else this.pending[0] = chunk.subarray(n);
    }
    return out;
  }

  private onFrame(frame: Buffer): void {
    let request: DecodedRequest;
    try {
      request = decodeRequest(frame);
    } catch (err) {
      if (err instanceof UnsupportedKafkaRequestError && err.apiKey === API_VERSIONS_API.apiKey) {
        // the client asked for an ApiVersions version we do not know: answer with v0 and our versions
        this.answerNow(encodeResponse(API_VERSIONS_API.apiKey, 0, err.correlationId, apiVersionsBody(KafkaErrorCode.UNSUPPORTED_VERSION)));
        return;
      }
      if (err instanceof UnsupportedKafkaRequestError || err instanceof KafkaCodecError) return this.fail(err.message);
      throw err;
    }
    this.clientId = request.header.clientId ?? '';
    const handler = handlerFor(request.apiKey);
    if (handler === undefined || request.apiVersion < handler.minVersion || request.apiVersion > handler.maxVersion) {
      return this.fail(`API ${request.apiKey} v${request.apiVersion} is not served`);
    }
    const { apiKey, apiVersion } = request;
    const correlationId = request.header.correlationId;
    const slot: Slot = { done: false, frame: null };
    this.slots.push(slot);
    let result;
    try {
      result = (handler.handle as (c: KafkaContext, r: unknown, v: number, s: KafkaSession) => unknown)(this.context, request.body, apiVersion, this);
    } catch (err) {
      return this.handlerFailed(apiKey, apiVersion, err);
    }
    if (result instanceof Promise) {
      result.then(
        (body) => this.fill(slot, body === null ? null : encodeResponsePieces(apiKey, apiVersion, correlationId, body as never)),
        (err: unknown) => this.handlerFailed(apiKey, apiVersion, err),
      );
    } else {
      this.fill(slot, result === null ? null : encodeResponsePieces(apiKey, apiVersion, correlationId, result as never));
    }
  }

  private answerNow(frame: Buffer): void {
    const slot: Slot = { done: false, frame: null };
    this.slots.push(slot);
    this.fill(slot, [frame]);
  }

  private fill(slot: Slot, frame: Buffer[] | null): void {
    slot.done = true;
    slot.frame = frame;
    let written = 0;
    const slots = this.slots;
    if (slots[0]!.done && !this.closed) {
      // every ready frame leaves in one writev
      this.socket.cork();
      while (written < slots.length && slots[written]!.done) {
        const pieces = slots[written]!.frame;
        if (pieces !== null) this.writePieces(pieces);
        written++;
      }
      this.socket.uncork();
    } else {
      while (written < slots.length && slots[written]!.done) written++;
    }
    if (written > 0) slots.splice(0, written);
    if (this.paused && this.slots.length < MAX_IN_FLIGHT / 2 && !this.closed) {
      this.paused = false;
      if (!this.heldByAlarm) this.socket.resume();
      this.drainFrames();
    }
  }

  /**
   * Writes one response frame's pieces. Pieces in pooled fetch buffers go back to the pool once the socket
   * has handed the frame to the kernel (the write callback); if the socket dies first they are garbage.
   */
  private writePieces(pieces: Buffer[]): void {
    const last = pieces.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(pieces[i]!);
    let pooled = false;
    for (let i = 0; i <= last && !pooled; i++) pooled = FETCH_BUFFERS.isLent(pieces[i]!);
    if (!pooled) {
      this.socket.write(pieces[last]!);
      return;
    }
    this.socket.write(pieces[last]!, (err) => {
      if (err !== undefined && err !== null) return; // the socket failed: the bytes may still be queued in it
      for (let i = 0; i <= last; i++) FETCH_BUFFERS.release(pieces[i]!);
    });
  }

  /** a handler threw: a bug or an unexpected state, never the client's bytes (those fail in decode) */
  private handlerFailed(apiKey: number, apiVersion: number, err: unknown): void {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.logger.error(`kafka connection ${this.name}: API ${apiKey} v${apiVersion} failed: ${message}`);
    this.fail('internal error while handling a request');
  }

  /** malformed or unserved input: log one line and close this connection (Kafka has no error frame for it) */
  private fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.logger.warn(`kafka connection ${this.name}: ${reason}; closing it`);
    this.socket.destroy();
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  // ---- ClientConnection: how the management API lists and closes it

  details(): ConnectionDetails {
    const s = this.socket;
    return {
      name: this.name,
      protocol: 'Kafka',
      // no SASL: a Kafka client is not authenticated and opens no vhost
      user: '',
      vhost: '',
      host: s.localAddress ?? '',
      port: s.localPort ?? 0,
      peerHost: s.remoteAddress ?? '',
      peerPort: s.remotePort ?? 0,
      connectedAt: this.connectedAt,
      state: this.closed ? 'closed' : this.paused || this.heldByAlarm ? 'blocked' : 'running',
      channels: 0,
      channelMax: 0,
      frameMax: MAX_REQUEST_BYTES,
      heartbeatSeconds: 0,
      authMechanism: '',
      clientProperties: { client_id: this.clientId },
      recvBytes: s.bytesRead,
      sendBytes: s.bytesWritten,
    };
  }

  channelDetails(): ChannelDetails[] {
    return [];
  }

  /** Kafka has no close frame: the socket is closed, and the client reconnects if it wants to */
  closeByOperator(reason: string): void {
    if (this.closed) return;
    this.logger.info(`kafka connection ${this.name} (client id '${this.clientId}') closed by an operator: ${reason}`);
    this.close();
  }
}
