/**
 * Fetch and ListOffsets.
 *
 * Fetch returns, per partition, whole batches starting with the one that holds the fetch offset (a
 * consumer skips the records before its offset itself, as with Kafka), below the partition's high
 * watermark (the durable end). When fewer than minBytes are ready it waits up to maxWaitMs for appends
 * to become durable on any of the partitions asked for, then answers with what there is.
 * Fetch sessions (KIP-227) are not kept: every answer has session id 0, so clients send full fetches.
 */
import {
  FETCH_API,
  LIST_OFFSETS_API,
  type FetchPartition,
  type FetchRequest,
  type FetchTopic,
  type FetchResponse,
  type FetchResponsePartitionData,
  type FetchableTopicResponse,
  type ListOffsetsPartitionResponse,
} from '../generated/messages.js';
import { KafkaProtocolState, kafkaFailureOf, unsupportedCompressionNotice } from '../errors.js';
import { Errors } from '../../../errors/errors.js';
import type { AnyKafkaHandler, KafkaContext, KafkaHandler, KafkaSession } from './context.js';
import type { LogSlice, Partition } from '../../../core/stream/topics.js';
import { offsetForTime } from '../../../core/stream/browse.js';
import { streamedBytes, streamedSourceOf } from '../codec.js';

/** ListOffsets special timestamps. */
const LATEST_TIMESTAMP = -1n;
const EARLIEST_TIMESTAMP = -2n;
const MAX_TIMESTAMP = -3n;
/** Longest a fetch waits for data whatever the client asks, ms (clients ask for 500 ms to a few seconds). */
const MAX_FETCH_WAIT_MS = 30_000;

/** The records of a partition with nothing to send. */
const NO_RECORDS = Buffer.alloc(0);
const NO_EPOCH_END = Object.freeze({ epoch: -1, endOffset: -1n });
const NO_LEADER = Object.freeze({ leaderId: -1, leaderEpoch: -1 });
const NO_SNAPSHOT = Object.freeze({ endOffset: -1n, epoch: -1 });

function partitionData(index: number, errorCode: number, partition: Partition | undefined, records: Buffer | null): FetchResponsePartitionData {
  const hw = partition?.highWatermark ?? -1n;
  return {
    partitionIndex: index,
    errorCode,
    highWatermark: hw,
    lastStableOffset: hw,
    logStartOffset: partition?.log.logStartOffset ?? -1n,
    divergingEpoch: NO_EPOCH_END,
    currentLeader: NO_LEADER,
    snapshotId: NO_SNAPSHOT,
    abortedTransactions: null,
    preferredReadReplica: -1,
    records,
  };
}

interface FetchPass {
  response: FetchResponse;
  bytes: number;
  partitions: Partition[];
  /** the records of the answer, pinned in their segment files until written (or the pass is dropped) */
  slices: LogSlice[];
  /** the partitions that have records in the answer, with the bytes and records of each (consume rates) */
  sent: Partition[];
  sentBytes: number[];
  sentRecords: number[];
}

/** A pass answered with: its partitions' consume counters grow by what it sends (once per partition). */
function countSent(pass: FetchPass): FetchResponse {
  for (let i = 0; i < pass.sent.length; i++) {
    const c = pass.sent[i]!.counters;
    c.bytesOut += pass.sentBytes[i]!;
    c.recordsOut += pass.sentRecords[i]!;
  }
  return pass.response;
}

/** A pass not answered with (a waiting fetch looks again later): its files are unpinned. */
function dropPass(pass: FetchPass): void {
  for (const slice of pass.slices) slice.release();
  pass.slices.length = 0;
}

/**
 * The request with every partition once. Kafka keeps a fetch's partitions in a map (the first occurrence's
 * place, the last one's fetch offset and sizes), so a partition listed 30 times is read and answered once;
 * the same here. The request itself is returned when nothing repeats (the usual case).
 */
