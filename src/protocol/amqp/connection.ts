/**
 * One AMQP 0-9-1 connection: the handshake (start/secure/tune/open), frame dispatch to channels,
 * heartbeats, and connection-level errors. Owns no broker state: it talks to the BrokerCore.
 */
import { tlsConnectionInfo } from '../../util/tls.js';
import type { Socket } from 'node:net';
import type { UserConfig } from '../../config/config.js';
import type { BrokerCore } from '../../core/core.js';
import type { VirtualHost } from '../../core/vhost.js';
import { BrokerError } from '../../errors/errors.js';
import { isLoopbackAddress } from '../../util/net.js';
import type { Logger } from '../../log/logger.js';
import { AmqpCodecError } from '../../errors/codec-error.js';
import { readTable, type FieldTable } from '../../core/field-table.js';
import { readIntoSharedBuffer } from '../../util/shared-read-buffer.js';
import { FrameParser, PROTOCOL_HEADER, type FrameSink } from './frame-parser.js';
import { FrameWriter } from './frame-writer.js';
import {
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
  M_CHANNEL_OPEN,
  M_CONNECTION_CLOSE,
  M_CONNECTION_CLOSE_OK,
  M_CONNECTION_OPEN,
  M_CONNECTION_OPEN_OK,
  M_CONNECTION_SECURE,
  M_CONNECTION_SECURE_OK,
  M_CONNECTION_START,
  M_CONNECTION_START_OK,
  M_CONNECTION_TUNE,
  M_CONNECTION_TUNE_OK,
  M_CONNECTION_UPDATE_SECRET,
  M_CONNECTION_UPDATE_SECRET_OK,
  M_CONNECTION_BLOCKED,
  M_CONNECTION_UNBLOCKED,
  ReplyCode,
  classIdOf,
  decodeMethod,
  methodIdOf,
  methodName,
  type AmqpMethod,
} from './generated/spec.js';
import { Channel } from './channel.js';
import type { ChannelDetails, ClientConnection, ConnectionDetails } from '../../core/clients.js';
import { ConnectionTraffic } from '../../core/stats.js';

export interface AmqpLimits {
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatSeconds: number;
  readonly maxMessageBytes: number;
}

/** Time to wait for connection.close-ok after the broker closed a connection, ms. */
const CLOSE_OK_TIMEOUT_MS = 3000;
/** Time a client has to finish the handshake, ms (RabbitMQ's handshake_timeout). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** SASL mechanisms offered in connection.start. */
const MECHANISMS = Buffer.from('PLAIN AMQPLAIN');
/**
 * ...and on a TLS connection with a verified client certificate: EXTERNAL logs in as the user the
 * certificate's subject CN names, with no password (RabbitMQ's rabbitmq_auth_mechanism_ssl, its default
 * name_from = distinguished_name aside: CN, as its `ssl_cert_login_from = common_name`).
 */
const MECHANISMS_WITH_EXTERNAL = Buffer.from('PLAIN AMQPLAIN EXTERNAL');
/** Output backlog above which consumers on this connection stop receiving, bytes. */
export const OUTPUT_HIGH_WATER_BYTES = 4 * 1024 * 1024;

const enum State {
  AwaitHeader,
  AwaitStartOk,
  AwaitSecureOk,
  /** credentials received; the answer waits for the login guard (core/login-guard.ts) */
  Authenticating,
  AwaitTuneOk,
  AwaitOpen,
  Open,
  Closing,
  Closed,
}

let connectionCounter = 0;

/** connection state names as RabbitMQ's management API shows them, by State */
const STATE_NAMES = ['starting', 'starting', 'starting', 'starting', 'tuning', 'opening', 'running', 'closing', 'closed'];

