/** Metadata, CreateTopics, DeleteTopics and DescribeConfigs: the topic catalogue over the stream store. */
import {
  CREATE_TOPICS_API,
  DELETE_TOPICS_API,
  DESCRIBE_CONFIGS_API,
  METADATA_API,
  type CreateTopicsRequest,
  type CreateTopicsResponseCreatableTopicResult,
  type DescribeConfigsResult,
  type MetadataResponseTopic,
} from '../generated/messages.js';
import { KafkaProtocolState, kafkaFailureOf } from '../errors.js';
import { Errors, type ErrorDef } from '../../../errors/errors.js';
import { AUTHORIZED_OPERATIONS_OMITTED, type AnyKafkaHandler, type KafkaContext, type KafkaHandler } from './context.js';
import { topicNameProblem, type Topic } from '../../../core/stream/topics.js';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RETENTION_MS, DEFAULT_SEGMENT_MS, TOPIC_CONFIGS } from '../../../core/stream/topic-config.js';
import { MAX_SESSION_TIMEOUT_MS, MIN_SESSION_TIMEOUT_MS } from '../../../core/stream/groups.js';

const ZERO_UUID = Buffer.alloc(16);
/** DescribeConfigs resource types (Kafka's ConfigResource.Type). */
const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
/** DescribeConfigs config sources. */
const SOURCE_DYNAMIC_TOPIC = 1;
const SOURCE_STATIC_BROKER = 4;
const SOURCE_DEFAULT = 5;

function topicMetadata(context: KafkaContext, topic: Topic): MetadataResponseTopic {
  const nodeId = context.identity().nodeId;
  return {
    errorCode: KafkaProtocolState.NONE,
    name: topic.name,
    topicId: topic.id,
    isInternal: false,
    partitions: topic.partitions.map((p) => ({
      errorCode: KafkaProtocolState.NONE,
      partitionIndex: p.index,
      leaderId: nodeId,
      leaderEpoch: 0,
      replicaNodes: [nodeId],
      isrNodes: [nodeId],
      offlineReplicas: [],
    })),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

function missingTopic(name: string | null, errorCode: number): MetadataResponseTopic {
  return { errorCode, name, topicId: ZERO_UUID, isInternal: false, partitions: [], topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
}

const METADATA: KafkaHandler<typeof METADATA_API.apiKey> = {
  apiKey: METADATA_API.apiKey,
  minVersion: 0,
  // v10+ address topics by id; names are enough for the clients we serve
  maxVersion: 9,
  handle(context, request, version, session) {
    const id = context.identity();
    const streams = context.streams;
    // v0: an empty list means every topic; v1+: null means every topic, [] none
    const all = request.topics === null || (version === 0 && request.topics.length === 0);
    const allowCreate = version < 4 ? true : request.allowAutoTopicCreation;
    const topics: MetadataResponseTopic[] = [];
    // the topics this request may auto-create: past the budget or the broker's limits each gets an error code
    const budget = streams.creationBudget();
    if (all) {
      // only the topics the user may describe (any of its three permissions matches the name)
      for (const t of streams.topics()) if (session.describes(t.name)) topics.push(topicMetadata(context, t));
    } else {
      for (const requested of request.topics ?? []) {
        const name = requested.name;
        if (name === null) {
          topics.push(missingTopic(null, Errors.UNKNOWN_TOPIC.kafka));
          continue;
        }
        if (topicNameProblem(name) !== null) {
          topics.push(missingTopic(name, Errors.INVALID_TOPIC.kafka));
          continue;
        }
        if (!session.describes(name)) {
          topics.push(missingTopic(name, Errors.ACCESS_REFUSED.kafka));
          continue;
        }
        let topic: Topic | undefined;
        try {
          // auto-creation needs configure on the name
          topic = streams.topicOrCreate(name, allowCreate && session.allows('configure', name), budget);
        } catch (err) {
          const failure = kafkaFailureOf(err);
          if (failure === null) throw err;
          topics.push(missingTopic(name, failure.kafka));
          continue;
        }
        topics.push(topic === undefined ? missingTopic(name, Errors.UNKNOWN_TOPIC.kafka) : topicMetadata(context, topic));
      }
    }
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: id.nodeId, host: id.host, port: id.port, rack: null }],
      clusterId: id.clusterId,
      controllerId: id.nodeId,
      topics,
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    };
  },
};