export function withoutDuplicatePartitions(request: FetchRequest): FetchRequest {
  let count = 0;
  for (const t of request.topics) count += t.partitions.length;
  if (count < 2) return request;
  const seen = new Set<string>();
  let repeated = false;
  for (const t of request.topics) {
    for (const p of t.partitions) {
      const key = `${t.topic}\u0000${p.partition}`;
      if (seen.has(key)) repeated = true;
      else seen.add(key);
    }
  }
  if (!repeated) return request;
  const topics: FetchTopic[] = [];
  const byName = new Map<string, FetchTopic>();
  for (const t of request.topics) {
    let target = byName.get(t.topic);
    if (target === undefined) {
      target = { ...t, partitions: [] };
      byName.set(t.topic, target);
      topics.push(target);
    }
    for (const p of t.partitions) {
      const at = target.partitions.findIndex((q: FetchPartition) => q.partition === p.partition);
      if (at >= 0) target.partitions[at] = p;
      else target.partitions.push(p);
    }
  }
  return { ...request, topics };
}

/**
 * Releases the streamed records of a Fetch answer that will not be written (its connection closed before
 * the answer was encoded): their segment files are unpinned.
 */
export function releaseStreamedRecords(response: FetchResponse): void {
  for (const t of response.responses) {
    for (const p of t.partitions) {
      if (p.records !== null) streamedSourceOf(p.records)?.release();
    }
  }
}

/**
 * One pass over every partition asked for, within the smaller of the client's maxBytes and the broker's
 * fetch.max.bytes (the first partition with data still gets one whole batch when that is larger, as in
 * Kafka). No record is read here: each partition's answer is a slice of one segment file (whole batches
 * below the high watermark), pinned, and encoded by its length only; the connection copies the slices to
 * the socket a chunk at a time when the answer's turn comes (connection.ts), so an answer costs no memory
 * in proportion to its size.
 */
function fetchOnce(context: KafkaContext, request: FetchRequest, session: KafkaSession): FetchPass {
  const streams = context.streams;
  let budget = Math.min(request.maxBytes > 0 ? request.maxBytes : Number.MAX_SAFE_INTEGER, context.fetchMaxBytes);
  let bytes = 0;
  const partitions: Partition[] = [];
  const slices: LogSlice[] = [];
  const sent: Partition[] = [];
  const sentBytes: number[] = [];
  const sentRecords: number[] = [];
  const responses: FetchableTopicResponse[] = request.topics.map((t) => {
    // reading needs read on the topic (Kafka: READ); refused partitions say so and disclose nothing
    if (!session.allows('read', t.topic)) {
      return {
        topic: t.topic,
        topicId: t.topicId,
        partitions: t.partitions.map((p) => partitionData(p.partition, Errors.ACCESS_REFUSED.kafka, undefined, null)),
      };
    }
    const topic = streams.topic(t.topic);
    return {
      topic: t.topic,
      topicId: topic?.id ?? t.topicId,
      partitions: t.partitions.map((p) => {
        const partition = topic?.partitions[p.partition];
        if (partition === undefined) return partitionData(p.partition, Errors.UNKNOWN_TOPIC.kafka, undefined, null);
        partitions.push(partition);
        const log = partition.log;
        const offset = p.fetchOffset;
        if (offset < log.logStartOffset || offset > log.endOffset) {
          return partitionData(p.partition, Errors.OFFSET_OUT_OF_RANGE.kafka, partition, null);
        }
        if (offset >= partition.highWatermark || budget <= 0) return partitionData(p.partition, KafkaProtocolState.NONE, partition, NO_RECORDS);
        let slice: LogSlice | null;
        try {
          // the first partition with data may exceed the budget by one batch (clients must make progress)
          slice = partition.readSlice(offset, Math.min(p.partitionMaxBytes, budget));
        } catch (err) {
          const failure = kafkaFailureOf(err);
          if (failure === null) {
            context.logger.error(`kafka fetch ${t.topic}-${p.partition} at ${offset}: ${(err as Error).message}`);
            return partitionData(p.partition, Errors.KAFKA_STORAGE_ERROR.kafka, partition, null);
          }
          return partitionData(p.partition, failure.kafka, partition, null);
        }
        if (slice === null) return partitionData(p.partition, KafkaProtocolState.NONE, partition, NO_RECORDS);
        slices.push(slice);
        sent.push(partition);
        sentBytes.push(slice.length);
        // records from the fetch offset to the end of the slice's batches (the consumer skips the ones before)
        sentRecords.push(Math.max(0, Number((log.lastReadEnd < partition.highWatermark ? log.lastReadEnd : partition.highWatermark) - offset)));
        budget -= slice.length;
        bytes += slice.length;
        return partitionData(p.partition, KafkaProtocolState.NONE, partition, streamedBytes(slice));
      }),
    };
  });
  return {
    response: { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, sessionId: 0, responses, nodeEndpoints: [] },
    bytes,
    partitions,
    slices,
    sent,
    sentBytes,
    sentRecords,
  };
}

