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
 *
 * Bounds on what one client can make the broker hold (Kafka has the same three):
 *   - a frame larger than the context's requestMaxBytes (socket.request.max.bytes) closes the connection;
 *   - a frame larger than the receive buffer is received only once its size is reserved from the budget
 *     shared by every connection (queuedRequests, queued.max.request.bytes); until then the socket is not
 *     read, and the reservation is given back once the request is handled;
 *   - while more than MAX_UNSENT_BYTES of answers wait to be sent (in the socket, or still in segment
 *     files: a client that does not read them), the socket is not read either, until they drain.
 *
 * A Fetch answer's records are not in memory: its frame holds, per partition, a pinned slice of a
 * segment file (codec.ts ByteSource, ../../storage/fd-cache.ts FileSlice). When the answer's turn comes,
 * its bytes (the frame's own and the slices') are copied into the connection's chunk buffer,
 * STREAM_CHUNK_BYTES at a time, and each chunk is written once the socket has taken the previous one (the
 * write callback): an answer of any size costs one chunk of memory while it is sent. A chunk buffer is
 * taken from the context's fetchMemory (shared by every connection) and given back when the connection has
 * no streamed answer left to send. A slice that can no longer be read (short read, EIO) closes the
 * connection: the frame's size was promised already (Kafka closes the connection on a failed send too).

 * Authentication (SASL_PLAINTEXT, as a Kafka listener with PLAIN and SCRAM enabled): a connection is not
 * anyone until it authenticates with SaslHandshake + SaslAuthenticate (or, after a v0 SaslHandshake, bare
 * size-prefixed SASL tokens, as old clients send them), or until it sends its first other request from a
 * loopback address while the user guest exists: it is then guest, as an AMQP client logging in as guest.
 * Before that, only ApiVersions and the SASL requests are served; anything else is Kafka's
 * ILLEGAL_SASL_STATE: one log line, and the connection is closed (Kafka closes it too). A connection that
 * must authenticate gets HANDSHAKE_TIMEOUT_MS to do so, and frames of at most MAX_UNAUTHENTICATED_FRAME_BYTES
 * meanwhile; one authentication per connection (no re-authentication). A refused login is answered with
 * SASL_AUTHENTICATION_FAILED, logged in one line, and the connection is closed once the answer is written.
 * On the TLS listener a verified client certificate whose CN names a user makes the connection that user
 * at once (mechanism SSL), as a SASL login would.
 */
import type { StalledSender } from './stalled-senders.js';
import { tlsConnectionInfo } from '../../util/tls.js';
import type { Socket } from 'node:net';
import type { ChannelDetails, ClientConnection, ConnectionDetails } from '../../core/clients.js';
import { ConnectionTraffic } from '../../core/stats.js';
import type { Logger } from '../../log/logger.js';
import { KafkaCodecError } from './codec.js';
import { sourceOf, type FramePiece } from './codec.js';
import { decodeRequest, encodeResponse, encodeResponseFrame, FRAME_SIZE_BYTES, UnsupportedKafkaRequestError, type DecodedRequest } from './envelope.js';
import {
  API_VERSIONS_API,
  FETCH_API,
  PRODUCE_API,
  SASL_AUTHENTICATE_API,
  SASL_HANDSHAKE_API,
  type FetchResponse,
  type SaslAuthenticateResponse,
  type SaslHandshakeResponse,
} from './generated/messages.js';
import type { UserConfig } from '../../config/config.js';
import { NO_ACCESS, type AccessKind, type ResourceAccess } from '../../core/users.js';
import { isLoopbackAddress } from '../../util/net.js';
import { authenticationFailedText, isSaslMechanism, SaslExchange, SASL_MECHANISMS, type SaslStep } from './sasl.js';
import { KafkaProtocolState } from './errors.js';
import { Errors } from '../../errors/errors.js';
import type { KafkaContext, KafkaSession } from './handlers/context.js';
import { handlerFor, apiVersionsBody } from './handlers/index.js';
import { releaseStreamedRecords } from './handlers/fetch.js';
import { BufferPool } from '../../util/buffer-pool.js';
import { readIntoSharedBuffer, SHARED_READ_BUFFER_BYTES } from '../../util/shared-read-buffer.js';

export { ADVERTISED_APIS } from './handlers/index.js';
export type { KafkaBrokerIdentity } from './handlers/context.js';

/** Requests a connection may have waiting for their answers before the broker stops reading it. */
export const MAX_IN_FLIGHT = 128;
/**
 * Answer bytes a connection may have waiting to be sent (in its socket, or records still to be read from
 * segment files) before the broker stops reading its requests, 1 MiB: a consumer that reads its answers
 * drains that in a moment, and one that does not gets at most one more answer queued (whose records stay
 * in their files until the socket takes them).
 */
