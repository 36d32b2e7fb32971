import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaCodecError, KafkaReader, KafkaWriter } from './codec.js';
import * as messages from './generated/messages.js';
import { MESSAGE_SCHEMAS, type MessageSchema } from './generated/schemas.js';
import { encodeWith, interpretEncode, sampleMessage, type Variant } from './test-samples.js';

type Value = Record<string, unknown>;
interface Codec {
  decode: (r: KafkaReader, version: number) => Value;
  size: (version: number, v: Value) => number;
  encode: (w: KafkaWriter, version: number, v: Value) => void;
}

/** The generated decode / size / encode functions of one message, found by name. */
function codecOf(schema: MessageSchema): Codec {
  const all = messages as unknown as Record<string, unknown>;
  const decode = all[`decode${schema.name}`];
  const size = all[`size${schema.name}`];
  const encode = all[`encode${schema.name}`];
  assert.equal(typeof decode, 'function', `decode${schema.name} is generated`);
  assert.equal(typeof size, 'function', `size${schema.name} is generated`);
  assert.equal(typeof encode, 'function', `encode${schema.name} is generated`);
  return { decode, size, encode } as Codec;
}

function versionsOf(schema: MessageSchema): number[] {
  const out: number[] = [];
  for (let v = schema.validVersions[0]; v <= schema.validVersions[1]; v++) out.push(v);
  return out;
}

const VARIANTS: Variant[] = ['values', 'nulls', 'defaults'];

test('every served API and the headers and consumer-protocol data types have generated codecs', () => {
  const names = new Set(MESSAGE_SCHEMAS.map((s) => s.name));
  for (const api of messages.KAFKA_APIS) {
    assert.ok(names.has(`${api.name}Request`), `${api.name}Request`);
    assert.ok(names.has(`${api.name}Response`), `${api.name}Response`);
  }
  for (const n of ['RequestHeader', 'ResponseHeader', 'ConsumerProtocolSubscription', 'ConsumerProtocolAssignment']) assert.ok(names.has(n), n);
  assert.equal(messages.KAFKA_APIS.length, 24);
  for (const s of MESSAGE_SCHEMAS) codecOf(s);
});

test('every message round-trips at every valid version, with values, with nulls and with defaults', () => {
  let cases = 0;
  for (const schema of MESSAGE_SCHEMAS) {
    const codec = codecOf(schema);
    for (const version of versionsOf(schema)) {
      for (const variant of VARIANTS) {
        const what = `${schema.name} v${version} (${variant})`;
        const sample = sampleMessage(schema, version, variant);
        const bytes = encodeWith(codec.size, codec.encode, version, sample);
        const r = new KafkaReader(bytes);
        const decoded = codec.decode(r, version);
        assert.equal(r.remaining, 0, `${what}: decoder consumed everything`);
        assert.deepStrictEqual(decoded, sample, what);
        assert.ok(encodeWith(codec.size, codec.encode, version, decoded).equals(bytes), `${what}: re-encodes to the same bytes`);
        cases++;
      }
    }
  }
  assert.ok(cases > 400, `${cases} cases`);
});

test('generated encoders agree byte for byte with an interpreter over the schema table', () => {
  for (const schema of MESSAGE_SCHEMAS) {
    const codec = codecOf(schema);
    for (const version of versionsOf(schema)) {
      for (const variant of VARIANTS) {
        const sample = sampleMessage(schema, version, variant);
        const generated = encodeWith(codec.size, codec.encode, version, sample);
        const interpreted = interpretEncode(schema, version, sample);
        assert.deepStrictEqual(generated, interpreted, `${schema.name} v${version} (${variant})`);
      }
    }
  }
});