const FETCH: KafkaHandler<typeof FETCH_API.apiKey> = {
  apiKey: FETCH_API.apiKey,
  minVersion: 0,
  // v13+ name topics by id
  maxVersion: 12,
  handle(context, asked, _version, session) {
    if (asked.sessionId !== 0 && asked.sessionEpoch > 0) {
      // an incremental fetch in a session this broker never created (it creates none)
      return { throttleTimeMs: 0, errorCode: KafkaProtocolState.FETCH_SESSION_ID_NOT_FOUND, sessionId: 0, responses: [], nodeEndpoints: [] };
    }
    const request = withoutDuplicatePartitions(asked);
    const first = fetchOnce(context, request, session);
    const wait = Math.min(request.maxWaitMs, MAX_FETCH_WAIT_MS);
    if (first.bytes >= request.minBytes || wait <= 0 || first.partitions.length === 0) return countSent(first);
    dropPass(first);
    return new Promise<FetchResponse>((resolve) => {
      const cancels: Array<() => void> = [];
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const cancel of cancels) cancel();
        resolve(countSent(fetchOnce(context, request, session)));
      };
      const timer = setTimeout(finish, wait);
      timer.unref(); // a waiting fetch never keeps a closing broker process alive
      const onData = (): void => {
        if (settled) return;
        const pass = fetchOnce(context, request, session);
        const enough = pass.bytes >= request.minBytes;
        dropPass(pass);
        if (enough) return finish();
        // not enough yet: wait again on every partition (each waiter fires once)
        for (const cancel of cancels.splice(0)) cancel();
        for (const p of first.partitions) cancels.push(p.waitForAppend(onData));
      };
      for (const p of first.partitions) cancels.push(p.waitForAppend(onData));
    });
  },
};

function listOffset(context: KafkaContext, partition: Partition, timestamp: bigint, maxDecompressedBytes: number): { offset: bigint; timestamp: bigint } {
  const log = partition.log;
  if (timestamp === LATEST_TIMESTAMP) return { offset: partition.highWatermark, timestamp: -1n };
  if (timestamp === EARLIEST_TIMESTAMP) return { offset: log.logStartOffset, timestamp: -1n };
  if (timestamp === MAX_TIMESTAMP) return { offset: partition.highWatermark, timestamp: -1n };
  return offsetForTime(partition, Number(timestamp), maxDecompressedBytes, (err) =>
    context.warnOnce('unsupported-compression', unsupportedCompressionNotice(err)),
  );
}

const LIST_OFFSETS: KafkaHandler<typeof LIST_OFFSETS_API.apiKey> = {
  apiKey: LIST_OFFSETS_API.apiKey,
  minVersion: 0,
  maxVersion: 6,
  handle(context, request, _version, session) {
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => {
        if (!session.allows('read', t.name)) {
          return {
            name: t.name,
            partitions: t.partitions.map((p) => ({
              partitionIndex: p.partitionIndex,
              errorCode: Errors.ACCESS_REFUSED.kafka,
              oldStyleOffsets: [],
              timestamp: -1n,
              offset: -1n,
              leaderEpoch: -1,
            })),
          };
        }
        const topic = context.streams.topic(t.name);
        return {
          name: t.name,
          partitions: t.partitions.map((p): ListOffsetsPartitionResponse => {
            const partition = topic?.partitions[p.partitionIndex];
            if (partition === undefined) {
              return {
                partitionIndex: p.partitionIndex,
                errorCode: Errors.UNKNOWN_TOPIC.kafka,
                oldStyleOffsets: [],
                timestamp: -1n,
                offset: -1n,
                leaderEpoch: -1,
              };
            }
            const { offset, timestamp } = listOffset(context, partition, p.timestamp, context.streams.maxDecompressedBatchBytes);
            return {
              partitionIndex: p.partitionIndex,
              errorCode: KafkaProtocolState.NONE,
              oldStyleOffsets: offset >= 0n ? [offset] : [],
              timestamp,
              offset,
              leaderEpoch: 0,
            };
          }),
        };
      }),
    };
  },
};

export const FETCH_HANDLERS: readonly AnyKafkaHandler[] = [FETCH, LIST_OFFSETS];