/** Every config of a topic with its value and where it came from. */
function describeTopicConfigs(topic: Topic, keys: readonly string[] | null): Array<{ name: string; value: string; isDefault: boolean }> {
  const out: Array<{ name: string; value: string; isDefault: boolean }> = [];
  for (const c of TOPIC_CONFIGS) {
    if (keys !== null && !keys.includes(c.name)) continue;
    const explicit = topic.explicitConfigs[c.name];
    out.push(
      explicit !== undefined
        ? { name: c.name, value: explicit, isDefault: false }
        : { name: c.name, value: c.defaultValue(topic.config.segmentBytes), isDefault: true },
    );
  }
  return out;
}

/**
 * A manual partition assignment is checked as a KRaft controller does: numPartitions and replicationFactor
 * must then be -1 (INVALID_ARGUMENT: Kafka's INVALID_REQUEST), the partition indexes must be 0..N-1, and each
 * partition must name a non-empty list of registered brokers without repeats (INVALID_REPLICA_ASSIGNMENT).
 * This broker is the only one, so every list must be exactly [nodeId].
 */
function manualAssignmentProblem(t: CreateTopicsRequest['topics'][number], nodeId: number): { error: ErrorDef; message: string } | null {
  if (t.numPartitions !== -1)
    return { error: Errors.INVALID_ARGUMENT, message: 'A manual partition assignment was specified, but numPartitions was not set to -1.' };
  if (t.replicationFactor !== -1)
    return { error: Errors.INVALID_ARGUMENT, message: 'A manual partition assignment was specified, but replicationFactor was not set to -1.' };
  const indexes = new Set(t.assignments.map((a) => a.partitionIndex));
  for (let i = 0; i < t.assignments.length; i++) {
    if (!indexes.has(i)) return { error: Errors.INVALID_REPLICA_ASSIGNMENT, message: 'partitions should be a consecutive 0-based integer sequence' };
  }
  for (const a of t.assignments) {
    if (a.brokerIds.length === 0)
      return {
        error: Errors.INVALID_REPLICA_ASSIGNMENT,
        message: `The manual partition assignment includes an empty replica list for partition ${a.partitionIndex}.`,
      };
    if (new Set(a.brokerIds).size !== a.brokerIds.length)
      return {
        error: Errors.INVALID_REPLICA_ASSIGNMENT,
        message: `The manual partition assignment includes the broker ${a.brokerIds[0]} more than once in partition ${a.partitionIndex}.`,
      };
    const unknown = a.brokerIds.find((id) => id !== nodeId);
    if (unknown !== undefined) {
      return {
        error: Errors.INVALID_REPLICA_ASSIGNMENT,
        message: `The manual partition assignment includes broker ${unknown}, but no such broker is registered (this broker, node id ${nodeId}, is the only one).`,
      };
    }
  }
  return null;
}

