/**
 * The broker's TLS certificates: one set (certificate with its chain, key, CA certificates) shared by every
 * TLS listener (AMQP, the management HTTP API, Kafka), and reloaded without a restart.
 *
 * Loading: the PEM files are read and a secure context is built from them once at start (a missing file or
 * a key that does not match the certificate stops the start with one line naming the file's flag). TLS 1.2
 * is the oldest version offered; Node offers 1.3 too.
 *
 * Reloading (reload()): on SIGHUP (the `postbox serve` process forwards it) and when one of the files
 * changes. Changes are found by polling the files' metadata every TLS_FILE_POLL_MS (fs.watchFile): unlike
 * an inotify watch on the file, polling survives the file being replaced by a rename (how editors,
 * certbot and Kubernetes secret mounts update files). A change is acted on TLS_RELOAD_SETTLE_MS after the
 * last one, so a certificate and key written one after the other are read as a pair. The new files are
 * checked by building a context from them; only then is every TLS server given it
 * (`server.setSecureContext`): a new connection gets the new certificate, an open one keeps the context it
 * was made with. A file that cannot be read or parsed, or a key that does not match, is logged in one line
 * and the current certificates are kept.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, TLSSocket, type SecureContextOptions, type Server as TlsServer, type TlsOptions } from 'node:tls';
import { StartupError } from './startup-error.js';

/** Oldest TLS version accepted: TLS 1.0 and 1.1 are deprecated (RFC 8996). */
export const TLS_MIN_VERSION = 'TLSv1.2';
/** How often the certificate files' metadata is polled for a change, ms: a stat of three files, cheap. */
export const TLS_FILE_POLL_MS = 2000;
/** Quiet time after the last file change before reloading, ms: lets a cert and key written in turn land together. */
export const TLS_RELOAD_SETTLE_MS = 250;

export interface TlsFiles {
  /** PEM: the server certificate, then any intermediate CA certificates */
  readonly cert: string;
  /** PEM: its private key */
  readonly key: string;
  /** PEM: CA certificates client certificates are verified against ('' = none) */
  readonly ca: string;
  /** ask every client for a certificate and refuse one without a valid one */
  readonly verifyPeer: boolean;
  /** time a client has to finish the TLS handshake, ms */
  readonly handshakeTimeoutMs: number;
}

/** A short description of a certificate for the log: subject, serial, expiry. */
export function describeCertificate(pem: Buffer): string {
  const cert = new X509Certificate(pem);
  return `${cert.subject.replace(/\n/g, ', ')} (serial ${cert.serialNumber}, valid until ${cert.validTo})`;
}

class TlsFileError extends Error {
  constructor(
    readonly flag: string,
    readonly path: string,
    reason: string,
  ) {
    super(`${flag} ${path}: ${reason}`);
  }
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsFileError(flag, path, e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message);
  }
}

function tryContext(flag: string, path: string, options: SecureContextOptions): void {
  try {
    createSecureContext(options);
    if (options.cert !== undefined && options.key === undefined) new X509Certificate(options.cert as Buffer);
  } catch (err) {
    throw new TlsFileError(flag, path, (err as Error).message);
  }
}

/** Read the files and check that they make a context (valid PEM, a key matching the certificate). */
function loadContextOptions(files: TlsFiles): SecureContextOptions {
  const cert = readPem('--tls-cert', files.cert);
  const key = readPem('--tls-key', files.key);
  const ca = files.ca === '' ? undefined : readPem('--tls-ca', files.ca);
  // each file alone first, so a bad one is named; then together (does the key match the certificate?)
  tryContext('--tls-cert', files.cert, { cert });
  tryContext('--tls-key', files.key, { key });
  if (ca !== undefined) tryContext('--tls-ca', files.ca, { ca });
  const options: SecureContextOptions = { cert, key, ca, minVersion: TLS_MIN_VERSION };
  tryContext('--tls-key', files.key, options);
  return options;
}

export class TlsCertificates {
  private options: SecureContextOptions;
  private readonly servers = new Set<TlsServer>();
  private settleTimer: NodeJS.Timeout | null = null;
  private watching = false;
  /** reloads that took effect (for tests and the log) */
  reloads = 0;

  /** Load the files; a problem is a StartupError naming the file and its flag. */
  constructor(
    readonly files: TlsFiles,
    private readonly log: { info(line: string): void; warn(line: string): void },
  ) {
    try {
      this.options = loadContextOptions(files);
    } catch (err) {
      throw new StartupError(`cannot load the TLS certificate: ${(err as Error).message}`);
    }
  }

