/**
 * Kafka request and response framing around the generated message bodies: which header version goes with
 * which API version, decoding a whole request frame, and encoding a whole response frame in one allocation.
 *
 * Lives apart from ./codec.ts because it dispatches into ./generated/messages.ts, which itself imports the
 * primitives from ./codec.ts; keeping them apart keeps the imports one-way.
 *
 * On the wire a frame is | int32 size | header | body |, size counting header and body. `decodeRequest`
 * takes the bytes after the size (the connection's frame parser strips and bounds it); the `encode*`
 * functions return the whole frame, size included, ready to write to the socket.
 *
 * Request header v1 (non-flexible API versions):
 *   | int16 api_key | int16 api_version | int32 correlation_id | string client_id (nullable, int16 length) |
 * Request header v2 (flexible API versions): v1 followed by a tagged-field section. client_id keeps its
 *   int16 length even here, so a broker can read the header of any ApiVersions request, however new.
 * (Request header v0, without client_id, is only used by ControlledShutdown v0, which Postbox does not serve.)
 *
 * Response header v0: | int32 correlation_id |
 * Response header v1 (flexible API versions): v0 followed by a tagged-field section, EXCEPT for ApiVersions,
 *   whose response always uses v0: a client that sent a version the broker does not know must still be able
 *   to read the (v0) answer that says so.
 */
import { GatheringWriter, KafkaCodecError, KafkaReader, KafkaWriter, type FramePiece } from './codec.js';
import {
  API_VERSIONS_API,
  REQUEST_DECODERS,
  REQUEST_ENCODERS,
  RESPONSE_DECODERS,
  RESPONSE_ENCODERS,
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  isServedApiKey,
  kafkaApi,
  sizeRequestHeader,
  sizeResponseHeader,
  type KafkaRequests,
  type KafkaResponses,
  type RequestHeader,
  type ServedApiKey,
} from './generated/messages.js';

/** Bytes of the int32 size prefix in front of every frame. */
export const FRAME_SIZE_BYTES = 4;
/** Bytes every request header starts with: api key, api version, correlation id. */
const REQUEST_HEADER_FIXED_BYTES = 8;

/**
 * A well-formed request header naming an API or version this broker does not serve. The broker answers
 * an ApiVersions request with UNSUPPORTED_VERSION (using `correlationId`) and closes the connection
 * for anything else.
 */
export class UnsupportedKafkaRequestError extends Error {
  readonly reason: 'unknown-api-key' | 'unsupported-version';
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;

  constructor(reason: 'unknown-api-key' | 'unsupported-version', apiKey: number, apiVersion: number, correlationId: number) {
    super(
      reason === 'unknown-api-key'
        ? `unknown Kafka api key ${apiKey} (version ${apiVersion})`
        : `unsupported version ${apiVersion} of Kafka api key ${apiKey} (${kafkaApi(apiKey)?.name})`,
    );
    this.name = 'UnsupportedKafkaRequestError';
    this.reason = reason;
    this.apiKey = apiKey;
    this.apiVersion = apiVersion;
    this.correlationId = correlationId;
  }
}

function servedApi(apiKey: number) {
  const api = kafkaApi(apiKey);
  if (api === undefined) throw new RangeError(`Kafka api key ${apiKey} is not served`);
  return api;
}

/** Whether `apiVersion` of `apiKey` uses compact encodings and tagged fields. */
export function isFlexible(apiKey: number, apiVersion: number): boolean {
  const from = servedApi(apiKey).flexibleFrom;
  return from !== null && apiVersion >= from;
}

/** The request header version that goes with a request version: 2 when flexible, else 1. */
export function requestHeaderVersion(apiKey: number, apiVersion: number): 1 | 2 {
  return isFlexible(apiKey, apiVersion) ? 2 : 1;
}

/** The response header version that goes with a response version: 1 when flexible, else 0; ApiVersions always 0. */
export function responseHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 {
  if (apiKey === API_VERSIONS_API.apiKey) return 0;
  return isFlexible(apiKey, apiVersion) ? 1 : 0;
}

/** One decoded request; switch on `apiKey` to narrow `body`. */
export type DecodedRequest = {
  [K in ServedApiKey]: { apiKey: K; apiVersion: number; header: RequestHeader; body: KafkaRequests[K] };
}[ServedApiKey];

/**
 * Decodes one request frame (the bytes after the size prefix): header, then body, which must end exactly at
 * the end of the frame. Throws `UnsupportedKafkaRequestError` for an api key or version this broker does not
 * serve, and `KafkaCodecError` for anything malformed. Buffers in the result are views into `frame`.
 */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const r = new KafkaReader(frame);
  r.need(REQUEST_HEADER_FIXED_BYTES, 'request header');
  const apiKey = frame.readInt16BE(0);
  const apiVersion = frame.readInt16BE(2);
  const correlationId = frame.readInt32BE(4);
  if (!isServedApiKey(apiKey)) throw new UnsupportedKafkaRequestError('unknown-api-key', apiKey, apiVersion, correlationId);
  const api = servedApi(apiKey);
  if (apiVersion < api.minVersion || apiVersion > api.maxVersion) {
    throw new UnsupportedKafkaRequestError('unsupported-version', apiKey, apiVersion, correlationId);
  }
  let header: RequestHeader;
  try {
    header = decodeRequestHeader(r, requestHeaderVersion(apiKey, apiVersion));
  } catch (e) {
    throw withContext(e, `${api.name} v${apiVersion} request header`);
  }
  let body: KafkaRequests[ServedApiKey];
  try {
    body = REQUEST_DECODERS[apiKey](r, apiVersion);
  } catch (e) {
    throw withContext(e, `${api.name}Request v${apiVersion}`);
  }
  if (r.remaining !== 0) {
    throw new KafkaCodecError(`${api.name}Request v${apiVersion}: ${r.remaining} bytes left over after the body`);
  }
  return { apiKey, apiVersion, header, body } as DecodedRequest;
}