export class AmqpConnection implements FrameSink, ClientConnection {
  readonly id = ++connectionCounter;
  readonly name: string;
  /** ms since the epoch */
  readonly connectedAt = Date.now();
  readonly writer: FrameWriter;
  /** socket traffic rates, filled by the stats sampler */
  readonly traffic = new ConnectionTraffic();
  readonly channels = new Map<number, Channel>();
  vhost: VirtualHost | null = null;
  user: UserConfig | null = null;
  clientProperties: FieldTable = {};
  frameMax: number;
  channelMax: number;
  heartbeatSeconds = 0;
  readonly maxMessageBytes: number;
  private state = State.AwaitHeader;
  private readonly parser: FrameParser;
  private receivedSinceTick = true;
  private missedTicks = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null;
  private closeTimer: NodeJS.Timeout | null = null;
  private startMechanism = '';
  /** cancels a login answer the guard still holds (the connection went away first) */
  private cancelLogin: (() => void) | null = null;
  private blockedNotified = false;
  private readingPaused = false;

  constructor(
    readonly socket: Socket,
    readonly core: BrokerCore,
    private readonly limits: AmqpLimits,
    readonly logger: Logger,
    private readonly onGone: (c: AmqpConnection) => void,
    /** the CN of the client's verified TLS certificate: EXTERNAL is offered and logs in as this user */
    private readonly certificateUser: string | null = null,
    /** the server's shared read buffer (null: read 'data' events); frames are views of it while handled */
    readBuffer: Buffer | null = null,
  ) {
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    this.frameMax = limits.frameMax;
    this.channelMax = limits.channelMax;
    this.maxMessageBytes = limits.maxMessageBytes;
    this.parser = new FrameParser(this, FRAME_MIN_SIZE);
    this.writer = new FrameWriter(socket, FRAME_MIN_SIZE);
    socket.setNoDelay(true);
    // reads land in the listener's one buffer, overwritten by the next read of any socket: the parser and
    // the channels copy what they keep (properties and bodies) before onRead returns
    const shared =
      readBuffer !== null &&
      readIntoSharedBuffer(socket, readBuffer, (length, bytes) => this.onData(length === bytes.length ? bytes : bytes.subarray(0, length)));
    if (!shared) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.logger.debug(() => `connection ${this.name}: socket error ${err.message}`));
    socket.on('close', () => this.teardown('socket closed'));
    socket.on('drain', () => this.resumeConsumers());
    this.handshakeTimer = setTimeout(() => {
      this.logger.warn(`connection ${this.name}: handshake not completed in ${HANDSHAKE_TIMEOUT_MS} ms, closing`);
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
  }

  get isLoopback(): boolean {
    return isLoopbackAddress(this.socket.remoteAddress);
  }

  /** true while consumers may be given more messages (output not backed up) */
  get writable(): boolean {
    return this.state === State.Open && this.writer.backlog < OUTPUT_HIGH_WATER_BYTES;
  }

  private onData(chunk: Buffer): void {
    this.receivedSinceTick = true;
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.internalError(err);
    }
  }

  // ---------------------------------------------------------------- FrameSink

  onProtocolHeader(ok: boolean, header: Buffer): void {
    if (!ok) {
      this.logger.warn(`connection ${this.name}: bad protocol header ${JSON.stringify(header.toString('latin1'))}, sent ours and closed`);
      this.socket.end(PROTOCOL_HEADER);
      this.state = State.Closed;
      this.onGone(this);
      return;
    }
    this.state = State.AwaitStartOk;
    this.writer.method(0, {
      id: M_CONNECTION_START,
      args: {
        versionMajor: 0,
        versionMinor: 9,
        serverProperties: serverProperties(),
        mechanisms: this.certificateUser === null ? MECHANISMS : MECHANISMS_WITH_EXTERNAL,
        locales: Buffer.from('en_US'),
      },
    });
  }

  onFrameError(replyCode: number, text: string): void {
    this.fatal(replyCode, text, 0, 0);
    // the parser reads nothing after a frame error, so close-ok can never arrive: end the socket now
    this.socket.end();
  }