export const MAX_UNSENT_BYTES = 1024 * 1024;
/**
 * Bytes of a streamed Fetch answer read from segment files and written to the socket at a time, 1 MiB:
 * the partition fetch size of librdkafka and the Java client, so their usual answer is one read and one
 * write, as when answers were built whole. It is all the memory an answer of any size costs while it is
 * sent. 256 KiB chunks cost the broker 1.5 to 1.8 times the CPU per consumed record (each socket write costs
 * the kernel about as much as a larger one; bench/results/2026-12-07-fetch-streaming.md).
 */
export const STREAM_CHUNK_BYTES = 1024 * 1024;
/**
 * Room in a chunk buffer beside STREAM_CHUNK_BYTES for the frame's own bytes (size, header, partition
 * fields: about 100 bytes a partition), 16 KiB: so a 1 MiB partition answer is one write, not two.
 */
const STREAM_CHUNK_HEADROOM_BYTES = 16 * 1024;
/** Chunk buffers of every connection: at most 16 kept free for the next streamed answer. */
const STREAM_CHUNK_BUFFER_BYTES = STREAM_CHUNK_BYTES + STREAM_CHUNK_HEADROOM_BYTES;
const STREAM_CHUNKS = new BufferPool(STREAM_CHUNK_BUFFER_BYTES, 16);

/**
 * What the socket reads is copied into the connection's receive buffer at once, and frames are cut out
 * of that buffer: the socket's own buffer is then free for the next read (a server's sockets all read into
 * one shared buffer: ../../util/shared-read-buffer.ts). When a frame's size is read, room is made for the
 * whole frame (up to RESERVE_AHEAD_BYTES, as large as clients' default requests) plus one read, so its bytes
 * are copied once; a larger frame's room doubles as its bytes arrive, so a client that only announces a
 * large frame costs at most that much. The buffer is RECEIVE_BUFFER_BYTES until a larger frame comes; a
 * larger one goes back to RECEIVE_BUFFERS, shared by all connections, whenever nothing is pending (a
 * producer's request often ends a read), and the next large frame of any connection takes it from there:
 * the memory is reused, and idle connections hold no large buffers.
 */
const RECEIVE_BUFFER_BYTES = 64 * 1024;
/** Room made for a frame as soon as its size is known: Kafka clients' default largest request (1 MiB). */
const RESERVE_AHEAD_BYTES = 1024 * 1024;
/** Receive buffers up to 4 MiB come from here; two of each size are kept free. */
const RECEIVE_BUFFERS = new BufferPool(RECEIVE_BUFFER_BYTES, 2, 4 * 1024 * 1024, 2);
const NO_BYTES = Buffer.alloc(0);
/** Time a connection that must authenticate has to do so, from its connection or SaslHandshake: as AMQP's handshake. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Largest frame before authentication: Kafka's sasl.server.max.receive.size default (512 KiB). */
export const MAX_UNAUTHENTICATED_FRAME_BYTES = 512 * 1024;
/** The user an unauthenticated loopback connection is (RabbitMQ's default user, loopback-only). */
const GUEST = 'guest';

interface Slot {
  done: boolean;
  /** the response frame as pieces to write in order (see encodeResponseFrame), or null: no answer */
  frame: FramePiece[] | null;
  /** the frame has pieces still in files (ByteSources): it is sent through the chunk buffer */
  streamed: boolean;
}

/** The frame's ByteSources are not needed any more: their files are unpinned. */
function releaseSources(frame: FramePiece[] | null): void {
  if (frame === null) return;
  for (let i = 0; i < frame.length; i++) sourceOf(frame[i]!)?.release();
}

