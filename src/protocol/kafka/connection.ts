/**
 * One Kafka connection: size-prefixed frames in, one response per request out (in request order), and a
 * handler per API key. This first slice serves ApiVersions and Metadata; the topic-backed APIs come with
 * the partition storage.
 *
 * Frame: | int32 size | request header + body (size bytes) |
 */
import type { Socket } from 'node:net';
import type { Logger } from '../../log/logger.js';
import { KafkaCodecError } from './codec.js';
import { decodeRequest, encodeResponse, FRAME_SIZE_BYTES, UnsupportedKafkaRequestError, type DecodedRequest } from './envelope.js';
import { API_VERSIONS_API, METADATA_API, type ApiVersionsResponse, type MetadataResponse } from './generated/messages.js';
import { KafkaErrorCode } from './errors.js';

/** Largest request accepted, bytes (Kafka's socket.request.max.bytes default, 100 MiB). */
export const MAX_REQUEST_BYTES = 100 * 1024 * 1024;

/** The versions this broker answers, per API; only APIs with a handler are advertised. */
export const ADVERTISED_APIS: ReadonlyArray<{ apiKey: number; minVersion: number; maxVersion: number }> = [
  { apiKey: API_VERSIONS_API.apiKey, minVersion: 0, maxVersion: 3 },
  // v10+ address topics by id; names are enough for the clients we serve
  { apiKey: METADATA_API.apiKey, minVersion: 0, maxVersion: 9 },
];

export interface KafkaBrokerIdentity {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly clusterId: string;
}

export class KafkaConnection {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed = false;
  readonly name: string;

  constructor(
    private readonly socket: Socket,
    private readonly identity: () => KafkaBrokerIdentity,
    private readonly logger: Logger,
  ) {
    this.name = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.logger.debug(() => `kafka connection ${this.name}: ${err.message}`));
    socket.on('close', () => (this.closed = true));
  }

  private onData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (!this.closed && this.pendingBytes >= FRAME_SIZE_BYTES) {
      const head = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [head];
      const size = head.readInt32BE(0);
      if (size < 0 || size > MAX_REQUEST_BYTES) {
        this.fail(`request size ${size} outside 0..${MAX_REQUEST_BYTES}`);
        return;
      }
      if (head.length < FRAME_SIZE_BYTES + size) return;
      const frame = head.subarray(FRAME_SIZE_BYTES, FRAME_SIZE_BYTES + size);
      const rest = head.subarray(FRAME_SIZE_BYTES + size);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Buffer): void {
    let request: DecodedRequest;
    try {
      request = decodeRequest(frame);
    } catch (err) {
      if (err instanceof UnsupportedKafkaRequestError && err.apiKey === API_VERSIONS_API.apiKey) {
        // the client asked for an ApiVersions version we do not know: answer with v0 and our versions
        this.socket.write(encodeResponse(API_VERSIONS_API.apiKey, 0, err.correlationId, this.apiVersions(KafkaErrorCode.UNSUPPORTED_VERSION)));
        return;
      }
      if (err instanceof UnsupportedKafkaRequestError || err instanceof KafkaCodecError) return this.fail(err.message);
      throw err;
    }
    const correlationId = request.header.correlationId;
    switch (request.apiKey) {
      case API_VERSIONS_API.apiKey:
        return this.reply(encodeResponse(request.apiKey, request.apiVersion, correlationId, this.apiVersions(KafkaErrorCode.NONE)));
      case METADATA_API.apiKey:
        return this.reply(encodeResponse(request.apiKey, request.apiVersion, correlationId, this.metadata(request.body.topics)));
      default:
        return this.fail(`${request.apiKey} v${request.apiVersion} is not served yet`);
    }
  }

  private reply(frame: Buffer): void {
    if (!this.closed) this.socket.write(frame);
  }

  private apiVersions(errorCode: number): ApiVersionsResponse {
    return {
      errorCode,
      apiKeys: ADVERTISED_APIS.map((a) => ({ ...a })),
      throttleTimeMs: 0,
      supportedFeatures: [],
      finalizedFeaturesEpoch: -1n,
      finalizedFeatures: [],
      zkMigrationReady: false,
    };
  }

  private metadata(requested: ReadonlyArray<{ name: string | null }> | null): MetadataResponse {
    const id = this.identity();
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: id.nodeId, host: id.host, port: id.port, rack: null }],
      clusterId: id.clusterId,
      controllerId: id.nodeId,
      // no topics exist yet: every named topic is unknown (auto-creation comes with partition storage)
      topics: (requested ?? []).map((t) => ({
        errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        name: t.name,
        topicId: Buffer.alloc(16),
        isInternal: false,
        partitions: [],
        topicAuthorizedOperations: -2147483648,
      })),
      clusterAuthorizedOperations: -2147483648,
    };
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
}
