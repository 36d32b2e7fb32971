import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatheringWriter, KafkaCodecError } from './codec.js';
import {
  UnsupportedKafkaRequestError,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeResponsePieces,
  requestHeaderVersion,
  responseHeaderVersion,
} from './envelope.js';
import { ApiKey, KAFKA_APIS, REQUEST_ENCODERS, type MetadataRequest, type ServedApiKey } from './generated/messages.js';
import { MESSAGE_SCHEMAS } from './generated/schemas.js';
import { sampleMessage } from './test-samples.js';
import { seededRandom as prng } from '../../util/seeded-random.js';

const hex = (s: string) => Buffer.from(s.replace(/[\s|]+/g, ''), 'hex');
/** The frame without its int32 size prefix, as the connection's frame parser hands it over. */
const unframed = (frame: Buffer) => {
  assert.equal(frame.readInt32BE(0), frame.length - 4, 'size prefix counts the rest of the frame');
  return frame.subarray(4);
};

// ---------------------------------------------------------------------------------------------------------
// Bytes worked out by hand from the protocol guide
// ---------------------------------------------------------------------------------------------------------

test('ApiVersions v0 request: header v1 and an empty body', () => {
  const frame = encodeRequest(ApiKey.ApiVersions, 0, 1, 'ab', { clientSoftwareName: '', clientSoftwareVersion: '' });
  // size 12 | api key 18 | version 0 | correlation 1 | client id "ab" (int16 length)
  assert.deepStrictEqual(frame, hex('0000000c | 0012 | 0000 | 00000001 | 0002 6162'));
  const req = decodeRequest(unframed(frame));
  assert.equal(req.apiKey, 18);
  assert.deepStrictEqual(req.header, { requestApiKey: 18, requestApiVersion: 0, correlationId: 1, clientId: 'ab' });
  assert.deepStrictEqual(req.body, { clientSoftwareName: '', clientSoftwareVersion: '' });
});

test('ApiVersions v3 request: header v2 keeps a non-compact client id, then compact strings and tag sections', () => {
  const frame = encodeRequest(ApiKey.ApiVersions, 3, 7, 'ab', { clientSoftwareName: 'pb', clientSoftwareVersion: '1.0' });
  assert.deepStrictEqual(
    frame,
    // size 21 | 18 | v3 | corr 7 | "ab" int16 length | no header tags | "pb" compact | "1.0" compact | no tags
    hex('00000015 | 0012 0003 00000007 0002 6162 00 | 03 7062 | 04 312e30 | 00'),
  );
  const req = decodeRequest(unframed(frame));
  assert.deepStrictEqual(req.header, { requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: 'ab' });
  assert.deepStrictEqual(req.body, { clientSoftwareName: 'pb', clientSoftwareVersion: '1.0' });
});

test('a null client id is written as int16 -1 in both request header versions', () => {
  const v0 = encodeRequest(ApiKey.ApiVersions, 0, 2, null, { clientSoftwareName: '', clientSoftwareVersion: '' });
  assert.deepStrictEqual(v0, hex('0000000a 0012 0000 00000002 ffff'));
  assert.equal(decodeRequest(unframed(v0)).header.clientId, null);
  const v3 = encodeRequest(ApiKey.ApiVersions, 3, 2, null, { clientSoftwareName: '', clientSoftwareVersion: '' });
  assert.deepStrictEqual(v3, hex('0000000e 0012 0003 00000002 ffff 00 | 01 01 00'));
});

test('ApiVersions v0 response: header v0 and int32-counted api keys, no throttle time', () => {
  const frame = encodeResponse(ApiKey.ApiVersions, 0, 7, {
    errorCode: 0,
    apiKeys: [
      { apiKey: 18, minVersion: 0, maxVersion: 4 },
      { apiKey: 3, minVersion: 0, maxVersion: 12 },
    ],
    throttleTimeMs: 0,
    supportedFeatures: [],
    finalizedFeaturesEpoch: -1n,
    finalizedFeatures: [],
    zkMigrationReady: false,
  });
  assert.deepStrictEqual(frame, hex('00000016 | 00000007 | 0000 | 00000002 | 0012 0000 0004 | 0003 0000 000c'));
  const res = decodeResponse(ApiKey.ApiVersions, 0, unframed(frame));
  assert.equal(res.correlationId, 7);
  assert.equal(res.body.apiKeys.length, 2);
});

