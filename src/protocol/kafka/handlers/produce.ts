/**
 * Produce and InitProducerId.
 *
 * Produce appends each partition's batches as they came (compressed batches stay compressed), in request
 * order, then, for acks=1 and acks=-1, answers after the durability round that covers every append of the
 * request (one fdatasync shared with every other request of the turn). acks=0 gets no answer at all.
 * Idempotent batches (producerId >= 0) are checked against the partition's producer state first: a retry
 * of a batch already written is answered with the offset it got then and is not written again.
 */
import { INIT_PRODUCER_ID_API, PRODUCE_API, type ProduceResponsePartitionProduceResponse, type ProduceResponseTopicProduceResponse } from '../generated/messages.js';
import { KafkaErrorCode, kafkaErrorCodeOf, unsupportedCompressionNotice } from '../errors.js';
import type { AnyKafkaHandler, KafkaContext, KafkaHandler } from './context.js';
import type { Partition, Topic } from '../../../core/stream/topics.js';
import { batchIdentity, type BatchIdentity } from '../../../core/stream/producer-state.js';
import { ATTRIBUTES_AT, MAGIC_AT, RECORD_BATCH_MAGIC, batchSizeAt, lastOffsetDeltaAt, validateBatches } from '../../../storage/partition/record-batch.js';
import { COMPRESSION_CODEC_MASK, CompressionCodec } from '../../../storage/partition/compression.js';
import { CorruptBatchError } from '../../../storage/partition/errors.js';
import type { BatchesSummary } from '../../../storage/partition/record-walk.js';

function partitionResponse(index: number, errorCode: number, baseOffset: bigint, logStartOffset: bigint, errorMessage: string | null = null): ProduceResponsePartitionProduceResponse {
  return {
    index,
    errorCode,
    baseOffset,
    logAppendTimeMs: -1n,
    logStartOffset,
    recordErrors: [],
    errorMessage,
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
  };
}

/** The first Produce version that may carry zstd batches (KIP-110): older ones get UNSUPPORTED_COMPRESSION_TYPE, as from Kafka. */
const ZSTD_MIN_PRODUCE_VERSION = 7;

/** What the last walk of a request's records found (one at a time: handlers run synchronously). */
const WALKED: BatchesSummary = { records: 0, allKeyed: true };

/** What appendToPartition did: the answer must wait for durability in the first two cases. */
const enum Appended {
  Written,
  /** a retried idempotent batch: nothing written, answered with the offset it got the first time */
  Duplicate,
  Refused,
}

/**
 * Appends one partition's records; fills `response` (errorCode, baseOffset). `records` may lie in the
 * connection's shared produce scratch (connection.ts), reused by the next request: nothing may keep a
 * reference to it past this call (the log copies or writes it; idempotence keeps numbers only).
 */