  onFrame(type: number, channelId: number, payload: Buffer): void {
    if (this.state === State.Closed) return;
    if (type === FRAME_HEARTBEAT) {
      if (channelId !== 0) this.fatal(ReplyCode.FRAME_ERROR, `heartbeat frame on channel ${channelId}`, 0, 0);
      return;
    }
    if (channelId === 0) {
      if (type !== FRAME_METHOD) {
        this.fatal(ReplyCode.UNEXPECTED_FRAME, `unexpected frame type ${type} on channel 0`, 0, 0);
        return;
      }
      let m: AmqpMethod;
      try {
        m = decodeMethod(payload, 0, payload.length);
      } catch (err) {
        this.codecFailure(err, payload);
        return;
      }
      this.onConnectionMethod(m);
      return;
    }
    if (this.state !== State.Open) {
      if (this.state !== State.Closing) this.fatal(ReplyCode.CHANNEL_ERROR, `frame on channel ${channelId} before connection.open`, 0, 0);
      return;
    }
    if (channelId > this.channelMax) {
      // RabbitMQ's answer to a channel past the limit: 530 NOT_ALLOWED
      this.fatal(ReplyCode.NOT_ALLOWED, `channel id ${channelId} exceeds the negotiated channel_max (${this.channelMax})`, 0, 0);
      return;
    }
    const channel = this.channels.get(channelId);
    if (channel === undefined) {
      if (type !== FRAME_METHOD) {
        this.fatal(ReplyCode.UNEXPECTED_FRAME, `content frame on unopened channel ${channelId}`, 0, 0);
        return;
      }
      let m: AmqpMethod;
      try {
        m = decodeMethod(payload, 0, payload.length);
      } catch (err) {
        this.codecFailure(err, payload);
        return;
      }
      if (m.id !== M_CHANNEL_OPEN) {
        this.fatal(ReplyCode.CHANNEL_ERROR, `expected 'channel.open' on channel ${channelId}, got '${methodName(m.id)}'`, classIdOf(m.id), methodIdOf(m.id));
        return;
      }
      const ch = new Channel(channelId, this);
      this.channels.set(channelId, ch);
      this.core.stats.counters.channelCreated++;
      ch.opened();
      return;
    }
    try {
      channel.onFrame(type, payload);
    } catch (err) {
      if (err instanceof AmqpCodecError) this.codecFailure(err, payload);
      else if (err instanceof BrokerError) channel.fail(err, 0, 0);
      else this.internalError(err);
    }
  }

  private codecFailure(err: unknown, payload: Buffer): void {
    if (err instanceof AmqpCodecError) {
      const classId = payload.length >= 2 ? payload.readUInt16BE(0) : 0;
      const methodId = payload.length >= 4 ? payload.readUInt16BE(2) : 0;
      this.fatal(err.replyCode, err.message, classId, methodId);
    } else {
      this.internalError(err);
    }
  }

  private internalError(err: unknown): void {
    this.logger.error(`connection ${this.name}: internal error: ${(err as Error)?.stack ?? String(err)}`);
    this.fatal(ReplyCode.INTERNAL_ERROR, 'internal error', 0, 0);
  }

  // ---------------------------------------------------------------- connection class