test('ApiVersions v3 response: flexible body but response header v0 (no header tag section)', () => {
  const body = {
    errorCode: 0,
    apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
    throttleTimeMs: 0,
    supportedFeatures: [],
    finalizedFeaturesEpoch: 5n,
    finalizedFeatures: [],
    zkMigrationReady: false,
  };
  const frame = encodeResponse(ApiKey.ApiVersions, 3, 7, body);
  assert.deepStrictEqual(
    frame,
    // size 29 | corr 7 | error 0 | compact count 1 | key 18 min 0 max 4, no tags | throttle 0 |
    // one tagged field: tag 1, 8 bytes, int64 5
    hex('0000001d | 00000007 | 0000 | 02 | 0012 0000 0004 00 | 00000000 | 01 | 01 08 0000000000000005'),
  );
  assert.deepStrictEqual(decodeResponse(ApiKey.ApiVersions, 3, unframed(frame)).body, body);
});

test('Metadata v0 request: int32-counted topic names', () => {
  const body: MetadataRequest = {
    topics: [
      { topicId: Buffer.alloc(16), name: 't1' },
      { topicId: Buffer.alloc(16), name: 't2' },
    ],
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  };
  const frame = encodeRequest(ApiKey.Metadata, 0, 1, 'ab', body);
  assert.deepStrictEqual(frame, hex('00000018 | 0003 0000 00000001 0002 6162 | 00000002 | 0002 7431 | 0002 7432'));
  const req = decodeRequest(unframed(frame));
  assert.equal(req.apiKey, ApiKey.Metadata);
  assert.deepStrictEqual(req.body, body);
});

test('flexible responses other than ApiVersions carry a header tag section', () => {
  const frame = encodeResponse(ApiKey.Heartbeat, 4, 9, { throttleTimeMs: 0, errorCode: 0 });
  // size 12 | corr 9 | header tags | throttle | error | body tags
  assert.deepStrictEqual(frame, hex('0000000c | 00000009 | 00 | 00000000 | 0000 | 00'));
});

// ---------------------------------------------------------------------------------------------------------
// Header versions and dispatch
// ---------------------------------------------------------------------------------------------------------

test('header versions follow the flexible versions, and ApiVersions responses always use header v0', () => {
  assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 2), 1);
  assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 3), 2);
  assert.equal(requestHeaderVersion(ApiKey.SaslHandshake, 1), 1);
  assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 0), 0);
  assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 3), 0);
  assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 4), 0);
  assert.equal(responseHeaderVersion(ApiKey.Metadata, 8), 0);
  assert.equal(responseHeaderVersion(ApiKey.Metadata, 9), 1);
  assert.equal(responseHeaderVersion(ApiKey.Fetch, 12), 1);
  assert.throws(() => responseHeaderVersion(4, 0), RangeError);
});

test('an unknown api key is a typed error carrying the correlation id', () => {
  const frame = hex('0004 0001 0000002a 0000');
  assert.throws(
    () => decodeRequest(frame),
    (e: unknown) => e instanceof UnsupportedKafkaRequestError && e.reason === 'unknown-api-key' && e.apiKey === 4 && e.correlationId === 42,
  );
});

test('an unsupported version is a typed error carrying what the broker needs to answer ApiVersions', () => {
  for (const version of [5, 0x7fff, -1]) {
    const frame = Buffer.concat([hex('0012'), Buffer.from([(version >> 8) & 0xff, version & 0xff]), hex('0000002b 0000 00 00 00 00')]);
    assert.throws(
      () => decodeRequest(frame),
      (e: unknown) =>
        e instanceof UnsupportedKafkaRequestError &&
        e.reason === 'unsupported-version' &&
        e.apiKey === 18 &&
        e.apiVersion === version &&
        e.correlationId === 43,
    );
  }
});

