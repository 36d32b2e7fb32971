/**
 * Produce and InitProducerId.
 *
 * Produce appends each partition's batches as they came (compressed batches stay compressed), in request
 * order, then, for acks=1 and acks=-1, answers after the durability round that covers every append of the
 * request (one fdatasync shared with every other request of the turn). acks=0 gets no answer at all.
 * Idempotent batches (producerId >= 0) are checked against the partition's producer state first: a retry
 * of a batch already written is answered with the offset it got then and is not written again.
 */
import {
  INIT_PRODUCER_ID_API,
  PRODUCE_API,
  type ProduceResponsePartitionProduceResponse,
  type ProduceResponseTopicProduceResponse,
} from '../generated/messages.js';
import { KafkaProtocolState, kafkaFailureOf, unsupportedCompressionNotice } from '../errors.js';
import type { AnyKafkaHandler, KafkaContext, KafkaHandler } from './context.js';
import type { Partition, Topic } from '../../../core/stream/topics.js';
import { APPEND_NO_ZSTD, APPEND_REFUSED, appendBatches, appendOutcome } from '../../../core/stream/append.js';
import { Errors } from '../../../errors/errors.js';

const EMPTY = Buffer.alloc(0);

function partitionResponse(
  index: number,
  errorCode: number,
  baseOffset: bigint,
  logStartOffset: bigint,
  errorMessage: string | null = null,
): ProduceResponsePartitionProduceResponse {
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

/** What the last append did (handlers run synchronously, one at a time). */
const APPENDED = appendOutcome();

/**
 * Appends one partition's records through the core (core/stream/append.ts) and fills `response`
 * (errorCode, baseOffset, errorMessage). Returns the durability round the answer waits for, or -1.
 */
function appendToPartition(
  context: KafkaContext,
  partition: Partition,
  records: Buffer,
  version: number,
  response: ProduceResponsePartitionProduceResponse,
): number {
  response.logStartOffset = partition.log.logStartOffset;
  const out = appendBatches(context.streams, partition, records, version < ZSTD_MIN_PRODUCE_VERSION ? APPEND_NO_ZSTD : 0, APPENDED);
  if (out.status !== APPEND_REFUSED) {
    response.baseOffset = out.baseOffset;
    return out.round;
  }
  const error = out.error!;
  response.errorCode = error.kafka;
  response.errorMessage = out.message;
  const where = `kafka produce to ${partition.topic.name}-${partition.index}`;
  // lasts as long as the process (this Node has no zstd): one line, not one per produce
  if (out.lasting) context.warnOnce('unsupported-compression', unsupportedCompressionNotice(new Error(out.message ?? '')));
  else if (out.writeFailed) context.logger.error(`${where}: ${out.message ?? ''}`);
  else if (error === Errors.CORRUPT_RECORD) context.logger.warn(`${where}: ${out.message ?? ''}`);
  return -1;
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
      let refused: number = KafkaProtocolState.NONE;
      // producing needs write on the topic; creating it on the way needs configure too
      if (!session.allows('write', topicData.name)) refused = Errors.ACCESS_REFUSED.kafka;
      else {
        try {
          topic = streams.topic(topicData.name) ?? streams.topicOrCreate(topicData.name, session.allows('configure', topicData.name), budget);
        } catch (err) {
          const failure = kafkaFailureOf(err);
          if (failure === null) throw err;
          refused = failure.kafka;
        }
      }
      const partitionResponses: ProduceResponsePartitionProduceResponse[] = [];
      responses.push({ name: topicData.name, partitionResponses });
      for (const p of topicData.partitionData) {
        const response = partitionResponse(p.index, KafkaProtocolState.NONE, -1n, -1n);
        partitionResponses.push(response);
        if (refused !== KafkaProtocolState.NONE) {
          response.errorCode = refused;
          continue;
        }
        if (acks !== 0 && acks !== 1 && acks !== -1) {
          response.errorCode = KafkaProtocolState.INVALID_REQUIRED_ACKS;
          continue;
        }
        const partition = topic?.partitions[p.index];
        if (partition === undefined) {
          response.errorCode = Errors.UNKNOWN_TOPIC.kafka;
          continue;
        }
        round = Math.max(round, appendToPartition(context, partition, p.records ?? EMPTY, version, response));
      }
    }
    if (acks === 0) return null;
    const body = { responses, throttleTimeMs: 0, nodeEndpoints: [] };
    if (round < 0) return body;
    return streams.whenDurable(round).then(
      () => body,
      () => {
        // the fsync failed (or the broker is closing): nothing appended by this request may be acknowledged
        for (const t of responses)
          for (const p of t.partitionResponses) if (p.errorCode === KafkaProtocolState.NONE) p.errorCode = Errors.KAFKA_STORAGE_ERROR.kafka;
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
    if (!session.writesSomewhere()) return { throttleTimeMs: 0, errorCode: Errors.CLUSTER_ACCESS_REFUSED.kafka, producerId: -1n, producerEpoch: -1 };
    if (request.transactionalId !== null) {
      // transactions are not supported (docs/compatibility.md): refuse clearly instead of half-working
      return { throttleTimeMs: 0, errorCode: Errors.TRANSACTIONS_UNSUPPORTED.kafka, producerId: -1n, producerEpoch: -1 };
    }
    if (request.producerId >= 0n && request.producerEpoch >= 0) {
      // v3+: an existing producer bumps its epoch (after a sequence error) and keeps its id
      if (request.producerEpoch >= 32766)
        return { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, producerId: BigInt(context.streams.producerIds.allocate()), producerEpoch: 0 };
      return { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, producerId: request.producerId, producerEpoch: request.producerEpoch + 1 };
    }
    return { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, producerId: BigInt(context.streams.producerIds.allocate()), producerEpoch: 0 };
  },
};

export const PRODUCE_HANDLERS: readonly AnyKafkaHandler[] = [PRODUCE, INIT_PRODUCER_ID];