function withContext(e: unknown, what: string): unknown {
  return e instanceof KafkaCodecError ? new KafkaCodecError(`${what}: ${e.message}`) : e;
}

/** Byte fields at least this long (record batches read from a log) are sent as pieces, not copied. */
const GATHER_THRESHOLD_BYTES = 16 * 1024;

/** Writes a whole response frame (size prefix, header, body) of `size` body+header bytes into `w`. */
function writeResponse<K extends ServedApiKey>(
  w: KafkaWriter,
  size: number,
  apiKey: K,
  apiVersion: number,
  correlationId: number,
  body: KafkaResponses[K],
): void {
  w.int32(size);
  encodeResponseHeader(w, responseHeaderVersion(apiKey, apiVersion), { correlationId });
  RESPONSE_ENCODERS[apiKey].encode(w, apiVersion, body);
}

/** Bytes of a response's header and body (the frame's size prefix). */
function responseSize<K extends ServedApiKey>(apiKey: K, apiVersion: number, correlationId: number, body: KafkaResponses[K]): number {
  return sizeResponseHeader(responseHeaderVersion(apiKey, apiVersion), { correlationId }) + RESPONSE_ENCODERS[apiKey].size(apiVersion, body);
}

/**
 * Encodes a whole response frame (size prefix, header, body) into one buffer allocated at its final size.
 * `apiVersion` is the version of the request being answered.
 */
export function encodeResponse<K extends ServedApiKey>(apiKey: K, apiVersion: number, correlationId: number, body: KafkaResponses[K]): Buffer {
  const size = responseSize(apiKey, apiVersion, correlationId, body);
  const w = new KafkaWriter(FRAME_SIZE_BYTES + size);
  writeResponse(w, size, apiKey, apiVersion, correlationId, body);
  return w.finish();
}

/**
 * The same frame as encodeResponse(), as pieces to be written in order: byte fields of 16 KiB or more
 * (a Fetch response's record batches) are pieces of their own instead of being copied into the frame.
 */
export function encodeResponsePieces<K extends ServedApiKey>(apiKey: K, apiVersion: number, correlationId: number, body: KafkaResponses[K]): Buffer[] {
  const size = responseSize(apiKey, apiVersion, correlationId, body);
  const w = new GatheringWriter(FRAME_SIZE_BYTES + size, GATHER_THRESHOLD_BYTES);
  writeResponse(w, size, apiKey, apiVersion, correlationId, body);
  return w.finishPieces();
}

/**
 * The same frame as encodeResponsePieces(), where a body may carry streamed bytes (streamedBytes(), the
 * records of a Fetch answer still in their segment files): those are pieces of their own, ByteSources.
 */
export function encodeResponseFrame<K extends ServedApiKey>(apiKey: K, apiVersion: number, correlationId: number, body: KafkaResponses[K]): FramePiece[] {
  const size = responseSize(apiKey, apiVersion, correlationId, body);
  const w = new GatheringWriter(FRAME_SIZE_BYTES + size, GATHER_THRESHOLD_BYTES);
  writeResponse(w, size, apiKey, apiVersion, correlationId, body);
  return w.finishFrame();
}

/** Encodes a whole request frame (size prefix, header, body), as a client would: for tests and tools. */
export function encodeRequest<K extends ServedApiKey>(
  apiKey: K,
  apiVersion: number,
  correlationId: number,
  clientId: string | null,
  body: KafkaRequests[K],
): Buffer {
  const encoder = REQUEST_ENCODERS[apiKey];
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const header: RequestHeader = { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId };
  const size = sizeRequestHeader(headerVersion, header) + encoder.size(apiVersion, body);
  const w = new KafkaWriter(FRAME_SIZE_BYTES + size);
  w.int32(size);
  encodeRequestHeader(w, headerVersion, header);
  encoder.encode(w, apiVersion, body);
  return w.finish();
}

/**
 * Decodes a response frame (the bytes after the size prefix), as a client would: for tests and tools. A
 * response does not name its api key or version; the caller knows them from the request it sent.
 */
export function decodeResponse<K extends ServedApiKey>(apiKey: K, apiVersion: number, frame: Buffer): { correlationId: number; body: KafkaResponses[K] } {
  const r = new KafkaReader(frame);
  const api = servedApi(apiKey);
  try {
    const header = decodeResponseHeader(r, responseHeaderVersion(apiKey, apiVersion));
    const body = RESPONSE_DECODERS[apiKey](r, apiVersion);
    if (r.remaining !== 0) throw new KafkaCodecError(`${r.remaining} bytes left over after the body`);
    return { correlationId: header.correlationId, body };
  } catch (e) {
    throw withContext(e, `${api.name}Response v${apiVersion}`);
  }
}