  private onConnectionMethod(m: AmqpMethod): void {
    switch (m.id) {
      case M_CONNECTION_START_OK:
        if (this.state !== State.AwaitStartOk) return this.unexpected(m);
        this.clientProperties = m.args.clientProperties;
        this.startMechanism = m.args.mechanism;
        if (m.args.mechanism === 'PLAIN' && m.args.response.length === 0) {
          this.state = State.AwaitSecureOk;
          this.writer.method(0, { id: M_CONNECTION_SECURE, args: { challenge: Buffer.alloc(0) } });
          return;
        }
        return this.authenticate(m.args.mechanism, m.args.response);
      case M_CONNECTION_SECURE_OK:
        if (this.state !== State.AwaitSecureOk) return this.unexpected(m);
        return this.authenticate(this.startMechanism, m.args.response);
      case M_CONNECTION_TUNE_OK: {
        if (this.state !== State.AwaitTuneOk) return this.unexpected(m);
        const { channelMax, frameMax, heartbeat } = m.args;
        if (frameMax !== 0 && frameMax < FRAME_MIN_SIZE) {
          return this.fatal(ReplyCode.NOT_ALLOWED, `frame_max=${frameMax} < ${FRAME_MIN_SIZE} min size`, 10, 31);
        }
        if (frameMax > this.limits.frameMax) {
          return this.fatal(ReplyCode.NOT_ALLOWED, `frame_max=${frameMax} > ${this.limits.frameMax} max size`, 10, 31);
        }
        if (channelMax > this.limits.channelMax) {
          return this.fatal(ReplyCode.NOT_ALLOWED, `channel_max=${channelMax} > ${this.limits.channelMax} max`, 10, 31);
        }
        this.frameMax = frameMax === 0 ? this.limits.frameMax : frameMax;
        this.channelMax = channelMax === 0 ? this.limits.channelMax : channelMax;
        this.parser.setMaxFrameSize(this.frameMax);
        this.writer.setFrameMax(this.frameMax);
        this.heartbeatSeconds = heartbeat;
        this.startHeartbeats();
        this.state = State.AwaitOpen;
        return;
      }
      case M_CONNECTION_OPEN: {
        if (this.state !== State.AwaitOpen) return this.unexpected(m);
        const vhost = this.core.vhostFor(this.user!, m.args.virtualHost);
        if (vhost === undefined) {
          const exists = this.core.vhosts.has(m.args.virtualHost);
          return this.fatal(
            ReplyCode.NOT_ALLOWED,
            exists ? `access to vhost '${m.args.virtualHost}' refused for user '${this.user!.name}'` : `vhost ${m.args.virtualHost} not found`,
            10,
            40,
          );
        }
        this.vhost = vhost;
        this.state = State.Open;
        if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
        this.handshakeTimer = null;
        this.writer.method(0, { id: M_CONNECTION_OPEN_OK, args: { knownHosts: '' } });
        const alarm = this.core.alarm?.reason ?? null;
        if (alarm !== null) this.setBlocked(alarm);
        this.logger.debug(() => `connection ${this.name}: user '${this.user!.name}' opened vhost '${vhost.name}'`);
        return;
      }
      case M_CONNECTION_CLOSE:
        this.writer.method(0, { id: M_CONNECTION_CLOSE_OK, args: {} });
        this.writer.flush();
        this.teardown('closed by client');
        this.socket.end();
        return;
      case M_CONNECTION_CLOSE_OK:
        if (this.state === State.Closing) {
          this.teardown('closed');
          this.socket.end();
        }
        return;
      case M_CONNECTION_UPDATE_SECRET:
        if (this.state !== State.Open) return this.unexpected(m);
        this.writer.method(0, { id: M_CONNECTION_UPDATE_SECRET_OK, args: {} });
        return;
      default:
        return this.unexpected(m);
    }
  }

  private unexpected(m: AmqpMethod): void {
    if (this.state === State.Closing) return;
    this.fatal(ReplyCode.COMMAND_INVALID, `unexpected method '${methodName(m.id)}' on channel 0`, classIdOf(m.id), methodIdOf(m.id));
  }

  private authenticate(mechanism: string, response: Buffer): void {
    let credentials: { username: string; password: string } | null;
    if (mechanism === 'PLAIN') {
      const parts = response.toString('utf8').split('\0');
      credentials = parts.length === 3 ? { username: parts[1]!, password: parts[2]! } : null;
    } else if (mechanism === 'AMQPLAIN') {
      credentials = readAmqplain(response);
    } else if (mechanism === 'EXTERNAL' && this.certificateUser !== null) {
      // EXTERNAL: the certificate names the user (the response, an authorization identity, is ignored, as
      // RabbitMQ does); the user must exist and may have to come from loopback
      const name = this.certificateUser;
      const fromLoopback = this.isLoopback;
      return this.attemptLogin(mechanism, name, () => {
        const user = this.core.users.identity(name);
        return user === undefined || (user.loopbackOnly && !fromLoopback) ? undefined : user;
      });
    } else {
      return this.fatal(ReplyCode.COMMAND_INVALID, `unknown authentication mechanism '${mechanism}'`, 10, 11);
    }
    const fromLoopback = this.isLoopback;
    this.attemptLogin(mechanism, credentials?.username ?? '', () =>
      credentials === null ? undefined : this.core.authenticate(credentials.username, credentials.password, fromLoopback),
    );
  }

