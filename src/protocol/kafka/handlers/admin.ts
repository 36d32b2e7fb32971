/**
 * CreatePartitions, AlterConfigs and IncrementalAlterConfigs: changing existing topics over the stream store.
 *
 * Every topic (or config resource) gets its own result: a bad one is answered with its error code and a
 * message, the others in the same request still go through. validateOnly runs every check and changes
 * nothing. Broker resources cannot be altered here (Postbox's broker settings come from flags, environment
 * variables and the config file, read once at start), so a non-empty change to one is refused with
 * INVALID_REQUEST (the registry's INVALID_ARGUMENT), the code Kafka gives for a broker config that cannot be
 * updated dynamically. Every refusal is a registry entry (src/errors/errors.ts): failure(Errors.X, message).
 */
import {
  ALTER_CONFIGS_API,
  CREATE_PARTITIONS_API,
  INCREMENTAL_ALTER_CONFIGS_API,
  type CreatePartitionsTopic,
  type CreatePartitionsTopicResult,
} from '../generated/messages.js';
import { KafkaProtocolState, kafkaFailureOf } from '../errors.js';
import { Errors, type ErrorDef } from '../../../errors/errors.js';
import type { AnyKafkaHandler, KafkaContext, KafkaHandler, KafkaSession } from './context.js';
import type { CreationBudget, StreamStore } from '../../../core/stream/topics.js';
import { applyTopicConfigChanges, type TopicConfigChange } from '../../../core/stream/topic-config.js';

/** Config resource types (Kafka's ConfigResource.Type). */
const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
const RESOURCE_BROKER_LOGGER = 8;

/** IncrementalAlterConfigs operations, by their wire numbers. */
const OPERATIONS: readonly TopicConfigChange['operation'][] = ['set', 'delete', 'append', 'subtract'];

const BROKER_CONFIGS_MESSAGE =
  'Broker configs cannot be changed at runtime on Postbox: set them with command-line flags, environment variables or the config file, and restart.';

/** One resource's outcome; null message when it succeeded. */
interface Outcome {
  errorCode: number;
  errorMessage: string | null;
}

const OK: Outcome = Object.freeze({ errorCode: KafkaProtocolState.NONE, errorMessage: null });

/** A refusal: the registry entry's Kafka code, with the message for this resource. */
function failure(error: ErrorDef, errorMessage: string): Outcome {
  return { errorCode: error.kafka, errorMessage };
}

/** The outcome of a core call: its BrokerError as a Kafka error; anything else is a real failure and rethrown. */
function attempt(action: () => void): Outcome {
  try {
    action();
    return OK;
  } catch (err) {
    const refused = kafkaFailureOf(err);
    if (refused === null) throw err;
    return failure(refused, (err as Error).message);
  }
}

/** Names that occur more than once in `names` (Kafka refuses every copy of a duplicated topic or resource). */
function duplicates(names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const n of names) (seen.has(n) ? twice : seen).add(n);
  return twice;
}

// ---- CreatePartitions ----

function assignmentProblem(context: KafkaContext, topic: CreatePartitionsTopic, current: number): string | null {
  const assignments = topic.assignments;
  if (assignments === null) return null;
  const adding = topic.count - current;
  if (assignments.length !== adding) return `Increasing the number of partitions by ${adding} but ${assignments.length} assignments provided.`;
  const nodeId = context.identity().nodeId;
  for (let i = 0; i < assignments.length; i++) {
    const brokers = assignments[i]!.brokerIds;
    const partition = current + i;
    if (brokers.length !== 1) {
      return `Inconsistent replication factor between partitions, partition 0 has 1 while partition ${partition} has ${brokers.length}: this broker is the only one (node id ${nodeId}).`;
    }
    if (brokers[0] !== nodeId)
      return `Unknown broker(s) in replica assignment: ${brokers[0]} for partition ${partition}; the only broker is node id ${nodeId}.`;
  }
  return null;
}

