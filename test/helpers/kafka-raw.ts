/**
 * A minimal Kafka client for wire tests: raw frames built with the broker's generated codecs, responses
 * matched by correlation id (several may be in flight), and record batches encoded and decoded by kafkajs's
 * own code (so the bytes are checked by a real client's parser, not by ours).
 */
import { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { decodeResponse, encodeRequest } from '../../src/protocol/kafka/envelope.js';
import { KafkaWriter } from '../../src/protocol/kafka/codec.js';
import {
  encodeConsumerProtocolAssignment,
  sizeConsumerProtocolAssignment,
  type KafkaRequests,
  type KafkaResponses,
  type ServedApiKey,
} from '../../src/protocol/kafka/generated/messages.js';

const require = createRequire(import.meta.url);
// kafkajs ships CommonJS internals: the decoder of a Fetch response's record set
const KafkajsDecoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages') as (decoder: unknown) => Promise<KafkajsRecord[]>;

const { RecordBatch: KafkajsRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (options: Record<string, unknown>) => Promise<{ buffer: Buffer }>;
};
const KafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (options: Record<string, unknown>) => unknown;
const KafkajsLong = require('kafkajs/src/utils/long.js') as { fromValue(v: bigint | number | string): unknown };

export interface BatchOptions {
  records: Array<{ key?: string | null; value: string | null; timestampDelta?: number }>;
  producerId?: bigint;
  producerEpoch?: number;
  firstSequence?: number;
  timestamp?: number;
}

/** One RecordBatch (magic 2, uncompressed), encoded by kafkajs's own encoder. */
export async function encodeBatch(options: BatchOptions): Promise<Buffer> {
  const timestamp = options.timestamp ?? Date.now();
  const records = options.records.map((r, i) =>
    KafkajsRecord({
      offsetDelta: i,
      timestampDelta: r.timestampDelta ?? 0,
      key: r.key === undefined || r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.from(r.value),
    }),
  );
  const encoded = await KafkajsRecordBatch({
    firstTimestamp: timestamp,
    maxTimestamp: timestamp + Math.max(0, ...options.records.map((r) => r.timestampDelta ?? 0)),
    lastOffsetDelta: records.length - 1,
    producerId: KafkajsLong.fromValue(String(options.producerId ?? -1n)),
    producerEpoch: options.producerEpoch ?? 0,
    firstSequence: options.firstSequence ?? 0,
    records,
  });
  return encoded.buffer;
}

interface KafkajsRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

export interface DecodedRecord {
  offset: bigint;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** Decodes a Fetch response's record set (concatenated batches) with kafkajs. */
export async function decodeRecords(records: Buffer | null): Promise<DecodedRecord[]> {
  if (records === null || records.length === 0) return [];
  const framed = Buffer.alloc(4 + records.length);
  framed.writeInt32BE(records.length, 0);
  records.copy(framed, 4);
  const decoded = await decodeMessages(new KafkajsDecoder(framed));
  return decoded.map((r) => ({
    offset: BigInt(r.offset),
    timestamp: Number(r.timestamp),
    key: r.key === null ? null : r.key.toString(),
    value: r.value === null ? null : r.value.toString(),
    headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, v.toString()])),
  }));
}

export class RawKafkaClient {
  private readonly socket = new Socket();
  private buffered = Buffer.alloc(0);
  private correlation = 1;
  private readonly waiting = new Map<number, { resolve: (frame: Buffer) => void; reject: (error: Error) => void }>();

  private constructor(readonly clientId: string) {}