test('a request with bytes after its body is refused', () => {
  const frame = unframed(encodeRequest(ApiKey.ApiVersions, 0, 1, 'ab', { clientSoftwareName: '', clientSoftwareVersion: '' }));
  assert.throws(() => decodeRequest(Buffer.concat([frame, hex('00')])), /1 bytes left over/);
});

test('a header shorter than eight bytes is a codec error', () => {
  for (let n = 0; n < 8; n++) assert.throws(() => decodeRequest(Buffer.alloc(n)), KafkaCodecError);
});

test('every served request round-trips through encodeRequest and decodeRequest at every version', () => {
  for (const api of KAFKA_APIS) {
    const schema = MESSAGE_SCHEMAS.find((s) => s.name === `${api.name}Request`)!;
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const body = sampleMessage(schema, v, 'values');
      const frame = encodeRequest(api.apiKey as ServedApiKey, v, 1234, 'client-é', body as never);
      const req = decodeRequest(unframed(frame));
      assert.equal(req.apiKey, api.apiKey);
      assert.equal(req.apiVersion, v);
      assert.deepStrictEqual(req.header, { requestApiKey: api.apiKey, requestApiVersion: v, correlationId: 1234, clientId: 'client-é' });
      assert.deepStrictEqual(req.body, body, `${api.name} v${v}`);
      // truncating the frame anywhere is a codec error, header included
      const inner = unframed(frame);
      for (let cut = 0; cut < inner.length; cut++) {
        assert.throws(() => decodeRequest(inner.subarray(0, cut)), KafkaCodecError, `${api.name} v${v} cut at ${cut}`);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// Fuzz
// ---------------------------------------------------------------------------------------------------------

/** decodeRequest either decodes or throws one of its two error types; a decoded body re-encodes. */
function mustBehave(frame: Buffer, what: string): boolean {
  let req;
  try {
    req = decodeRequest(frame);
  } catch (e) {
    if (e instanceof KafkaCodecError || e instanceof UnsupportedKafkaRequestError) return false;
    assert.fail(`${what}: threw ${(e as Error)?.stack ?? e}`);
  }
  try {
    encodeRequest(req.apiKey, req.apiVersion, req.header.correlationId, req.header.clientId, req.body as never);
  } catch (e) {
    // a decoded string can grow past the 32767-byte limit when invalid UTF-8 becomes U+FFFD
    if (!(e instanceof KafkaCodecError)) assert.fail(`${what}: re-encoding threw ${(e as Error)?.stack ?? e}`);
  }
  return true;
}

test('random bytes into decodeRequest only ever decode or throw the two typed errors', { timeout: 120_000 }, () => {
  const seed = 0x5eed;
  const rand = prng(seed);
  const byte = () => Math.floor(rand() * 256);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(rand() * items.length)];
    assert.ok(item !== undefined, 'pick from a non-empty list');
    return item;
  };
  const apis = KAFKA_APIS;
  let decoded = 0;

  // 1. pure noise
  for (let i = 0; i < 5000; i++) {
    const frame = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, byte));
    if (mustBehave(frame, `seed ${seed} noise #${i}`)) decoded++;
  }

  // 2. a valid header for a served API and version, then noise
  for (let i = 0; i < 20000; i++) {
    const api = pick(apis);
    const version = api.minVersion + Math.floor(rand() * (api.maxVersion - api.minVersion + 1));
    const head = Buffer.alloc(10);
    head.writeInt16BE(api.apiKey, 0);
    head.writeInt16BE(version, 2);
    head.writeInt32BE(i, 4);
    head.writeInt16BE(rand() < 0.5 ? -1 : 0, 8);
    const tail = Buffer.from(Array.from({ length: Math.floor(rand() * 48) }, () => (rand() < 0.5 ? 0 : byte())));
    if (mustBehave(Buffer.concat([head, tail]), `seed ${seed} header+noise #${i}`)) decoded++;
  }

  // 3. valid requests with a few bytes changed, cut or inserted
  const valid: Buffer[] = [];
  for (const api of apis) {
    const schema = MESSAGE_SCHEMAS.find((s) => s.name === `${api.name}Request`)!;
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const body = sampleMessage(schema, v, rand() < 0.5 ? 'values' : 'nulls');
      valid.push(unframed(encodeRequest(api.apiKey as ServedApiKey, v, 1, 'fuzz', body as never)));
    }
  }
  const SPECIAL = [0x00, 0x01, 0x7f, 0x80, 0xff];
  for (let i = 0; i < 30000; i++) {
    let frame = Buffer.from(pick(valid));
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits && frame.length > 0; e++) {
      const at = Math.floor(rand() * frame.length);
      const kind = rand();
      if (kind < 0.5) frame[at] = rand() < 0.5 ? byte() : pick(SPECIAL);
      else if (kind < 0.7) frame = frame.subarray(0, at);
      else if (kind < 0.85) frame = Buffer.concat([frame.subarray(0, at), Buffer.from([byte()]), frame.subarray(at)]);
      else frame = Buffer.concat([frame.subarray(0, at), frame.subarray(at + 1)]);
    }
    if (mustBehave(frame, `seed ${seed} mutation #${i}`)) decoded++;
  }
  assert.ok(decoded > 0, 'some fuzzed frames still decode');
});