export class KafkaConnection implements KafkaSession, ClientConnection, StalledSender {
  /** socket traffic rates, filled by the stats sampler */
  readonly traffic = new ConnectionTraffic();
  /** received bytes not yet cut into frames: [recvStart, recvEnd) of recv */
  private recv: Buffer = NO_BYTES;
  private recvStart = 0;
  private recvEnd = 0;
  private closed = false;
  private readonly slots: Slot[] = [];
  private paused = false;
  /** a Produce arrived while a resource alarm is on: reading waits for publishUnblocked() */
  private heldByAlarm = false;
  /** answers waiting in the socket passed MAX_UNSENT_BYTES: reading waits for 'drain' */
  private outputBlocked = false;
  /** the answer at the head being streamed: its next piece, and bytes of that piece already sent */
  private streamPiece = 0;
  private streamAt = 0;
  /** bytes of streamed answers' sources not yet read into the chunk buffer (they count as unsent) */
  private streamedUnsent = 0;
  /** the chunk buffer (taken from context.fetchMemory), null when the connection holds none */
  private chunk: Buffer | null = null;
  /** the chunk buffer is being written: not reused until the socket has taken it */
  private chunkInFlight = false;
  /** waiting for a chunk buffer in context.fetchMemory: cancels the wait (null: not waiting) */
  private cancelChunkWait: (() => void) | null = null;
  /** a 'drain' listener is registered */
  private drainListening = false;
  private readonly onChunkWritten = (err?: Error | null): void => {
    this.chunkInFlight = false;
    this.context.stalledSenders.written(this);
    if (err !== undefined && err !== null) {
      // the socket failed: its queued writes may still hold the buffer, which is left to the collector
      this.chunk = null;
      this.context.fetchMemory.release(STREAM_CHUNK_BUFFER_BYTES);
      return;
    }
    if (this.closed) return this.giveBackChunk();
    this.pump();
  };
  private readonly onChunkMemory = (): void => {
    this.cancelChunkWait = null;
    this.pump();
  };
  /** bytes of the frame being received, reserved from context.queuedRequests (0: none) */
  private reservedBytes = 0;
  /** waiting for room in context.queuedRequests: cancels the wait (null: not waiting) */
  private cancelMemoryWait: (() => void) | null = null;
  private readonly onDrain = (): void => {
    this.drainListening = false;
    this.pump();
  };
  private readonly onRequestMemory = (): void => {
    this.cancelMemoryWait = null;
    this.resumeReading();
    this.drainFrames();
  };
  /** "peer host:port -> local host:port", as AMQP connections are named in the management API */
  readonly name: string;
  readonly clientHost: string;
  clientId = '';
  private readonly connectedAt = Date.now();
  /** the socket reads into the server's shared buffer (false: 'data' events, as Node delivers them) */
  readonly sharedReads: boolean;
  /** the authenticated user (null: not yet) */
  private user: UserConfig | null = null;
  /** how it authenticated: a SASL mechanism, or '' for the loopback guest */
  private authMechanism = '';
  /** a SASL login waiting for the login guard's answer: cancels it (the connection went away) */
  private cancelLogin: (() => void) | null = null;
  /** the user's permissions in the Kafka vhost, and the user store generation they were read at */
  private access: ResourceAccess = NO_ACCESS;
  private accessGeneration = -1;
  /** the SASL exchange under way (null: none started, or it ended) */
  private sasl: SaslExchange | null = null;
  /** a SaslHandshake was received: no more guest, and no second authentication */
  private saslStarted = false;
  /** SaslHandshake v0: the next frames are bare SASL tokens, not Kafka requests */
  private rawSasl = false;
  /** an answer that ends the connection is queued: read nothing more, close once it is written */
  private closeWhenAnswered = false;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private readonly fromLoopback: boolean;

  /** `readBuffer`: the server's shared read buffer (null: read 'data' events) */
  constructor(
    private readonly socket: Socket,
    private readonly context: KafkaContext,
    private readonly logger: Logger,
    readBuffer: Buffer | null = null,
    /**
     * The user the connection is authenticated as: the subject CN of the client's TLS certificate, verified
     * against --tls-ca (the SSL listener with --tls-verify-peer); null = not authenticated. Kafka's
     * principal for an SSL client (there `User:` + the certificate's DN, here the CN, as AMQP's EXTERNAL
     * takes it); an authorization layer reads it from the session.
     */
    readonly principal: string | null = null,
  ) {
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    this.clientHost = `/${socket.remoteAddress ?? ''}`;
    socket.setNoDelay(true);
    this.sharedReads = readBuffer !== null && readIntoSharedBuffer(socket, readBuffer, (length, bytes) => this.onRead(length, bytes));
    if (!this.sharedReads) socket.on('data', (chunk: Buffer) => this.onRead(chunk.length, chunk));
    socket.on('error', (err) => this.logger.debug(() => `kafka connection ${this.name}: ${err.message}`));
    socket.on('close', () => this.released());
    this.fromLoopback = isLoopbackAddress(socket.remoteAddress);
    // a client that cannot be guest must authenticate, in bounded time
    if (!this.fromLoopback) this.startHandshakeTimer();
    // a verified client certificate (TLS listener, --tls-verify-peer) names the user, as AMQP's EXTERNAL
    if (principal !== null) {
      const user = context.users.identity(principal);
      if (user !== undefined && !(user.loopbackOnly && !this.fromLoopback)) this.authenticatedAs(user, 'SSL');
      else
        this.fail(`the TLS client certificate's CN '${principal}' ${user === undefined ? 'names no user' : 'is a user that may only connect from loopback'}`);
    }
  }

  // ---- authentication (see the header)