function appendToPartition(context: KafkaContext, partition: Partition, records: Buffer, version: number, response: ProduceResponsePartitionProduceResponse): Appended {
  const log = partition.log;
  response.logStartOffset = log.logStartOffset;
  // the legacy message formats (v0/v1) keep their magic byte at the same position as RecordBatch v2
  if (records.length > MAGIC_AT && records.readInt8(MAGIC_AT) !== RECORD_BATCH_MAGIC) {
    response.errorCode = KafkaErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT;
    response.errorMessage = `record batch magic ${records.readInt8(MAGIC_AT)} is not supported (only magic 2, Kafka 0.11+ clients)`;
    return Appended.Refused;
  }
  try {
    validateBatches(records);
  } catch (err) {
    response.errorCode = KafkaErrorCode.CORRUPT_MESSAGE;
    response.errorMessage = (err as Error).message;
    context.logger.warn(`kafka produce to ${partition.topic.name}-${partition.index}: ${(err as Error).message}`);
    return Appended.Refused;
  }
  const config = partition.topic.config;
  const identities: Array<BatchIdentity | null> = [];
  for (let at = 0; at < records.length; ) {
    const size = batchSizeAt(records, at);
    if (version < ZSTD_MIN_PRODUCE_VERSION && (records.readInt16BE(at + ATTRIBUTES_AT) & COMPRESSION_CODEC_MASK) === CompressionCodec.Zstd) {
      response.errorCode = KafkaErrorCode.UNSUPPORTED_COMPRESSION_TYPE;
      response.errorMessage = `zstd batches need Produce v${ZSTD_MIN_PRODUCE_VERSION} or later (this request is v${version})`;
      return Appended.Refused;
    }
    if (size > config.maxMessageBytes) {
      response.errorCode = KafkaErrorCode.MESSAGE_TOO_LARGE;
      response.errorMessage = `batch of ${size} bytes is larger than max.message.bytes ${config.maxMessageBytes}`;
      return Appended.Refused;
    }
    const id = batchIdentity(records, at);
    if (id !== null) {
      const check = partition.producers.check(id);
      switch (check.kind) {
        case 'duplicate':
          // a retry of a batch already written: same answer as the first time, nothing appended
          response.baseOffset = check.baseOffset;
          return Appended.Duplicate;
        case 'fenced':
          response.errorCode = KafkaErrorCode.INVALID_PRODUCER_EPOCH;
          response.errorMessage = `producer epoch ${check.got} is older than the current ${check.current}`;
          return Appended.Refused;
        case 'out-of-order':
          response.errorCode = KafkaErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER;
          response.errorMessage = `expected sequence ${check.expected}, got ${check.got}`;
          return Appended.Refused;
        case 'new':
          break;
      }
    }
    identities.push(id);
    at += size;
  }
  try {
    // every record, decompressed within the broker's limit, without an object per record (record-walk.ts)
    context.streams.walkProducedRecords(records, WALKED, config.cleanupCompact);
  } catch (err) {
    response.errorCode = kafkaErrorCodeOf(err);
    if (response.errorCode === KafkaErrorCode.UNKNOWN_SERVER_ERROR) throw err;
    response.errorMessage = (err as Error).message;
    if (response.errorCode === KafkaErrorCode.UNSUPPORTED_COMPRESSION_TYPE) {
      // lasts as long as the process (this Node has no zstd): one line, not one per produce
      context.warnOnce('unsupported-compression', unsupportedCompressionNotice(err as Error));
    } else {
      context.logger.warn(`kafka produce to ${partition.topic.name}-${partition.index}: ${(err as Error).message}`);
    }
    return Appended.Refused;
  }
  if (config.cleanupCompact && !WALKED.allKeyed) {
    // compaction keeps the latest record per key: a keyless record has nothing to be kept by
    response.errorCode = KafkaErrorCode.INVALID_RECORD;
    response.errorMessage = 'Compacted topic cannot accept message without key.';
    return Appended.Refused;
  }
  let result;
  try {
    result = log.append(records, Date.now(), true); // validateBatches() above checked every CRC
  } catch (err) {
    response.errorCode = err instanceof CorruptBatchError ? KafkaErrorCode.CORRUPT_MESSAGE : KafkaErrorCode.KAFKA_STORAGE_ERROR;
    response.errorMessage = (err as Error).message;
    context.logger.error(`kafka produce to ${partition.topic.name}-${partition.index}: append failed: ${(err as Error).message}`);
    return Appended.Refused;
  }
  response.baseOffset = result.baseOffset;
  // the partition's produce rates: two field increments per partition of the request, none per record
  const counters = partition.counters;
  counters.recordsIn += WALKED.records;
  counters.bytesIn += records.length;
  let offset = result.baseOffset;
  let i = 0;
  for (let at = 0; at < records.length; i++) {
    const id = identities[i];
    if (id !== null && id !== undefined) partition.producers.record(id, offset);
    offset += BigInt(lastOffsetDeltaAt(records, at)) + 1n;
    at += batchSizeAt(records, at);
  }
  return Appended.Written;
}

