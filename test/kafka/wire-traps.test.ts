/**
 * Kafka wire behaviours that are easy to get subtly wrong: acks=0 has no response at all, the listener
 * answers on every configured address (IPv6 loopback too), Metadata advertises the configured host,
 * auto-creation can be turned off, and Metadata's null and empty topic lists mean different things by version.
 * Raw frames on loopback; records are encoded and decoded by kafkajs's own code (test/helpers/kafka-raw.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, Socket } from 'node:net';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { RawKafkaClient, decodeRecords, encodeBatch } from '../helpers/kafka-raw.js';
import { decodeResponse, encodeRequest } from '../../src/protocol/kafka/envelope.js';
import { DEFAULT_KAFKA_PARTITIONS } from '../../src/config/config.js';
import type { KafkaRequests, MetadataResponse } from '../../src/protocol/kafka/generated/messages.js';

const NONE = 0;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const PRODUCE = 0;
const FETCH = 1;
const METADATA = 3;
const API_VERSIONS = 18;
/** a guard against a hang, not a timing assertion */
const GUARD_MS = 10_000;

/** A raw Kafka socket that records every response frame in arrival order (to prove one never came). */
class FrameSocket {
  readonly frames: Buffer[] = [];
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        this.frames.push(this.buffered.subarray(4, 4 + size));
        this.buffered = this.buffered.subarray(4 + size);
      }
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(host: string, port: number): Promise<FrameSocket> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => socket.connect(port, host, resolve).once('error', reject));
    return new FrameSocket(socket);
  }

  /** all the frames are written in one write, so the broker sees them together */
  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** resolves once at least `count` response frames have arrived since the socket opened */
  async waitForFrames(count: number): Promise<Buffer[]> {
    const deadline = Date.now() + GUARD_MS;
    while (this.frames.length < count) {
      if (this.closed) throw new Error(`connection closed after ${this.frames.length} of ${count} responses`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} responses (got ${this.frames.length})`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
      this.wake = null;
    }
    return this.frames.slice(0, count);
  }

  close(): void {
    this.socket.destroy();
  }
}

function correlationIdOf(frame: Buffer): number {
  return frame.readInt32BE(0);
}

function produceRequest(topic: string, records: Buffer, acks: number): KafkaRequests[typeof PRODUCE] {
  return { transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] };
}

function fetchRequest(topic: string, offset: bigint): KafkaRequests[typeof FETCH] {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        topicId: Buffer.alloc(16),
        partitions: [
          {
            partition: 0,
            currentLeaderEpoch: -1,
            fetchOffset: offset,
            lastFetchedEpoch: -1,
            logStartOffset: -1n,
            partitionMaxBytes: 1 << 20,
            replicaDirectoryId: Buffer.alloc(16),
          },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}

/** Metadata for `topics` (null: every topic) at `version`, allowing auto-creation where the version can say so. */
function metadata(client: RawKafkaClient, version: number, topics: string[] | null, allowAutoTopicCreation = true): Promise<MetadataResponse> {
  return client.request(METADATA, version, {
    topics: topics === null ? null : topics.map((name) => ({ name, topicId: Buffer.alloc(16) })),
    allowAutoTopicCreation,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
}

function topicNames(response: MetadataResponse): string[] {
  return response.topics.map((t) => t.name ?? '<null>').sort();
}

/** Run `body` against a broker started with `options`, and a raw client on 127.0.0.1. */
async function withBroker(options: Parameters<typeof startTestBroker>[0], body: (broker: TestBroker, client: RawKafkaClient) => Promise<void>): Promise<void> {
  const broker = await startTestBroker(options);
  let client: RawKafkaClient | undefined;
  try {
    client = await RawKafkaClient.connect(broker.kafkaPort);
    await body(broker, client);
  } finally {
    client?.close();
    await broker.stop();
  }
}

/** Why IPv6 loopback cannot be tested here, or null when a server can listen on ::1. */
async function ipv6LoopbackProblem(): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(`cannot listen on ::1 on this machine (${err.code ?? err.message})`));
    server.listen(0, '::1', () => server.close(() => resolve(null)));
  });
}
const noIpv6 = await ipv6LoopbackProblem();

describe('acks=0', () => {
  test('a produce with acks=0 gets no response, and its records are appended', async () => {
    await withBroker({}, async (broker, client) => {
      const topic = 'acks-zero';
      // create the topic first, so the acks=0 produce cannot be refused for a missing topic
      assert.equal((await metadata(client, 4, [topic])).topics[0]!.errorCode, NONE);
      const socket = await FrameSocket.open('127.0.0.1', broker.kafkaPort);
      try {
        const records = await encodeBatch({ records: [{ value: 'zero-1' }, { value: 'zero-2' }, { value: 'zero-3' }] });
        socket.send(
          encodeRequest(PRODUCE, 7, 101, 'acks0', produceRequest(topic, records, 0)),
          encodeRequest(API_VERSIONS, 3, 102, 'acks0', { clientSoftwareName: 'raw', clientSoftwareVersion: '1' }),
          encodeRequest(METADATA, 1, 103, 'acks0', {
            topics: [{ name: topic, topicId: Buffer.alloc(16) }],
            allowAutoTopicCreation: true,
            includeClusterAuthorizedOperations: false,
            includeTopicAuthorizedOperations: false,
          }),
        );
        const first = await socket.waitForFrames(2);
        // responses leave in request order: had the produce been answered, its response would come first
        assert.deepEqual(first.map(correlationIdOf), [102, 103]);
        assert.equal(decodeResponse(API_VERSIONS, 3, first[0]!).body.errorCode, NONE);

        // an acks=1 produce on the same socket is answered, after the three acks=0 records
        socket.send(encodeRequest(PRODUCE, 7, 104, 'acks0', produceRequest(topic, await encodeBatch({ records: [{ value: 'one-1' }] }), 1)));
        const all = await socket.waitForFrames(3);
        assert.deepEqual(all.map(correlationIdOf), [102, 103, 104]);
        const produced = decodeResponse(PRODUCE, 7, all[2]!).body.responses[0]!.partitionResponses[0]!;
        assert.equal(produced.errorCode, NONE);
        assert.equal(produced.baseOffset, 3n);
      } finally {
        socket.close();
      }
      const fetched = await client.fetch(topic, 0, 0n);
      assert.equal(fetched.errorCode, NONE);
      assert.equal(fetched.highWatermark, 4n);
      assert.deepEqual(
        (await decodeRecords(fetched.records)).map((r) => [r.offset, r.value]),
        [
          [0n, 'zero-1'],
          [1n, 'zero-2'],
          [2n, 'zero-3'],
          [3n, 'one-1'],
        ],
      );
    });
  });
});

describe('listen addresses', () => {
  test('the Kafka listener answers on ::1 as well as 127.0.0.1, with one port', { skip: noIpv6 ?? false }, async () => {
    await withBroker({ hosts: ['127.0.0.1', '::1'] }, async (broker, client) => {
      const topic = 'over-ipv6';
      const socket = await FrameSocket.open('::1', broker.kafkaPort);
      try {
        socket.send(
          encodeRequest(METADATA, 9, 1, 'v6', {
            topics: [{ name: topic, topicId: Buffer.alloc(16) }],
            allowAutoTopicCreation: true,
            includeClusterAuthorizedOperations: false,
            includeTopicAuthorizedOperations: false,
          }),
        );
        const meta = decodeResponse(METADATA, 9, (await socket.waitForFrames(1))[0]!);
        assert.equal(meta.correlationId, 1);
        assert.equal(meta.body.topics[0]!.errorCode, NONE);
        // no advertised host: the first listen address, whichever address the client came in on
        assert.deepEqual(
          meta.body.brokers.map((b) => [b.host, b.port]),
          [['127.0.0.1', broker.kafkaPort]],
        );

        socket.send(encodeRequest(PRODUCE, 7, 2, 'v6', produceRequest(topic, await encodeBatch({ records: [{ key: 'k', value: 'via ::1' }] }), -1)));
        const produced = decodeResponse(PRODUCE, 7, (await socket.waitForFrames(2))[1]!);
        assert.equal(produced.correlationId, 2);
        assert.equal(produced.body.responses[0]!.partitionResponses[0]!.errorCode, NONE);

        socket.send(encodeRequest(FETCH, 11, 3, 'v6', fetchRequest(topic, 0n)));
        const fetched = decodeResponse(FETCH, 11, (await socket.waitForFrames(3))[2]!);
        assert.equal(fetched.correlationId, 3);
        const partition = fetched.body.responses[0]!.partitions[0]!;
        assert.equal(partition.errorCode, NONE);
        assert.deepEqual(
          (await decodeRecords(partition.records)).map((r) => [r.key, r.value]),
          [['k', 'via ::1']],
        );
      } finally {
        socket.close();
      }
      // the IPv4 listener shares the port and the data
      assert.deepEqual(
        (await client.readToEnd(topic, 0, 0n)).map((r) => r.value),
        ['via ::1'],
      );
    });
  });
});

describe('advertised host', () => {
  test('Metadata advertises the configured advertised host with the Kafka port', async () => {
    await withBroker({ advertisedHost: 'broker.example.test' }, async (broker, client) => {
      for (const version of [0, 1, 9]) {
        const response = await metadata(client, version, version === 0 ? [] : null);
        assert.deepEqual(
          response.brokers.map((b) => [b.nodeId, b.host, b.port]),
          [[0, 'broker.example.test', broker.kafkaPort]],
          `Metadata v${version}`,
        );
      }
    });
  });

  test('without an advertised host, Metadata advertises the first listen address', async () => {
    await withBroker({}, async (broker, client) => {
      const response = await metadata(client, 9, null);
      assert.deepEqual(
        response.brokers.map((b) => [b.host, b.port]),
        [['127.0.0.1', broker.kafkaPort]],
      );
    });
  });
});

describe('topic auto-creation', () => {
  test('with auto-creation off, Metadata and Produce for an unknown topic answer UNKNOWN_TOPIC_OR_PARTITION and create nothing', async () => {
    await withBroker({ kafkaAutoCreateTopics: false }, async (broker, client) => {
      const topic = 'never-created';
      // v1 (which always allows creation) and v4+ asking for it explicitly: both refused by the broker's setting
      for (const version of [1, 4, 9]) {
        const response = await metadata(client, version, [topic], true);
        assert.equal(response.topics.length, 1, `Metadata v${version}`);
        assert.equal(response.topics[0]!.name, topic);
        assert.equal(response.topics[0]!.errorCode, UNKNOWN_TOPIC_OR_PARTITION, `Metadata v${version}`);
        assert.deepEqual(response.topics[0]!.partitions, []);
      }
      for (const acks of [1, -1]) {
        const produced = await client.produce(topic, 0, await encodeBatch({ records: [{ value: 'refused' }] }), acks);
        assert.equal(produced.errorCode, UNKNOWN_TOPIC_OR_PARTITION, `produce acks=${acks}`);
      }
      assert.equal(broker.streams.topic(topic), undefined);
      assert.deepEqual(topicNames(await metadata(client, 1, null)), []);
      assert.equal((await client.fetch(topic, 0, 0n)).errorCode, UNKNOWN_TOPIC_OR_PARTITION);
    });
  });

  test('with auto-creation on (the default), Metadata for a new topic creates it with the default partition count', async () => {
    await withBroker({}, async (broker, client) => {
      assert.equal(broker.config.kafkaAutoCreateTopics, true);
      const response = await metadata(client, 9, ['made-by-metadata']);
      assert.equal(response.topics[0]!.errorCode, NONE);
      assert.equal(response.topics[0]!.partitions.length, DEFAULT_KAFKA_PARTITIONS);
      assert.deepEqual(topicNames(await metadata(client, 1, null)), ['made-by-metadata']);
    });
  });

  test('an auto-created topic gets the configured default partition count', async () => {
    await withBroker({ kafkaDefaultPartitions: 3 }, async (_broker, client) => {
      const response = await metadata(client, 4, ['three-partitions']);
      assert.equal(response.topics[0]!.errorCode, NONE);
      assert.deepEqual(response.topics[0]!.partitions.map((p) => p.partitionIndex).sort(), [0, 1, 2]);
      const produced = await client.produce('auto-by-produce', 2, await encodeBatch({ records: [{ value: 'p2' }] }), 1);
      assert.equal(produced.errorCode, NONE);
      assert.equal((await metadata(client, 4, ['auto-by-produce'], false)).topics[0]!.partitions.length, 3);
    });
  });
});

describe('Metadata topic lists', () => {
  test('Metadata v1+ lists every topic for a null topic list and none for an empty one; v0 lists every topic for an empty one', async () => {
    await withBroker({}, async (broker, client) => {
      for (const name of ['alpha', 'beta']) assert.equal((await metadata(client, 4, [name])).topics[0]!.errorCode, NONE);
      for (const version of [1, 4, 9]) {
        assert.deepEqual(topicNames(await metadata(client, version, null)), ['alpha', 'beta'], `v${version} null`);
        const none = await metadata(client, version, []);
        assert.deepEqual(none.topics, [], `v${version} []`);
        // the cluster is still described
        assert.deepEqual(
          none.brokers.map((b) => b.port),
          [broker.kafkaPort],
        );
      }
      assert.deepEqual(topicNames(await metadata(client, 0, [])), ['alpha', 'beta'], 'v0 []');
      // an explicit list names only those topics, at any version
      assert.deepEqual(topicNames(await metadata(client, 0, ['beta'])), ['beta']);
      assert.deepEqual(topicNames(await metadata(client, 9, ['alpha'])), ['alpha']);
      // listing every topic creates nothing
      assert.deepEqual([...broker.streams.topics()].map((t) => t.name).sort(), ['alpha', 'beta']);
    });
  });
});