  private startHandshakeTimer(): void {
    if (this.handshakeTimer !== null) return;
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      if (this.user === null) this.fail(`SASL authentication not completed in ${HANDSHAKE_TIMEOUT_MS} ms`);
    }, HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
  }

  private stopHandshakeTimer(): void {
    if (this.handshakeTimer === null) return;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  /**
   * The connection is `user` from now on. SASL calls this; so must a listener that authenticated the client
   * another way (a TLS listener with a verified client certificate: the user named by its CN, mechanism
   * 'EXTERNAL'), right after constructing the connection, before any request is read.
   */
  authenticatedAs(user: UserConfig, mechanism: string): void {
    this.user = user;
    this.authMechanism = mechanism;
    this.accessGeneration = -1;
    this.sasl = null;
    this.stopHandshakeTimer();
  }

  /** an unauthenticated connection may still become the guest: loopback, no SASL started, guest exists */
  private mayBeGuest(): boolean {
    return this.fromLoopback && !this.saslStarted && this.context.users.identity(GUEST) !== undefined;
  }

  get userName(): string {
    return this.user?.name ?? '';
  }

  allows(kind: AccessKind, name: string): boolean {
    return this.currentAccess().allows(kind, name);
  }

  isAdministrator(): boolean {
    return this.user !== null && this.user.tags.includes('administrator') && this.context.users.identity(this.user.name) !== undefined;
  }

  writesSomewhere(): boolean {
    return this.currentAccess().grantsAny('write');
  }

  monitors(): boolean {
    if (this.user === null || this.context.users.identity(this.user.name) === undefined) return false;
    return this.user.tags.includes('administrator') || this.user.tags.includes('monitoring');
  }

  describes(name: string): boolean {
    const access = this.currentAccess();
    return access.allows('read', name) || access.allows('write', name) || access.allows('configure', name);
  }

  /** the user's permissions in the Kafka vhost, read again whenever any permission changed */
  private currentAccess(): ResourceAccess {
    const users = this.context.users;
    if (this.accessGeneration !== users.generation) {
      this.accessGeneration = users.generation;
      const user = this.user;
      // a user deleted since it authenticated has no access any more
      this.access = user === null || users.identity(user.name) === undefined ? NO_ACCESS : users.access(user.name, this.context.kafkaVhost);
    }
    return this.access;
  }

  saslHandshake(mechanism: string, version: number): SaslHandshakeResponse {
    const mechanisms = [...SASL_MECHANISMS];
    if (this.user !== null || this.saslStarted) {
      this.endAfterAnswer(`a second SaslHandshake (${this.user !== null ? 'already authenticated' : 'handshake already made'}; ILLEGAL_SASL_STATE)`);
      return { errorCode: KafkaProtocolState.ILLEGAL_SASL_STATE, mechanisms };
    }
    this.saslStarted = true;
    this.startHandshakeTimer();
    if (!isSaslMechanism(mechanism)) {
      this.endAfterAnswer(`SASL mechanism '${mechanism.slice(0, 64)}' is not enabled (UNSUPPORTED_SASL_MECHANISM)`);
      return { errorCode: Errors.UNSUPPORTED_MECHANISM.kafka, mechanisms };
    }
    this.sasl = new SaslExchange(mechanism, this.context.users, this.fromLoopback);
    if (version === 0) this.rawSasl = true;
    return { errorCode: KafkaProtocolState.NONE, mechanisms };
  }

  saslAuthenticate(token: Buffer, _version: number): SaslAuthenticateResponse | Promise<SaslAuthenticateResponse> {
    const sasl = this.sasl;
    if (sasl === null || this.rawSasl) {
      this.endAfterAnswer('SaslAuthenticate without a SaslHandshake v1 before it (ILLEGAL_SASL_STATE)');
      return {
        errorCode: KafkaProtocolState.ILLEGAL_SASL_STATE,
        errorMessage: 'SaslAuthenticate before SaslHandshake',
        authBytes: NO_BYTES,
        sessionLifetimeMs: 0n,
      };
    }
    if (sasl.decides && this.context.logins !== undefined) {
      // the deciding token goes through the login guard: logged per source, answered late for a source
      // that failed often (the check runs when the delay ends), one answer held per source
      return new Promise<SaslAuthenticateResponse>((resolve) => {
        let step: SaslStep | null = null;
        this.cancelLogin = this.context.logins!.attempt(
          { source: this.socket.remoteAddress, protocol: 'Kafka', mechanism: sasl.mechanism, user: sasl.claimedUser(token) },
          () => {
            step = sasl.step(token);
            return step.kind === 'done' ? step.user : undefined;
          },
          () => {
            this.cancelLogin = null;
            resolve(
              this.saslAnswer(sasl, step ?? { kind: 'failed', reason: 'another login from the same address is waiting', user: sasl.claimedUser(token) }, false),
            );
          },
        );
      });
    }
    return this.saslAnswer(sasl, sasl.step(token), true);
  }

  /** `logFailure`: false when the login guard has logged it (its lines are per source, rate-limited) */
  private saslAnswer(sasl: SaslExchange, step: SaslStep, logFailure: boolean): SaslAuthenticateResponse {
    if (step.kind === 'failed') {
      this.sasl = null;
      const reason = `SASL ${sasl.mechanism} login refused for user '${step.user.slice(0, 255)}': ${step.reason} (SASL_AUTHENTICATION_FAILED)`;
      if (logFailure) this.endAfterAnswer(reason);
      else this.endAfterAnswer(reason, true);
      return { errorCode: Errors.UNAUTHORIZED.kafka, errorMessage: authenticationFailedText(sasl.mechanism), authBytes: NO_BYTES, sessionLifetimeMs: 0n };
    }
    if (step.kind === 'done') this.authenticated(step.user, sasl.mechanism);
    return { errorCode: KafkaProtocolState.NONE, errorMessage: null, authBytes: step.token, sessionLifetimeMs: 0n };
  }

  private authenticated(user: UserConfig, mechanism: string): void {
    this.authenticatedAs(user, mechanism);
    this.logger.debug(() => `kafka connection ${this.name}: user '${user.name}' authenticated (SASL ${mechanism})`);
  }

  /** a bare SASL token after SaslHandshake v0: the answer is a bare frame too; a refusal just closes */
  private onRawToken(token: Buffer): void {
    const sasl = this.sasl!;
    const step = sasl.step(token);
    if (step.kind === 'failed') {
      this.sasl = null;
      this.rawSasl = false;
      return this.fail(`SASL ${sasl.mechanism} login refused for user '${step.user.slice(0, 255)}': ${step.reason} (SASL_AUTHENTICATION_FAILED)`);
    }
    if (step.kind === 'done') {
      this.rawSasl = false;
      this.authenticated(step.user, sasl.mechanism);
    }
    const frame = Buffer.allocUnsafe(FRAME_SIZE_BYTES + step.token.length);
    frame.writeInt32BE(step.token.length, 0);
    step.token.copy(frame, FRAME_SIZE_BYTES);
    this.answerNow(frame);
  }

  /** the answer being made is the connection's last: one log line now, the socket ends once it is written */
  /** `quiet`: the reason is logged at debug only (a refused login the login guard has logged already) */
  private endAfterAnswer(reason: string, quiet = false): void {
    if (this.closeWhenAnswered) return;
    this.closeWhenAnswered = true;
    this.stopHandshakeTimer();
    if (quiet) this.logger.debug(() => `kafka connection ${this.name}: ${reason}; closing it`);
    else this.logger.warn(`kafka connection ${this.name}: ${reason}; closing it`);
  }

  /** The socket is gone: what it held of the shared budgets goes back. */
  private released(): void {
    this.closed = true;
    this.context.stalledSenders.written(this);
    if (this.cancelLogin !== null) {
      this.cancelLogin();
      this.cancelLogin = null;
    }
    this.stopHandshakeTimer();
    if (this.cancelMemoryWait !== null) {
      this.cancelMemoryWait();
      this.cancelMemoryWait = null;
    }
    this.giveBackReservation();
    if (this.cancelChunkWait !== null) {
      this.cancelChunkWait();
      this.cancelChunkWait = null;
    }
    // answers not sent: their files are unpinned (those still being handled are, once they come: fill())
    for (const slot of this.slots) {
      if (slot.done) releaseSources(slot.frame);
      slot.frame = null;
    }
    this.streamedUnsent = 0;
    if (!this.chunkInFlight) this.giveBackChunk();
  }

  /** The chunk buffer goes back to the pool and its bytes to fetchMemory. */
  private giveBackChunk(): void {
    if (this.chunk === null) return;
    STREAM_CHUNKS.release(this.chunk);
    this.chunk = null;
    this.context.fetchMemory.release(STREAM_CHUNK_BUFFER_BYTES);
  }

  private giveBackReservation(): void {
    if (this.reservedBytes === 0) return;
    this.context.queuedRequests.release(this.reservedBytes);
    this.reservedBytes = 0;
  }

  /** Reads on unless something still holds reading. */
  private resumeReading(): void {
    if (this.closed || this.paused || this.heldByAlarm || this.outputBlocked || this.cancelMemoryWait !== null) return;
    this.socket.resume();
  }

  /** The first `length` bytes of `bytes` were read: copied here before the socket reads again. */
  private onRead(length: number, bytes: Buffer): void {
    if (this.closed) return;
    if (this.recvEnd + length > this.recv.length) this.makeRoom(length);
    bytes.copy(this.recv, this.recvEnd, 0, length);
    this.recvEnd += length;
    this.drainFrames();
  }

  /** Room for `more` bytes after the pending ones: they move to the buffer's start, or to a larger buffer. */
  private makeRoom(more: number): void {
    const pending = this.recvEnd - this.recvStart;
    const needed = pending + more;
    if (needed > this.recv.length) {
      const larger = RECEIVE_BUFFERS.acquire(Math.max(needed, 2 * this.recv.length, RECEIVE_BUFFER_BYTES));
      this.recv.copy(larger, 0, this.recvStart, this.recvEnd);
      this.releaseLarge();
      this.recv = larger;
    } else if (this.recvStart > 0) {
      this.recv.copy(this.recv, 0, this.recvStart, this.recvEnd);
    }
    this.recvStart = 0;
    this.recvEnd = pending;
  }

  /** A receive buffer larger than the usual goes back to the pool (which drops what it does not keep). */
  private releaseLarge(): void {
    if (this.recv.length <= RECEIVE_BUFFER_BYTES) return;
    RECEIVE_BUFFERS.release(this.recv);
    this.recv = NO_BYTES;
  }

  /**
   * Cuts whole frames out of the receive buffer and handles them. A Produce is handled from a view of the
   * buffer: its handler appends (copies or writes) every batch before it returns and keeps no reference to
   * the request's bytes. Any other request gets a copy of its own, as its handler may keep parts of it.
   */
  private drainFrames(): void {
    while (!this.closed && !this.closeWhenAnswered && !this.paused && !this.heldByAlarm && !this.outputBlocked && this.cancelMemoryWait === null) {
      const pending = this.recvEnd - this.recvStart;
      if (pending < FRAME_SIZE_BYTES) break;
      const recv = this.recv;
      const size = recv.readInt32BE(this.recvStart);
      // before authentication, frames are bounded as Kafka bounds them (unless this may be the loopback guest)
      const maxRequestBytes =
        this.user === null && !this.mayBeGuest() ? Math.min(MAX_UNAUTHENTICATED_FRAME_BYTES, this.context.requestMaxBytes) : this.context.requestMaxBytes;
      if (size < 0 || size > maxRequestBytes) {
        this.fail(`request size ${size} outside 0..${maxRequestBytes} (${this.user === null ? 'before authentication' : '--kafka-socket-request-max-bytes'})`);
        return;
      }
      // a bare SASL token (after SaslHandshake v0) has no API key
      const apiKey = !this.rawSasl && pending >= FRAME_SIZE_BYTES + 2 ? recv.readInt16BE(this.recvStart + FRAME_SIZE_BYTES) : -1;
      if (apiKey === PRODUCE_API.apiKey && this.context.publishBlocked()) {
        this.heldByAlarm = true;
        this.socket.pause();
        return;
      }
      if (pending < FRAME_SIZE_BYTES + size) {
        // a frame larger than the receive buffer is received only within the shared budget
        if (FRAME_SIZE_BYTES + size > RECEIVE_BUFFER_BYTES && this.reservedBytes === 0) {
          if (!this.context.queuedRequests.tryTake(size)) {
            this.socket.pause();
            this.cancelMemoryWait = this.context.queuedRequests.whenAvailable(this.onRequestMemory);
            break;
          }
          this.reservedBytes = size;
        }
        // room for the whole frame (up to RESERVE_AHEAD_BYTES) and the read that completes it
        const wanted = Math.max(pending, Math.min(FRAME_SIZE_BYTES + size, RESERVE_AHEAD_BYTES)) + SHARED_READ_BUFFER_BYTES;
        if (this.recvStart + wanted > recv.length) this.makeRoom(wanted - pending);
        break;
      }
      const start = this.recvStart + FRAME_SIZE_BYTES;
      this.recvStart = start + size;
      const view = recv.subarray(start, start + size);
      this.onFrame(apiKey === PRODUCE_API.apiKey ? view : Buffer.from(view));
      this.giveBackReservation();
      if (this.slots.length >= MAX_IN_FLIGHT && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
    }
    if (this.recvStart === this.recvEnd) {
      this.recvStart = this.recvEnd = 0;
      this.releaseLarge();
    }
  }

  /** the resource alarm cleared: read on (a held Produce is handled now) */
  publishUnblocked(): void {
    if (!this.heldByAlarm || this.closed) return;
    this.heldByAlarm = false;
    this.resumeReading();
    this.drainFrames();
  }

  private onFrame(frame: Buffer): void {
    if (this.rawSasl) return this.onRawToken(frame);
    let request: DecodedRequest;
    try {
      request = decodeRequest(frame);
    } catch (err) {
      if (err instanceof UnsupportedKafkaRequestError && err.apiKey === API_VERSIONS_API.apiKey) {
        // the client asked for an ApiVersions version we do not know: answer with v0 and our versions
        this.answerNow(encodeResponse(API_VERSIONS_API.apiKey, 0, err.correlationId, apiVersionsBody(Errors.NOT_IMPLEMENTED.kafka)));
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
    if (this.user === null && apiKey !== API_VERSIONS_API.apiKey && apiKey !== SASL_HANDSHAKE_API.apiKey && apiKey !== SASL_AUTHENTICATE_API.apiKey) {
      if (!this.mayBeGuest()) {
        const why = this.saslStarted
          ? 'before SASL authentication completed'
          : 'without SASL authentication, from an address other than loopback (or user guest is gone)';
        return this.fail(`API ${apiKey} v${apiVersion} request ${why} (ILLEGAL_SASL_STATE)`);
      }
      this.authenticatedAs(this.context.users.identity(GUEST)!, '');
    }
    const correlationId = request.header.correlationId;
    const slot: Slot = { done: false, frame: null, streamed: false };
    this.slots.push(slot);
    let result;
    try {
      result = (handler.handle as (c: KafkaContext, r: unknown, v: number, s: KafkaSession) => unknown)(this.context, request.body, apiVersion, this);
    } catch (err) {
      return this.handlerFailed(apiKey, apiVersion, err);
    }
    if (result instanceof Promise) {
      result.then(
        (body) => this.answer(slot, apiKey, apiVersion, correlationId, body),
        (err: unknown) => this.handlerFailed(apiKey, apiVersion, err),
      );
    } else {
      this.answer(slot, apiKey, apiVersion, correlationId, result);
    }
  }

  private answer(slot: Slot, apiKey: number, apiVersion: number, correlationId: number, body: unknown): void {
    const fetch = apiKey === FETCH_API.apiKey && body !== null;
    if (this.closed) {
      // never written: a Fetch answer's files are unpinned now
      if (fetch) releaseStreamedRecords(body as FetchResponse);
      slot.done = true;
      return;
    }
    let frame: FramePiece[] | null = null;
    if (body !== null) {
      try {
        frame = encodeResponseFrame(apiKey as never, apiVersion, correlationId, body as never);
      } catch (err) {
        if (fetch) releaseStreamedRecords(body as FetchResponse);
        return this.handlerFailed(apiKey, apiVersion, err);
      }
    }
    this.fill(slot, frame);
  }

  private answerNow(frame: Buffer): void {
    const slot: Slot = { done: false, frame: null, streamed: false };
    this.slots.push(slot);
    this.fill(slot, [frame]);
  }

  private fill(slot: Slot, frame: FramePiece[] | null): void {
    slot.done = true;
    if (this.closed) {
      // nothing more is written: the answer's files are unpinned now
      releaseSources(frame);
      return;
    }
    slot.frame = frame;
    if (frame !== null) {
      for (let i = 0; i < frame.length; i++) {
        const source = sourceOf(frame[i]!);
        if (source === null) continue;
        slot.streamed = true;
        this.streamedUnsent += source.length;
      }
    }
    this.pump();
  }

  /**
   * Writes the answers ready at the head of the order: a frame in memory at once (every such frame of a
   * turn in one writev), a streamed one through the chunk buffer, one chunk per socket write; the frames
   * behind a streamed one wait for it. Called again as chunks are taken by the socket, as the socket
   * drains, and as answers come; it then decides whether the connection may be read.
   */
  private pump(): void {
    if (this.closed) return;
    const slots = this.slots;
    let written = 0;
    this.socket.cork();
    while (written < slots.length && slots[written]!.done) {
      const slot = slots[written]!;
      const frame = slot.frame;
      if (frame === null) {
        written++;
        continue;
      }
      if (!slot.streamed) {
        for (let i = 0; i < frame.length; i++) this.socket.write(frame[i] as Buffer);
        slot.frame = null;
        written++;
        continue;
      }
      if (this.chunkInFlight || !this.haveChunk()) break;
      const finished = this.fillChunk(written);
      if (finished < 0) break; // the connection failed
      written = finished;
    }
    this.socket.uncork();
    if (this.closed) return;
    if (written > 0) slots.splice(0, written);
    if (!this.chunkInFlight && this.chunk !== null && (slots.length === 0 || !slots[0]!.streamed)) this.giveBackChunk();
    if (this.closeWhenAnswered && slots.length === 0 && !this.closed) {
      // the last answer is written: close once the socket has sent it
      this.closed = true;
      this.socket.end(() => this.socket.destroy());
      return;
    }
    this.checkOutput();
    if (this.paused && this.slots.length < MAX_IN_FLIGHT / 2 && !this.closed) {
      this.paused = false;
      this.resumeReading();
      this.drainFrames();
    }
  }

  /** A chunk buffer is at hand, or taken now from fetchMemory; false: waiting for room there (pump() again). */
  private haveChunk(): boolean {
    if (this.chunk !== null) return true;
    if (this.cancelChunkWait !== null) return false;
    const memory = this.context.fetchMemory;
    if (!memory.tryTake(STREAM_CHUNK_BUFFER_BYTES)) {
      this.cancelChunkWait = memory.whenAvailable(this.onChunkMemory);
      this.context.stalledSenders.waiting();
      return false;
    }
    this.chunk = STREAM_CHUNKS.acquire(STREAM_CHUNK_BUFFER_BYTES);
    return true;
  }

  /**
   * Copies the next bytes of the streamed frame at slots[index] (and of the ready frames after it while
   * there is room) into the chunk buffer and writes it. Returns the index of the first slot not finished,
   * or -1 when a source could not be read (the connection is closed).
   */
  private fillChunk(index: number): number {
    const chunk = this.chunk!;
    const slots = this.slots;
    let filled = 0;
    while (filled < chunk.length && index < slots.length && slots[index]!.done) {
      const slot = slots[index]!;
      const frame = slot.frame;
      if (frame === null) {
        index++;
        continue;
      }
      // a frame begun in a chunk is sent through chunks to its end (it may be one in memory, after a streamed one)
      slot.streamed = true;
      while (filled < chunk.length && this.streamPiece < frame.length) {
        const piece = frame[this.streamPiece]!;
        const count = Math.min(chunk.length - filled, piece.length - this.streamAt);
        const source = sourceOf(piece);
        if (source === null) {
          (piece as Buffer).copy(chunk, filled, this.streamAt, this.streamAt + count);
        } else {
          try {
            source.read(chunk, filled, this.streamAt, count);
          } catch (err) {
            this.streamFailed(err);
            return -1;
          }
          this.streamedUnsent -= count;
        }
        filled += count;
        this.streamAt += count;
        if (this.streamAt === piece.length) {
          source?.release();
          this.streamPiece++;
          this.streamAt = 0;
        }
      }
      if (this.streamPiece < frame.length) break; // the chunk is full
      slot.frame = null;
      this.streamPiece = 0;
      index++;
    }
    this.chunkInFlight = true;
    this.context.stalledSenders.writing(this);
    this.socket.write(filled === chunk.length ? chunk : chunk.subarray(0, filled), this.onChunkWritten);
    return index;
  }

  /** Its chunk has waited `heldMs` in the socket while another connection waits for one (stalled-senders.ts). */
  closeStalled(heldMs: number): void {
    if (this.closed) return;
    this.logger.warn(
      `kafka connection ${this.name}: closed: it has not read its Fetch answer for ${Math.round(heldMs)} ms while other connections wait for answer memory`,
    );
    this.closed = true;
    this.socket.destroy();
    this.released();
  }

  /** A streamed answer's bytes could not be read: its frame cannot be completed, so the connection goes. */
  private streamFailed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.logger.error(`kafka connection ${this.name}: a Fetch answer's records could not be read (${message}); closing the connection`);
    this.closed = true;
    this.socket.destroy();
    this.released();
  }

  /**
   * Reading stops while more than MAX_UNSENT_BYTES of answers wait (a client that does not read them), and
   * goes on once they are below it again: pump() runs at every 'drain' and every chunk the socket takes.
   */
  private checkOutput(): void {
    const unsent = this.socket.writableLength + this.streamedUnsent;
    if (unsent > MAX_UNSENT_BYTES) {
      if (!this.outputBlocked) {
        this.outputBlocked = true;
        this.socket.pause();
      }
      if (!this.drainListening && this.socket.writableNeedDrain) {
        this.drainListening = true;
        this.socket.once('drain', this.onDrain);
      }
      return;
    }
    if (!this.outputBlocked) return;
    this.outputBlocked = false;
    this.resumeReading();
    this.drainFrames();
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
    this.stopHandshakeTimer();
    this.socket.destroy();
  }

  // ---- ClientConnection: how the management API lists and closes it

  details(): ConnectionDetails {
    const s = this.socket;
    return {
      name: this.name,
      protocol: 'Kafka',
      // the user it authenticated as (SASL or a TLS client certificate), or the guest a loopback client
      // without SASL is served as; '' before its first request decides which
      user: this.user === null ? '' : this.user.name,
      vhost: this.user === null ? '' : this.context.kafkaVhost,
      host: s.localAddress ?? '',
      port: s.localPort ?? 0,
      peerHost: s.remoteAddress ?? '',
      peerPort: s.remotePort ?? 0,
      connectedAt: this.connectedAt,
      // blocked: not read for now (answers pending or unread, an alarm, or no room for its next large request)
      state: this.closed ? 'closed' : this.paused || this.heldByAlarm || this.outputBlocked || this.cancelMemoryWait !== null ? 'blocked' : 'running',
      channels: 0,
      channelMax: 0,
      frameMax: this.context.requestMaxBytes,
      heartbeatSeconds: 0,
      authMechanism: this.authMechanism,
      clientProperties: { client_id: this.clientId },
      recvBytes: s.bytesRead,
      sendBytes: s.bytesWritten,
      recvRate: this.traffic.recvRate,
      sendRate: this.traffic.sendRate,
      tls: tlsConnectionInfo(s),
    };
  }

  bytesReceived(): number {
    return this.socket.bytesRead;
  }

  bytesSent(): number {
    return this.socket.bytesWritten;
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