function createPartitions(context: KafkaContext, topic: CreatePartitionsTopic, validateOnly: boolean, budget: CreationBudget): Outcome {
  const streams = context.streams;
  const existing = streams.topic(topic.name);
  if (existing === undefined) return failure(Errors.UNKNOWN_TOPIC, `The topic '${topic.name}' does not exist.`);
  const current = existing.partitions.length;
  const counted = attempt(() => streams.validatePartitionCount(topic.name, topic.count, budget));
  if (counted.errorCode !== KafkaProtocolState.NONE) return counted;
  const problem = assignmentProblem(context, topic, current);
  if (problem !== null) return failure(Errors.INVALID_REPLICA_ASSIGNMENT, problem);
  if (validateOnly) {
    budget.remaining -= topic.count - current; // a dry run is judged as the real request would be
    return OK;
  }
  return attempt(() => streams.addPartitions(topic.name, topic.count, budget));
}

const CREATE_PARTITIONS: KafkaHandler<typeof CREATE_PARTITIONS_API.apiKey> = {
  apiKey: CREATE_PARTITIONS_API.apiKey,
  minVersion: 0,
  maxVersion: 3,
  handle(context, request, version, session) {
    const twice = duplicates(request.topics.map((t) => t.name));
    const budget = context.streams.creationBudget();
    const results: CreatePartitionsTopicResult[] = request.topics.map((t) => {
      const outcome = twice.has(t.name)
        ? failure(Errors.INVALID_ARGUMENT, `Duplicate topic in request: ${t.name}`)
        : !session.allows('configure', t.name)
          ? failure(Errors.ACCESS_REFUSED, `Authorization failed: no configure permission on topic '${t.name}'.`)
          : createPartitions(context, t, request.validateOnly, budget);
      // THROTTLING_QUOTA_EXCEEDED exists from CreatePartitions v3 (KIP-599); older clients get POLICY_VIOLATION
      if (outcome.errorCode === Errors.THROTTLING_QUOTA_EXCEEDED.kafka && version < 3)
        return { name: t.name, ...outcome, errorCode: Errors.POLICY_VIOLATION.kafka };
      return { name: t.name, ...outcome };
    });
    return { throttleTimeMs: 0, results };
  },
};

// ---- AlterConfigs and IncrementalAlterConfigs ----

interface ConfigResource {
  readonly resourceType: number;
  readonly resourceName: string;
  readonly configs: readonly { readonly name: string }[];
}

/**
 * The outcome for a resource that is not a topic, or null for a topic (which the caller alters). A broker
 * resource with no configs changes nothing and succeeds; with configs it is refused (see the file comment).
 */
function nonTopicOutcome(resource: ConfigResource, session: KafkaSession): Outcome | null {
  if (resource.resourceType === RESOURCE_TOPIC) {
    // altering a topic's configs needs configure on it
    return session.allows('configure', resource.resourceName)
      ? null
      : failure(Errors.ACCESS_REFUSED, `Authorization failed: no configure permission on topic '${resource.resourceName}'.`);
  }
  if (resource.resourceType === RESOURCE_BROKER || resource.resourceType === RESOURCE_BROKER_LOGGER) {
    // the broker is the cluster: only an administrator may even ask (Kafka's ALTER_CONFIGS on the cluster)
    if (!session.isAdministrator())
      return failure(Errors.CLUSTER_ACCESS_REFUSED, 'Cluster authorization failed: altering broker configs needs the administrator tag.');
    return resource.configs.length === 0 ? OK : failure(Errors.INVALID_ARGUMENT, BROKER_CONFIGS_MESSAGE);
  }
  return failure(
    Errors.INVALID_ARGUMENT,
    `Config resource type ${resource.resourceType} cannot be altered on this broker (only topics, type ${RESOURCE_TOPIC}).`,
  );
}