  /** Options for tls.createServer / https.createServer of a TLS listener. */
  serverOptions(): TlsOptions {
    return {
      ...this.options,
      requestCert: this.files.verifyPeer,
      rejectUnauthorized: this.files.verifyPeer,
      handshakeTimeout: this.files.handshakeTimeoutMs,
    };
  }

  /**
   * A TLS listener's server, made ready: a failed handshake is logged in one line (`label` names the
   * listener) and its socket closed, and the server gets every reloaded context from now on.
   */
  listener<S extends TlsServer>(server: S, label: string, warn: (line: string) => void): S {
    closeFailedHandshakes(server, label, warn);
    this.servers.add(server);
    return server;
  }

  get certificate(): string {
    return describeCertificate(this.options.cert as Buffer);
  }

  /** Read the files again and hand the new context to every TLS server; false (logged) when they are unusable. */
  reload(reason: string): boolean {
    let options: SecureContextOptions;
    try {
      options = loadContextOptions(this.files);
    } catch (err) {
      this.log.warn(`TLS certificates not reloaded (${reason}): ${(err as Error).message}; keeping the current ones`);
      return false;
    }
    this.options = options;
    for (const server of this.servers) server.setSecureContext(options);
    this.reloads++;
    this.log.info(`TLS certificates reloaded (${reason}): ${this.certificate}`);
    return true;
  }

  /** Poll the files for changes (see the top of this file). */
  watch(): void {
    if (this.watching) return;
    this.watching = true;
    for (const path of this.paths()) watchFile(path, { interval: TLS_FILE_POLL_MS, persistent: false }, this.onFileChange);
  }

  private readonly onFileChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.reload('a certificate file changed');
    }, TLS_RELOAD_SETTLE_MS);
    this.settleTimer.unref();
  };

  private paths(): string[] {
    return [this.files.cert, this.files.key, ...(this.files.ca === '' ? [] : [this.files.ca])];
  }

  close(): void {
    if (this.watching) for (const path of this.paths()) unwatchFile(path, this.onFileChange);
    this.watching = false;
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.servers.clear();
  }
}

/**
 * The user a TLS connection's client certificate names: its subject's CN, when the certificate was
 * verified against --tls-ca (the listener verifies peers); null for a plain socket, no certificate, an
 * unverified one, or a subject with no CN or several.
 */
export function certificateUser(socket: unknown): string | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const cn = socket.getPeerCertificate().subject?.CN as unknown;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}

/**
 * Log a failed TLS handshake in one line and close its socket. A server with a 'tlsClientError' listener
 * leaves the socket to it: without the destroy() a client whose handshake timed out would keep its socket.
 */
function closeFailedHandshakes(server: TlsServer, label: string, warn: (line: string) => void): void {
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    const peer = socket.remoteAddress === undefined ? 'a client' : `${socket.remoteAddress}:${socket.remotePort}`;
    warn(`${label}: TLS handshake with ${peer} failed: ${err.message}`);
    socket.destroy();
  });
}

/** What the management API shows of a TLS connection (RabbitMQ's ssl_* and peer_cert_* connection fields). */
export interface TlsConnectionInfo {
  /** e.g. 'TLSv1.3' */
  readonly protocol: string;
  /** the cipher suite's standard name, e.g. 'TLS_AES_256_GCM_SHA384' */
  readonly cipher: string;
  /** the client certificate's subject, issuer and validity, when it sent one ('' otherwise) */
  readonly peerCertSubject: string;
  readonly peerCertIssuer: string;
  readonly peerCertValidity: string;
}

function distinguishedName(fields: Record<string, unknown> | undefined): string {
  if (fields === undefined) return '';
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(',');
}

/** The TLS facts of a connection's socket; null for a plain socket. */
export function tlsConnectionInfo(socket: unknown): TlsConnectionInfo | null {
  if (!(socket instanceof TLSSocket)) return null;
  const cipher = socket.getCipher() as { standardName?: string; name?: string } | undefined;
  const peer = socket.getPeerCertificate();
  const hasPeer = peer !== undefined && peer !== null && Object.keys(peer).length > 0;
  return {
    protocol: socket.getProtocol() ?? '',
    cipher: cipher?.standardName ?? cipher?.name ?? '',
    peerCertSubject: hasPeer ? distinguishedName(peer.subject as unknown as Record<string, unknown>) : '',
    peerCertIssuer: hasPeer ? distinguishedName(peer.issuer as unknown as Record<string, unknown>) : '',
    peerCertValidity: hasPeer ? `${peer.valid_from} - ${peer.valid_to}` : '',
  };
}