  /** the answer may be delayed (a source that failed often: core/login-guard.ts); frames meanwhile are unexpected */
  private attemptLogin(mechanism: string, username: string, check: () => UserConfig | undefined): void {
    this.state = State.Authenticating;
    this.cancelLogin = this.core.logins.attempt({ source: this.socket.remoteAddress, protocol: 'AMQP', mechanism, user: username }, check, (user) =>
      this.loginAnswered(mechanism, user),
    );
  }

  private loginAnswered(mechanism: string, user: UserConfig | undefined): void {
    this.cancelLogin = null;
    if (this.state !== State.Authenticating) return;
    if (user === undefined) return this.refuse(mechanism);
    this.user = user;
    this.state = State.AwaitTuneOk;
    this.writer.method(0, {
      id: M_CONNECTION_TUNE,
      args: { channelMax: this.limits.channelMax, frameMax: this.limits.frameMax, heartbeat: this.limits.heartbeatSeconds },
    });
  }

  /** 403 as RabbitMQ answers it; the login guard has logged the failure (one line per source, not per attempt) */
  private refuse(mechanism: string): void {
    this.fatal(ReplyCode.ACCESS_REFUSED, `Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`, 10, 11, false);
  }

  /**
   * A resource alarm changed. Clients that support it are told (connection.blocked / unblocked); a
   * connection that publishes while the alarm is on stops being read until it clears, as in RabbitMQ.
   */
  setBlocked(reason: string | null): void {
    if (reason === null && this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    if (this.state !== State.Open) return;
    const caps = this.clientProperties.capabilities as FieldTable | undefined;
    if (caps?.['connection.blocked'] !== true) return;
    if (reason !== null && !this.blockedNotified) {
      this.blockedNotified = true;
      this.writer.method(0, { id: M_CONNECTION_BLOCKED, args: { reason } });
    } else if (reason === null && this.blockedNotified) {
      this.blockedNotified = false;
      this.writer.method(0, { id: M_CONNECTION_UNBLOCKED, args: {} });
    }
  }

  /** a publish arrived while an alarm is on: stop reading this socket until the alarm clears */
  pausePublisher(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.socket.pause();
  }

  // ---------------------------------------------------------------- heartbeats

  private startHeartbeats(): void {
    if (this.heartbeatSeconds === 0) return;
    // tick at half the interval: send a heartbeat if we sent nothing; two silent intervals from the peer kill it
    const tickMs = (this.heartbeatSeconds * 1000) / 2;
    this.heartbeatTimer = setInterval(() => {
      if (!this.writer.sentSinceTick) this.writer.heartbeat();
      this.writer.sentSinceTick = false;
      if (this.receivedSinceTick) {
        this.missedTicks = 0;
        this.receivedSinceTick = false;
      } else if (++this.missedTicks >= 4) {
        this.logger.warn(`connection ${this.name}: missed heartbeats from client, timeout: ${this.heartbeatSeconds}s`);
        this.socket.destroy();
      }
    }, tickMs);
    this.heartbeatTimer.unref();
  }

  // ---------------------------------------------------------------- closing

  /** close the connection with a hard error (the spec's connection.close) */
  fatal(replyCode: number, text: string, classId: number, methodId: number, logged = true): void {
    if (this.state === State.Closing || this.state === State.Closed) return;
    const fullText = `${replyCodeName(replyCode)} - ${text}`;
    if (logged) this.logger.warn(`connection ${this.name}: closing with ${replyCode} ${fullText}`);
    else this.logger.debug(() => `connection ${this.name}: closing with ${replyCode} ${fullText}`);
    if (this.state === State.AwaitHeader) {
      this.socket.destroy();
      return;
    }
    this.state = State.Closing;
    this.writer.method(0, { id: M_CONNECTION_CLOSE, args: { replyCode, replyText: fullText.slice(0, 255), classId, methodId } });
    this.writer.flush();
    this.releaseChannels();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_OK_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  /** broker shutdown: 320 CONNECTION_FORCED */
  forceClose(text: string): void {
    if (this.state === State.Open || this.state === State.AwaitOpen || this.state === State.AwaitTuneOk) {
      this.fatal(ReplyCode.CONNECTION_FORCED, text, 0, 0);
    } else {
      this.socket.destroy();
    }
  }

  channelClosed(id: number): void {
    if (this.channels.delete(id)) this.core.stats.counters.channelClosed++;
  }

  // ---------------------------------------------------------------- management (ClientConnection)

  details(): ConnectionDetails {
    const s = this.socket;
    const blocked = this.readingPaused || this.blockedNotified;
    return {
      name: this.name,
      protocol: 'AMQP 0-9-1',
      user: this.user?.name ?? '',
      vhost: this.vhost?.name ?? '',
      host: s.localAddress ?? '',
      port: s.localPort ?? 0,
      peerHost: s.remoteAddress ?? '',
      peerPort: s.remotePort ?? 0,
      connectedAt: this.connectedAt,
      state: this.state === State.Open && blocked ? 'blocked' : STATE_NAMES[this.state]!,
      channels: this.channels.size,
      channelMax: this.channelMax,
      frameMax: this.frameMax,
      heartbeatSeconds: this.heartbeatSeconds,
      authMechanism: this.startMechanism,
      clientProperties: this.clientProperties,
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
    return [...this.channels.values()].map((ch) => ch.details());
  }

  closeByOperator(reason: string): void {
    this.forceClose(reason);
  }

  /** consumers on this connection may have credit again */
  resumeConsumers(): void {
    for (const ch of this.channels.values()) ch.resumeConsumers();
  }

  private releaseChannels(): void {
    this.core.stats.counters.channelClosed += this.channels.size;
    for (const ch of this.channels.values()) ch.release();
    this.channels.clear();
    if (this.vhost !== null) this.vhost.ownerGone(this);
  }

  private teardown(reason: string): void {
    if (this.state === State.Closed) return;
    const wasOpen = this.state === State.Open;
    this.state = State.Closed;
    this.writer.close();
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    if (this.cancelLogin !== null) this.cancelLogin();
    this.cancelLogin = null;
    this.releaseChannels();
    if (wasOpen) this.logger.debug(() => `connection ${this.name}: ${reason}`);
    this.onGone(this);
  }
}

/** LOGIN and PASSWORD of an AMQPLAIN response (a field table without its length prefix), or null when unreadable */
function readAmqplain(response: Buffer): { username: string; password: string } | null {
  let table: FieldTable;
  try {
    const framed = Buffer.allocUnsafe(response.length + 4);
    framed.writeUInt32BE(response.length, 0);
    response.copy(framed, 4);
    table = readTable(framed, 0)[0];
  } catch {
    return null;
  }
  return { username: String(table.LOGIN ?? ''), password: String(table.PASSWORD ?? '') };
}

function replyCodeName(code: number): string {
  for (const [name, value] of Object.entries(ReplyCode)) if (value === code) return name;
  return String(code);
}

export function serverProperties(): FieldTable {
  return {
    product: 'Postbox',
    version: '0.1.0',
    platform: `Node.js ${process.version}`,
    copyright: 'Postbox contributors',
    information: 'Postbox: an AMQP 0-9-1 and Kafka message broker',
    cluster_name: 'postbox',
    capabilities: {
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      consumer_priorities: true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: true,
    },
  };
}