test('request encoders exist for every served API', () => {
  for (const api of KAFKA_APIS) assert.equal(typeof REQUEST_ENCODERS[api.apiKey as ServedApiKey].size, 'function');
});

// ---------------------------------------------------------------------------------------------------------
// Responses as pieces (record batches not copied)
// ---------------------------------------------------------------------------------------------------------

function fetchResponseWith(records: Array<Buffer | null>): Parameters<typeof encodeResponse<typeof ApiKey.Fetch>>[3] {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: 'orders',
        topicId: Buffer.alloc(16),
        partitions: records.map((r, partitionIndex) => ({
          partitionIndex,
          errorCode: 0,
          highWatermark: 10n,
          lastStableOffset: 10n,
          logStartOffset: 0n,
          divergingEpoch: { epoch: -1, endOffset: -1n },
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
          snapshotId: { endOffset: -1n, epoch: -1 },
          abortedTransactions: [],
          preferredReadReplica: -1,
          records: r,
        })),
      },
    ],
    nodeEndpoints: [],
  };
}

test('a Fetch response as pieces is byte for byte the single-buffer frame, with large record sets sent as they are', () => {
  const big = Buffer.alloc(100_000, 7);
  const big2 = Buffer.alloc(40_000, 9);
  const small = Buffer.alloc(100, 3);
  for (const version of [4, 11, 12]) {
    const body = fetchResponseWith([big, small, null, big2]);
    const pieces = encodeResponsePieces(ApiKey.Fetch, version, 77, body);
    assert.deepEqual(Buffer.concat(pieces), encodeResponse(ApiKey.Fetch, version, 77, body), `v${version}`);
    // the large record sets are the very buffers given, not copies; the small one is copied into a chunk
    assert.ok(pieces.includes(big) && pieces.includes(big2), `v${version}: large records are pieces of their own`);
    assert.ok(!pieces.includes(small));
  }
  // a small response is a single piece
  const one = encodeResponsePieces(ApiKey.Fetch, 12, 1, fetchResponseWith([small]));
  assert.equal(one.length, 1);
});

test('a GatheringWriter fails loudly when the size was under- or over-counted, across chunk boundaries', () => {
  const under = new GatheringWriter(40_000, 1024);
  under.raw(Buffer.alloc(30_000));
  assert.throws(() => under.raw(Buffer.alloc(20_000)), KafkaCodecError);
  const under2 = new GatheringWriter(20_000, 1 << 30);
  under2.raw(Buffer.alloc(19_999));
  assert.throws(() => under2.int32(1), KafkaCodecError);
  const over = new GatheringWriter(50_000, 1024);
  over.raw(Buffer.alloc(30_000));
  over.int64(1n);
  assert.throws(() => over.finishPieces(), KafkaCodecError);
  // many small writes spanning several 16 KiB chunks come out in order
  const exact = new GatheringWriter(4 * 20_000, 1 << 30);
  for (let i = 0; i < 20_000; i++) exact.int32(i);
  const joined = Buffer.concat(exact.finishPieces());
  for (let i = 0; i < 20_000; i++) assert.equal(joined.readInt32BE(4 * i), i);
});