const CREATE_TOPICS: KafkaHandler<typeof CREATE_TOPICS_API.apiKey> = {
  apiKey: CREATE_TOPICS_API.apiKey,
  minVersion: 0,
  maxVersion: 7,
  handle(context, request, version, session) {
    const streams = context.streams;
    const results: CreateTopicsResponseCreatableTopicResult[] = [];
    const budget = streams.creationBudget();
    for (const t of request.topics) {
      const result: CreateTopicsResponseCreatableTopicResult = {
        name: t.name,
        topicId: ZERO_UUID,
        errorCode: KafkaProtocolState.NONE,
        errorMessage: null,
        topicConfigErrorCode: KafkaProtocolState.NONE,
        numPartitions: -1,
        replicationFactor: -1,
        configs: [],
      };
      results.push(result);
      if (!session.allows('configure', t.name)) {
        result.errorCode = Errors.ACCESS_REFUSED.kafka;
        result.errorMessage = `Authorization failed: user '${session.userName}' has no configure permission on topic '${t.name}' in vhost '${context.kafkaVhost}'.`;
        continue;
      }
      const partitions = t.assignments.length > 0 ? t.assignments.length : t.numPartitions === -1 ? streams.defaultPartitions : t.numPartitions;
      if (t.assignments.length > 0) {
        const refused = manualAssignmentProblem(t, context.identity().nodeId);
        if (refused !== null) {
          result.errorCode = refused.error.kafka;
          result.errorMessage = refused.message;
          continue;
        }
      }
      if (t.replicationFactor > 1) {
        result.errorCode = Errors.INVALID_REPLICATION_FACTOR.kafka;
        result.errorMessage = `Replication factor: ${t.replicationFactor} larger than available brokers: 1.`;
        continue;
      }
      if (t.replicationFactor === 0 || t.replicationFactor < -1) {
        result.errorCode = Errors.INVALID_REPLICATION_FACTOR.kafka;
        result.errorMessage = 'Replication factor must be larger than 0, or -1 to use the default value.';
        continue;
      }
      const configs: Record<string, string | null> = {};
      for (const c of t.configs) configs[c.name] = c.value;
      try {
        if (request.validateOnly) {
          streams.validateNewTopic(t.name, partitions, configs, budget);
          budget.remaining -= partitions; // a dry run is judged as the real request would be
          result.numPartitions = partitions;
          result.replicationFactor = 1;
          continue;
        }
        const topic = streams.createTopic(t.name, partitions, configs, budget);
        result.topicId = topic.id;
        result.numPartitions = partitions;
        result.replicationFactor = 1;
        result.configs = describeTopicConfigs(topic, null).map((c) => ({
          name: c.name,
          value: c.value,
          readOnly: false,
          configSource: c.isDefault ? SOURCE_DEFAULT : SOURCE_DYNAMIC_TOPIC,
          isSensitive: false,
        }));
      } catch (err) {
        const failure = kafkaFailureOf(err);
        if (failure === null) throw err;
        // THROTTLING_QUOTA_EXCEEDED exists from CreateTopics v6 (KIP-599); older clients get POLICY_VIOLATION
        result.errorCode = failure === Errors.THROTTLING_QUOTA_EXCEEDED && version < 6 ? Errors.POLICY_VIOLATION.kafka : failure.kafka;
        result.errorMessage = (err as Error).message;
      }
    }
    return { throttleTimeMs: 0, topics: results };
  },
};

const DELETE_TOPICS: KafkaHandler<typeof DELETE_TOPICS_API.apiKey> = {
  apiKey: DELETE_TOPICS_API.apiKey,
  minVersion: 0,
  maxVersion: 6,
  handle(context, request, version, session) {
    const streams = context.streams;
    const forgotten: Promise<void>[] = [];
    const wanted: Array<{ name: string | null; topicId: Buffer }> =
      version >= 6 ? request.topics.map((t) => ({ name: t.name, topicId: t.topicId })) : request.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
    const responses = wanted.map((w) => {
      let name = w.name;
      if (name === null) {
        for (const t of streams.topics()) if (t.id.equals(w.topicId)) name = t.name;
      }
      if (name !== null && !session.allows('configure', name)) {
        return {
          name,
          topicId: w.topicId,
          errorCode: Errors.ACCESS_REFUSED.kafka,
          errorMessage: `Authorization failed: no configure permission on topic '${name}'.`,
        };
      }
      const topic = name === null ? undefined : streams.topic(name);
      if (topic === undefined) {
        return { name, topicId: w.topicId, errorCode: Errors.UNKNOWN_TOPIC.kafka, errorMessage: 'This server does not host this topic.' };
      }
      streams.deleteTopic(topic.name);
      forgotten.push(context.groups.forgetTopic(topic.name)); // its committed offsets go too, as in Kafka
      return { name: topic.name, topicId: topic.id, errorCode: KafkaProtocolState.NONE, errorMessage: null };
    });
    const response = { throttleTimeMs: 0, responses };
    // answered once the offsets' removal is durable: a topic created again right after starts without them
    return forgotten.length === 0 ? response : Promise.all(forgotten).then(() => response);
  },
};

/**
 * The broker settings a Kafka admin tool asks about, under Kafka's names, with the values this broker
 * runs with (from its flags, environment and config file: read-only here, as Kafka's static configs).
 */