test('flexible versions write tagged fields only when they differ from their default', () => {
  const schema = MESSAGE_SCHEMAS.find((s) => s.name === 'FetchRequest')!;
  const codec = codecOf(schema);
  const sample = sampleMessage(schema, 15, 'defaults') as unknown as messages.FetchRequest;
  const plain = encodeWith(codec.size, codec.encode, 15, sample as unknown as Value);
  const tagged = { ...sample, clusterId: 'c', replicaState: { replicaId: 3, replicaEpoch: 9n } };
  const withTags = encodeWith(codec.size, codec.encode, 15, tagged as unknown as Value);
  // one count byte becomes: count, (tag 0, size 2, compact "c"), (tag 1, size 13, int32, int64, no tags)
  assert.equal(withTags.length - plain.length, 4 + 15 - 0);
  assert.deepStrictEqual(codec.decode(new KafkaReader(withTags), 15), tagged);
  // version 14 has no tag 1: ReplicaState is not written and decodes as its default
  const v14 = encodeWith(codec.size, codec.encode, 14, tagged as unknown as Value);
  assert.deepStrictEqual(codec.decode(new KafkaReader(v14), 14), { ...tagged, replicaState: messages.defaultFetchRequestReplicaState() });
});

test('unknown tagged fields are skipped, in messages and in nested structs', () => {
  // ApiVersionsRequest v3: compact "a", compact "b", then a tag section holding an unknown tag 9
  const bytes = Buffer.from([0x02, 0x61, 0x02, 0x62, 0x01, 0x09, 0x03, 0xaa, 0xbb, 0xcc]);
  const r = new KafkaReader(bytes);
  assert.deepStrictEqual(messages.decodeApiVersionsRequest(r, 3), { clientSoftwareName: 'a', clientSoftwareVersion: 'b' });
  assert.equal(r.remaining, 0);
});

test('a known tagged field whose size disagrees with its value is refused', () => {
  // ApiVersionsResponse v3: error 0, no api keys, throttle 0, tag 1 (int64) declared with size 9
  const bytes = Buffer.from([0, 0, 0x01, 0, 0, 0, 0, 0x01, 0x01, 0x09, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.throws(() => messages.decodeApiVersionsResponse(new KafkaReader(bytes), 3), KafkaCodecError);
});

test('encoding a null into a version that cannot carry it is refused', () => {
  const body: messages.MetadataRequest = {
    topics: null,
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  };
  assert.throws(() => encodeWith(messages.sizeMetadataRequest, messages.encodeMetadataRequest, 0, body), KafkaCodecError);
  assert.equal(encodeWith(messages.sizeMetadataRequest, messages.encodeMetadataRequest, 1, body).toString('hex'), 'ffffffff');
});

test('truncating any encoded message at any byte throws KafkaCodecError', () => {
  let cuts = 0;
  for (const schema of MESSAGE_SCHEMAS) {
    const codec = codecOf(schema);
    for (const version of versionsOf(schema)) {
      const bytes = encodeWith(codec.size, codec.encode, version, sampleMessage(schema, version, 'values'));
      for (let cut = 0; cut < bytes.length; cut++) {
        const r = new KafkaReader(bytes.subarray(0, cut));
        assert.throws(
          () => codec.decode(r, version),
          (e: unknown) => e instanceof KafkaCodecError,
          `${schema.name} v${version} cut at ${cut} of ${bytes.length}`,
        );
        cuts++;
      }
    }
  }
  assert.ok(cuts > 10000, `${cuts} cuts`);
});

test('the per-API version constants come from the specs', () => {
  assert.deepStrictEqual({ ...messages.API_VERSIONS_API }, { apiKey: 18, name: 'ApiVersions', minVersion: 0, maxVersion: 4, flexibleFrom: 3 });
  assert.deepStrictEqual({ ...messages.SASL_HANDSHAKE_API }, { apiKey: 17, name: 'SaslHandshake', minVersion: 0, maxVersion: 1, flexibleFrom: null });
  assert.equal(messages.kafkaApi(3)?.name, 'Metadata');
  assert.equal(messages.kafkaApi(4), undefined);
  const keys = messages.KAFKA_APIS.map((a) => a.apiKey);
  assert.deepStrictEqual(
    keys,
    [...keys].sort((a, b) => a - b),
  );
  for (const api of messages.KAFKA_APIS) {
    assert.equal(typeof messages.REQUEST_DECODERS[api.apiKey as messages.ServedApiKey], 'function');
    assert.equal(typeof messages.RESPONSE_ENCODERS[api.apiKey as messages.ServedApiKey].encode, 'function');
  }
});