const PRODUCE: KafkaHandler<typeof PRODUCE_API.apiKey> = {
  apiKey: PRODUCE_API.apiKey,
  // v0-2 carry the legacy message formats: their batches are refused per partition, the API still answers
  minVersion: 0,
  maxVersion: 9,
  handle(context, request, version, session) {
    const streams = context.streams;
    const acks = request.acks;
    const responses: ProduceResponseTopicProduceResponse[] = [];
    let round = -1;
    const budget = streams.creationBudget();
    for (const topicData of request.topicData) {
      let topic: Topic | undefined;
      // an auto-creation refused by a limit: every partition of the topic gets its error code
      let refused: number = KafkaErrorCode.NONE;
      // producing needs write on the topic; creating it on the way needs configure too
      if (!session.allows('write', topicData.name)) refused = KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED;
      else {
        try {
          topic = streams.topic(topicData.name) ?? streams.topicOrCreate(topicData.name, session.allows('configure', topicData.name), budget);
        } catch (err) {
          refused = kafkaErrorCodeOf(err);
          if (refused === KafkaErrorCode.UNKNOWN_SERVER_ERROR) throw err;
        }
      }
      const partitionResponses: ProduceResponsePartitionProduceResponse[] = [];
      responses.push({ name: topicData.name, partitionResponses });
      for (const p of topicData.partitionData) {
        const response = partitionResponse(p.index, KafkaErrorCode.NONE, -1n, -1n);
        partitionResponses.push(response);
        if (refused !== KafkaErrorCode.NONE) {
          response.errorCode = refused;
          continue;
        }
        if (acks !== 0 && acks !== 1 && acks !== -1) {
          response.errorCode = KafkaErrorCode.INVALID_REQUIRED_ACKS;
          continue;
        }
        const partition = topic?.partitions[p.index];
        if (partition === undefined) {
          response.errorCode = KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          continue;
        }
        if (streams.storageFailure !== null) {
          response.errorCode = KafkaErrorCode.KAFKA_STORAGE_ERROR;
          continue;
        }
        if (p.records === null || p.records.length === 0) {
          response.errorCode = KafkaErrorCode.CORRUPT_MESSAGE;
          continue;
        }
        switch (appendToPartition(context, partition, p.records, version, response)) {
          case Appended.Written:
            round = streams.appended(partition);
            break;
          case Appended.Duplicate:
            // the first copy may still be waiting for its fsync: answer no sooner than it is answered
            round = Math.max(round, streams.durabilityRound());
            break;
          case Appended.Refused:
            break;
        }
      }
    }
    if (acks === 0) return null;
    const body = { responses, throttleTimeMs: 0, nodeEndpoints: [] };
    if (round < 0) return body;
    return streams.whenDurable(round).then(
      () => body,
      () => {
        // the fsync failed (or the broker is closing): nothing appended by this request may be acknowledged
        for (const t of responses) for (const p of t.partitionResponses) if (p.errorCode === KafkaErrorCode.NONE) p.errorCode = KafkaErrorCode.KAFKA_STORAGE_ERROR;
        return body;
      },
    );
  },
};

const INIT_PRODUCER_ID: KafkaHandler<typeof INIT_PRODUCER_ID_API.apiKey> = {
  apiKey: INIT_PRODUCER_ID_API.apiKey,
  minVersion: 0,
  maxVersion: 4,
  handle(context, request, _version, session) {
    // Kafka 3 (KIP-679): an idempotent producer needs write on some topic (or IdempotentWrite on the cluster)
    if (!session.writesSomewhere()) return { throttleTimeMs: 0, errorCode: KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED, producerId: -1n, producerEpoch: -1 };
    if (request.transactionalId !== null) {
      // transactions are not supported (docs/compatibility.md): refuse clearly instead of half-working
      return { throttleTimeMs: 0, errorCode: KafkaErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1n, producerEpoch: -1 };
    }
    if (request.producerId >= 0n && request.producerEpoch >= 0) {
      // v3+: an existing producer bumps its epoch (after a sequence error) and keeps its id
      if (request.producerEpoch >= 32766) return { throttleTimeMs: 0, errorCode: KafkaErrorCode.NONE, producerId: BigInt(context.streams.producerIds.allocate()), producerEpoch: 0 };
      return { throttleTimeMs: 0, errorCode: KafkaErrorCode.NONE, producerId: request.producerId, producerEpoch: request.producerEpoch + 1 };
    }
    return { throttleTimeMs: 0, errorCode: KafkaErrorCode.NONE, producerId: BigInt(context.streams.producerIds.allocate()), producerEpoch: 0 };
  },
};

export const PRODUCE_HANDLERS: readonly AnyKafkaHandler[] = [PRODUCE, INIT_PRODUCER_ID];