function brokerConfigs(context: KafkaContext): Array<{ name: string; value: string }> {
  const id = context.identity();
  const streams = context.streams;
  const listener = `${id.securityProtocol}://${id.host.includes(':') ? `[${id.host}]` : id.host}:${id.port}`;
  return [
    { name: 'broker.id', value: String(id.nodeId) },
    { name: 'node.id', value: String(id.nodeId) },
    { name: 'advertised.listeners', value: listener },
    { name: 'auto.create.topics.enable', value: String(streams.autoCreateTopics) },
    { name: 'num.partitions', value: String(streams.defaultPartitions) },
    { name: 'default.replication.factor', value: '1' },
    { name: 'min.insync.replicas', value: '1' },
    { name: 'offsets.topic.replication.factor', value: '1' },
    { name: 'log.segment.bytes', value: String(streams.defaultSegmentBytes) },
    { name: 'log.retention.ms', value: String(DEFAULT_RETENTION_MS) },
    { name: 'log.retention.bytes', value: '-1' },
    { name: 'log.retention.check.interval.ms', value: String(streams.retentionCheckMs) },
    { name: 'log.cleanup.policy', value: 'delete' },
    { name: 'log.roll.ms', value: String(DEFAULT_SEGMENT_MS) },
    { name: 'message.max.bytes', value: String(DEFAULT_MAX_MESSAGE_BYTES) },
    { name: 'group.initial.rebalance.delay.ms', value: String(context.groups.initialRebalanceDelayMs) },
    { name: 'group.min.session.timeout.ms', value: String(MIN_SESSION_TIMEOUT_MS) },
    { name: 'group.max.session.timeout.ms', value: String(MAX_SESSION_TIMEOUT_MS) },
  ];
}

const DESCRIBE_CONFIGS: KafkaHandler<typeof DESCRIBE_CONFIGS_API.apiKey> = {
  apiKey: DESCRIBE_CONFIGS_API.apiKey,
  minVersion: 0,
  maxVersion: 4,
  handle(context, request, _version, session) {
    const results: DescribeConfigsResult[] = request.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      if (r.resourceType === RESOURCE_BROKER) {
        // Kafka: DescribeConfigs on the cluster; here an administrator or a monitoring user (RabbitMQ's tag
        // for seeing the node)
        if (!session.monitors()) {
          return {
            ...base,
            errorCode: Errors.CLUSTER_ACCESS_REFUSED.kafka,
            errorMessage: "Cluster authorization failed: describing the broker's configs needs the administrator or monitoring tag.",
            configs: [],
          };
        }
        const nodeId = context.identity().nodeId;
        if (r.resourceName !== '' && r.resourceName !== String(nodeId)) {
          const message = `Unexpected broker id, expected ${nodeId} or empty string, but received ${r.resourceName}`;
          return { ...base, errorCode: Errors.INVALID_ARGUMENT.kafka, errorMessage: message, configs: [] };
        }
        const wanted = r.configurationKeys;
        const configs = brokerConfigs(context)
          .filter((c) => wanted === null || wanted.includes(c.name))
          .map((c) => ({
            name: c.name,
            value: c.value,
            readOnly: true,
            isDefault: false,
            configSource: SOURCE_STATIC_BROKER,
            isSensitive: false,
            synonyms: [],
            configType: 0,
            documentation: null,
          }));
        return { ...base, errorCode: KafkaProtocolState.NONE, errorMessage: null, configs };
      }
      if (r.resourceType !== RESOURCE_TOPIC) {
        return {
          ...base,
          errorCode: Errors.INVALID_ARGUMENT.kafka,
          errorMessage: `resource type ${r.resourceType} is not described by this broker`,
          configs: [],
        };
      }
      // Kafka's DescribeConfigs on a topic: here any permission that lets the user describe it
      if (!session.describes(r.resourceName)) {
        return { ...base, errorCode: Errors.ACCESS_REFUSED.kafka, errorMessage: `Authorization failed for topic '${r.resourceName}'.`, configs: [] };
      }
      const topic = context.streams.topic(r.resourceName);
      if (topic === undefined) {
        return { ...base, errorCode: Errors.UNKNOWN_TOPIC.kafka, errorMessage: `Topic '${r.resourceName}' does not exist.`, configs: [] };
      }
      return {
        ...base,
        errorCode: KafkaProtocolState.NONE,
        errorMessage: null,
        configs: describeTopicConfigs(topic, r.configurationKeys).map((c) => ({
          name: c.name,
          value: c.value,
          readOnly: false,
          isDefault: c.isDefault,
          configSource: c.isDefault ? SOURCE_DEFAULT : SOURCE_DYNAMIC_TOPIC,
          isSensitive: false,
          synonyms: [],
          configType: 0,
          documentation: null,
        })),
      };
    });
    return { throttleTimeMs: 0, results };
  },
};

export const TOPIC_HANDLERS: readonly AnyKafkaHandler[] = [METADATA, CREATE_TOPICS, DELETE_TOPICS, DESCRIBE_CONFIGS];