  static async connect(port: number, clientId = 'raw-test', host = '127.0.0.1'): Promise<RawKafkaClient> {
    const client = new RawKafkaClient(clientId);
    await new Promise<void>((resolve, reject) => client.socket.connect(port, host, resolve).once('error', reject));
    client.socket.on('data', (chunk: Buffer) => client.onData(chunk));
    const failAll = (error: Error): void => {
      for (const w of client.waiting.values()) w.reject(error);
      client.waiting.clear();
    };
    client.socket.on('error', failAll);
    client.socket.on('close', () => failAll(new Error('connection closed')));
    return client;
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
      const size = this.buffered.readInt32BE(0);
      const frame = this.buffered.subarray(4, 4 + size);
      this.buffered = this.buffered.subarray(4 + size);
      const id = frame.readInt32BE(0);
      this.waiting.get(id)?.resolve(frame);
      this.waiting.delete(id);
    }
  }

  request<K extends ServedApiKey>(apiKey: K, version: number, body: KafkaRequests[K]): Promise<KafkaResponses[K]> {
    const id = this.correlation++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (frame) => {
          try {
            resolve(decodeResponse(apiKey, version, frame).body);
          } catch (err) {
            reject(err);
          }
        },
        reject,
      });
      this.socket.write(encodeRequest(apiKey, version, id, this.clientId, body));
    });
  }

  /** Fetch v11 of one partition from `offset`: the raw record set and the high watermark. */
  async fetch(
    topic: string,
    partition: number,
    offset: bigint,
    maxWaitMs = 0,
    maxBytes = 1 << 20,
  ): Promise<{ errorCode: number; highWatermark: bigint; logStartOffset: bigint; records: Buffer | null }> {
    const response = await this.request(1, 11, {
      clusterId: null,
      replicaId: -1,
      replicaState: { replicaId: -1, replicaEpoch: -1n },
      maxWaitMs,
      minBytes: 1,
      maxBytes,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic,
          topicId: Buffer.alloc(16),
          partitions: [
            {
              partition,
              currentLeaderEpoch: -1,
              fetchOffset: offset,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: maxBytes,
              replicaDirectoryId: Buffer.alloc(16),
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
    const p = response.responses[0]!.partitions[0]!;
    return { errorCode: p.errorCode, highWatermark: p.highWatermark, logStartOffset: p.logStartOffset, records: p.records };
  }

  /** Produce v7 of one record set to one partition: the partition's error code and base offset. */
  async produce(topic: string, partition: number, records: Buffer, acks = -1): Promise<{ errorCode: number; baseOffset: bigint }> {
    const response = await this.request(0, 7, {
      transactionalId: null,
      acks,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
    });
    const p = response.responses[0]!.partitionResponses[0]!;
    return { errorCode: p.errorCode, baseOffset: p.baseOffset };
  }

  /** Every record from `offset` to the high watermark (which may be fewer than the offsets: compaction leaves gaps). */
  async readToEnd(topic: string, partition: number, offset: bigint): Promise<DecodedRecord[]> {
    const out: DecodedRecord[] = [];
    let next = offset;
    for (;;) {
      const { errorCode, records, highWatermark } = await this.fetch(topic, partition, next, 0);
      if (errorCode !== 0) throw new Error(`fetch ${topic}-${partition}@${next}: error ${errorCode}`);
      const decoded = await decodeRecords(records);
      if (decoded.length === 0) return out;
      for (const r of decoded) {
        if (r.offset < next) continue;
        out.push(r);
        next = r.offset + 1n;
      }
      // a batch emptied of its last records by compaction ends before its offsets do
      if (next >= highWatermark) return out;
    }
  }

  /** Reads records from `offset` on until `count` were seen (records before `offset` in the first batch are skipped). */
  async readRecords(topic: string, partition: number, offset: bigint, count: number): Promise<DecodedRecord[]> {
    const out: DecodedRecord[] = [];
    let next = offset;
    for (let attempts = 0; out.length < count && attempts < 1000; attempts++) {
      const { errorCode, records } = await this.fetch(topic, partition, next, 200);
      if (errorCode !== 0) throw new Error(`fetch ${topic}-${partition}@${next}: error ${errorCode}`);
      for (const r of await decodeRecords(records)) {
        if (r.offset < next) continue;
        out.push(r);
        next = r.offset + 1n;
      }
    }
    return out.slice(0, count);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A ConsumerProtocolAssignment (version 0) as a consumer group leader sends it in SyncGroup. */
export function consumerAssignment(partitions: Record<string, number[]>): Buffer {
  const value = { assignedPartitions: Object.entries(partitions).map(([topic, p]) => ({ topic, partitions: p })), userData: null };
  const w = new KafkaWriter(2 + sizeConsumerProtocolAssignment(0, value));
  w.int16(0);
  encodeConsumerProtocolAssignment(w, 0, value);
  return w.finish();
}

/**
 * A Fetch (v11) body asking for `partitions` of `topic` from offset 0 (an index may be listed more than
 * once, as hostile clients do), with `maxBytes` as the request's and every partition's limit, no wait.
 */
export function fetchFromStart(topic: string, partitions: readonly number[], maxBytes: number) {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        topicId: Buffer.alloc(16),
        partitions: partitions.map((partition) => ({
          partition,
          currentLeaderEpoch: -1,
          fetchOffset: 0n,
          lastFetchedEpoch: -1,
          logStartOffset: -1n,
          partitionMaxBytes: maxBytes,
          replicaDirectoryId: Buffer.alloc(16),
        })),
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}

/** fetchFromStart as a whole request frame, for a raw socket. */
export function fetchFromStartFrame(correlationId: number, topic: string, partitions: readonly number[], maxBytes: number): Buffer {
  return encodeRequest(1, 11, correlationId, 'raw-fetch', fetchFromStart(topic, partitions, maxBytes));
}

/** A bare TCP connection to a Kafka port (errors ignored: attack tests close them at will). */
export async function rawKafkaSocket(port: number): Promise<Socket> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => socket.connect(port, '127.0.0.1', resolve).once('error', reject));
  socket.on('error', () => undefined);
  return socket;
}