/** The checks both alter APIs share: duplicates, the resource type, the topic's existence, repeated config names. */
function preliminaryOutcome(streams: StreamStore, resource: ConfigResource, duplicated: boolean, session: KafkaSession): Outcome | null {
  if (duplicated) return failure(Errors.INVALID_ARGUMENT, `Duplicate resource in request: type ${resource.resourceType}, name '${resource.resourceName}'.`);
  const other = nonTopicOutcome(resource, session);
  if (other !== null) return other;
  if (streams.topic(resource.resourceName) === undefined) {
    return failure(Errors.UNKNOWN_TOPIC, `Topic '${resource.resourceName}' does not exist.`);
  }
  const repeated = duplicates(resource.configs.map((c) => c.name));
  if (repeated.size > 0) return failure(Errors.INVALID_ARGUMENT, `Error due to duplicate config keys: ${[...repeated].join(', ')}`);
  return null;
}

/** Validates `explicit` as the topic's whole set of explicit configs, and applies it unless validateOnly. */
function replaceTopicConfigs(streams: StreamStore, topic: string, explicit: Record<string, string>, validateOnly: boolean): Outcome {
  return attempt(() => {
    if (validateOnly) streams.validateTopicConfigs(topic, explicit);
    else streams.alterTopicConfigs(topic, explicit);
  });
}

function resourceKeys(resources: readonly ConfigResource[]): Set<string> {
  return duplicates(resources.map((r) => `${r.resourceType}\u0000${r.resourceName}`));
}

const ALTER_CONFIGS: KafkaHandler<typeof ALTER_CONFIGS_API.apiKey> = {
  apiKey: ALTER_CONFIGS_API.apiKey,
  minVersion: 0,
  maxVersion: 2,
  handle(context, request, _version, session) {
    const twice = resourceKeys(request.resources);
    const responses = request.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      const early = preliminaryOutcome(context.streams, r, twice.has(`${r.resourceType}\u0000${r.resourceName}`), session);
      if (early !== null) return { ...base, ...early };
      // Kafka's legacy semantics: the configs given are the topic's whole explicit set; a null value is left out
      const explicit: Record<string, string> = {};
      for (const c of r.configs) if (c.value !== null) explicit[c.name] = c.value;
      return { ...base, ...replaceTopicConfigs(context.streams, r.resourceName, explicit, request.validateOnly) };
    });
    return { throttleTimeMs: 0, responses };
  },
};

const INCREMENTAL_ALTER_CONFIGS: KafkaHandler<typeof INCREMENTAL_ALTER_CONFIGS_API.apiKey> = {
  apiKey: INCREMENTAL_ALTER_CONFIGS_API.apiKey,
  minVersion: 0,
  maxVersion: 1,
  handle(context, request, _version, session) {
    const streams = context.streams;
    const twice = resourceKeys(request.resources);
    const responses = request.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      const early = preliminaryOutcome(streams, r, twice.has(`${r.resourceType}\u0000${r.resourceName}`), session);
      if (early !== null) return { ...base, ...early };
      const changes: TopicConfigChange[] = [];
      for (const c of r.configs) {
        const operation = OPERATIONS[c.configOperation];
        if (operation === undefined) return { ...base, ...failure(Errors.INVALID_ARGUMENT, `Unknown config operation ${c.configOperation} for ${c.name}.`) };
        changes.push({ name: c.name, operation, value: c.value });
      }
      const topic = streams.topic(r.resourceName)!;
      let explicit: Record<string, string> = {};
      const applied = attempt(() => {
        explicit = applyTopicConfigChanges(topic.explicitConfigs, changes, streams.defaultSegmentBytes);
      });
      if (applied.errorCode !== KafkaProtocolState.NONE) return { ...base, ...applied };
      return { ...base, ...replaceTopicConfigs(streams, r.resourceName, explicit, request.validateOnly) };
    });
    return { throttleTimeMs: 0, responses };
  },
};

export const ADMIN_HANDLERS: readonly AnyKafkaHandler[] = [CREATE_PARTITIONS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS];
