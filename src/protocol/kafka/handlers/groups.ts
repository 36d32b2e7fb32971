/**
 * Kafka group APIs over the protocol-neutral GroupCoordinator: FindCoordinator, JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups and DeleteGroups.
 *
 * This one broker coordinates every group. Transactions are not supported, so a transaction coordinator
 * lookup answers COORDINATOR_NOT_AVAILABLE. Versions stop before the KIP-848 consumer-group protocol
 * (OffsetCommit v9, OffsetFetch v9), which needs a different coordinator.
 */
import {
  DELETE_GROUPS_API,
  DESCRIBE_GROUPS_API,
  FIND_COORDINATOR_API,
  HEARTBEAT_API,
  JOIN_GROUP_API,
  LEAVE_GROUP_API,
  LIST_GROUPS_API,
  OFFSET_COMMIT_API,
  OFFSET_FETCH_API,
  SYNC_GROUP_API,
  decodeConsumerProtocolAssignment,
  type FindCoordinatorResponseCoordinator,
  type OffsetCommitResponseTopic,
  type OffsetFetchResponsePartition,
} from '../generated/messages.js';
import { KafkaReader } from '../codec.js';
import { KafkaProtocolState } from '../errors.js';
import { Errors } from '../../../errors/errors.js';
import {
  AUTHORIZED_OPERATIONS_OMITTED,
  type AnyKafkaHandler,
  type KafkaBrokerIdentity,
  type KafkaContext,
  type KafkaHandler,
  type KafkaSession,
} from './context.js';
import type { AssignedTopic, FetchedTopic, GroupError, MemberAssignment } from '../../../core/stream/groups.js';

/** FindCoordinator key types. */
const KEY_TYPE_GROUP = 0;
const KEY_TYPE_TRANSACTION = 1;
/** The protocol type Kafka consumers join with; their assignments use the ConsumerProtocol layout. */
const CONSUMER_PROTOCOL_TYPE = 'consumer';
/** Highest ConsumerProtocolAssignment version the generated codec reads; later ones only add fields. */
const MAX_CONSUMER_ASSIGNMENT_VERSION = 3;
/** ListGroups v5+: every group here speaks the classic protocol. */
const CLASSIC_GROUP_TYPE = 'classic';
/** What OffsetFetch reports as the metadata of a partition with nothing (or null) committed, as Kafka. */
const NO_METADATA = '';

const EMPTY = Buffer.alloc(0);

/** The coordinator's outcomes: broker failures through the registry, the group protocol's own states by name. */
const GROUP_ERROR_CODES: Readonly<Record<GroupError, number>> = Object.freeze({
  none: KafkaProtocolState.NONE,
  // broker failures: the same failure on the HTTP API (and any protocol) is the same registry entry
  'invalid-group-id': Errors.INVALID_GROUP_ID.kafka,
  'coordinator-not-available': Errors.COORDINATOR_NOT_AVAILABLE.kafka,
  'unknown-partition': Errors.UNKNOWN_TOPIC.kafka,
  'metadata-too-large': Errors.OFFSET_METADATA_TOO_LARGE.kafka,
  'non-empty-group': Errors.NON_EMPTY_GROUP.kafka,
  'group-not-found': Errors.GROUP_NOT_FOUND.kafka,
  // the classic group protocol's states: Kafka only
  'invalid-session-timeout': KafkaProtocolState.INVALID_SESSION_TIMEOUT,
  'member-id-required': KafkaProtocolState.MEMBER_ID_REQUIRED,
  'unknown-member': KafkaProtocolState.UNKNOWN_MEMBER_ID,
  'illegal-generation': KafkaProtocolState.ILLEGAL_GENERATION,
  'rebalance-in-progress': KafkaProtocolState.REBALANCE_IN_PROGRESS,
  'inconsistent-protocol': KafkaProtocolState.INCONSISTENT_GROUP_PROTOCOL,
  'fenced-instance-id': KafkaProtocolState.FENCED_INSTANCE_ID,
});

export function kafkaGroupErrorCode(error: GroupError): number {
  return GROUP_ERROR_CODES[error];
}

// ---- FindCoordinator ------------------------------------------------------------------------------------

/**
 * Where a group lives is not checked against the user's permissions (Kafka checks Describe here): it discloses
 * nothing, and the JoinGroup that follows is refused with GROUP_AUTHORIZATION_FAILED, which clients report as
 * such (kafkajs reports a refused FindCoordinator only as "coordinator not found").
 */
function coordinatorFor(identity: KafkaBrokerIdentity, key: string, keyType: number): FindCoordinatorResponseCoordinator {
  if (keyType === KEY_TYPE_GROUP) {
    return { key, nodeId: identity.nodeId, host: identity.host, port: identity.port, errorCode: KafkaProtocolState.NONE, errorMessage: null };
  }
  const transaction = keyType === KEY_TYPE_TRANSACTION;
  return {
    key,
    nodeId: -1,
    host: '',
    port: -1,
    errorCode: transaction ? Errors.COORDINATOR_NOT_AVAILABLE.kafka : Errors.INVALID_ARGUMENT.kafka,
    errorMessage: transaction ? 'transactions are not supported by this broker' : `unknown coordinator key type ${keyType}`,
  };
}

const FIND_COORDINATOR: KafkaHandler<typeof FIND_COORDINATOR_API.apiKey> = {
  apiKey: FIND_COORDINATOR_API.apiKey,
  minVersion: 0,
  // v4 batches keys; v5 and v6 only add error codes and share groups
  maxVersion: 4,
  handle(context, request, version) {
    const identity = context.identity();
    if (version >= 4) {
      const coordinators = request.coordinatorKeys.map((key) => coordinatorFor(identity, key, request.keyType));
      return { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, errorMessage: null, nodeId: -1, host: '', port: -1, coordinators };
    }
    const c = coordinatorFor(identity, request.key, request.keyType);
    return { throttleTimeMs: 0, errorCode: c.errorCode, errorMessage: c.errorMessage, nodeId: c.nodeId, host: c.host, port: c.port, coordinators: [] };
  },
};

// ---- JoinGroup, SyncGroup, Heartbeat, LeaveGroup ----------------------------------------------------------

const JOIN_GROUP: KafkaHandler<typeof JOIN_GROUP_API.apiKey> = {
  apiKey: JOIN_GROUP_API.apiKey,
  minVersion: 0,
  maxVersion: 9,
  async handle(context, request, version, session) {
    if (!session.allows('read', request.groupId)) {
      return {
        throttleTimeMs: 0,
        errorCode: Errors.GROUP_ACCESS_REFUSED.kafka,
        generationId: -1,
        protocolType: null,
        protocolName: version >= 7 ? null : '',
        leader: '',
        skipAssignment: false,
        memberId: request.memberId,
        members: [],
      };
    }
    const outcome = await context.groups.join({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: version >= 5 ? request.groupInstanceId : null,
      clientId: session.clientId,
      clientHost: session.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      // v0 has no rebalance timeout: the session timeout bounds the join phase
      rebalanceTimeoutMs: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols,
      requireKnownMemberId: version >= 4,
    });
    return {
      throttleTimeMs: 0,
      errorCode: kafkaGroupErrorCode(outcome.error),
      generationId: outcome.generationId,
      protocolType: outcome.protocolType,
      // nullable from v7 only
      protocolName: version >= 7 ? outcome.protocolName : (outcome.protocolName ?? ''),
      leader: outcome.leaderId,
      skipAssignment: false,
      memberId: outcome.memberId,
      members: outcome.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata })),
    };
  },
};

/** The topic partitions of a ConsumerProtocolAssignment, or null when the bytes are not one. */
export function consumerAssignmentPartitions(bytes: Buffer): AssignedTopic[] | null {
  if (bytes.length < 2) return null;
  const version = bytes.readInt16BE(0);
  if (version < 0) return null;
  try {
    const r = new KafkaReader(bytes, 2);
    const assignment = decodeConsumerProtocolAssignment(r, Math.min(version, MAX_CONSUMER_ASSIGNMENT_VERSION));
    return assignment.assignedPartitions.map((t) => ({ topic: t.topic, partitions: t.partitions }));
  } catch {
    return null;
  }
}

const SYNC_GROUP: KafkaHandler<typeof SYNC_GROUP_API.apiKey> = {
  apiKey: SYNC_GROUP_API.apiKey,
  minVersion: 0,
  maxVersion: 5,
  async handle(context, request, version, session) {
    if (!session.allows('read', request.groupId))
      return { throttleTimeMs: 0, errorCode: Errors.GROUP_ACCESS_REFUSED.kafka, protocolType: null, protocolName: null, assignment: EMPTY };
    const readable = request.assignments.length > 0 && context.groups.protocolTypeOf(request.groupId) === CONSUMER_PROTOCOL_TYPE;
    const assignments: MemberAssignment[] = request.assignments.map((a) => ({
      memberId: a.memberId,
      assignment: a.assignment,
      partitions: readable ? consumerAssignmentPartitions(a.assignment) : null,
    }));
    const outcome = await context.groups.sync({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: version >= 3 ? request.groupInstanceId : null,
      protocolType: version >= 5 ? request.protocolType : null,
      protocolName: version >= 5 ? request.protocolName : null,
      assignments,
    });
    return {
      throttleTimeMs: 0,
      errorCode: kafkaGroupErrorCode(outcome.error),
      protocolType: outcome.protocolType,
      protocolName: outcome.protocolName,
      assignment: outcome.assignment,
    };
  },
};

const HEARTBEAT: KafkaHandler<typeof HEARTBEAT_API.apiKey> = {
  apiKey: HEARTBEAT_API.apiKey,
  minVersion: 0,
  maxVersion: 4,
  handle(context, request, version, session) {
    if (!session.allows('read', request.groupId)) return { throttleTimeMs: 0, errorCode: Errors.GROUP_ACCESS_REFUSED.kafka };
    const error = context.groups.heartbeat(request.groupId, request.memberId, request.generationId, version >= 3 ? request.groupInstanceId : null);
    return { throttleTimeMs: 0, errorCode: kafkaGroupErrorCode(error) };
  },
};

const LEAVE_GROUP: KafkaHandler<typeof LEAVE_GROUP_API.apiKey> = {
  apiKey: LEAVE_GROUP_API.apiKey,
  minVersion: 0,
  maxVersion: 5,
  handle(context, request, version, session) {
    if (!session.allows('read', request.groupId)) return { throttleTimeMs: 0, errorCode: Errors.GROUP_ACCESS_REFUSED.kafka, members: [] };
    // v0-2 name one member; v3+ a batch, possibly by group instance id
    const leaving =
      version >= 3
        ? request.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
        : [{ memberId: request.memberId, groupInstanceId: null }];
    const outcome = context.groups.leave(request.groupId, leaving);
    let errorCode = kafkaGroupErrorCode(outcome.error);
    if (version < 3 && errorCode === KafkaProtocolState.NONE && outcome.members[0] !== undefined) errorCode = kafkaGroupErrorCode(outcome.members[0].error);
    return {
      throttleTimeMs: 0,
      errorCode,
      members: outcome.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: kafkaGroupErrorCode(m.error) })),
    };
  },
};

// ---- OffsetCommit, OffsetFetch ----------------------------------------------------------------------------

const OFFSET_COMMIT: KafkaHandler<typeof OFFSET_COMMIT_API.apiKey> = {
  apiKey: OFFSET_COMMIT_API.apiKey,
  minVersion: 0,
  // v9 is the KIP-848 consumer protocol's (member epochs)
  maxVersion: 8,
  async handle(context, request, version, session) {
    // the group needs read; each topic needs read too (Kafka: READ on both), else its partitions are refused
    if (!session.allows('read', request.groupId)) {
      return {
        throttleTimeMs: 0,
        topics: request.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: Errors.GROUP_ACCESS_REFUSED.kafka })),
        })),
      };
    }
    const refusedTopics = request.topics.filter((t) => !session.allows('read', t.name));
    const offsets = [];
    for (const t of request.topics) {
      if (refusedTopics.includes(t)) continue;
      for (const p of t.partitions) {
        offsets.push({
          topic: t.name,
          partition: p.partitionIndex,
          offset: p.committedOffset,
          leaderEpoch: version >= 6 ? p.committedLeaderEpoch : -1,
          metadata: p.committedMetadata,
        });
      }
    }
    // v0 has no generation or member: a standalone commit. v2-4's retention time is ignored: offsets stay
    // until the group is deleted.
    const results = await context.groups.commitOffsets({
      groupId: request.groupId,
      generationId: version >= 1 ? request.generationIdOrMemberEpoch : -1,
      memberId: version >= 1 ? request.memberId : '',
      groupInstanceId: version >= 7 ? request.groupInstanceId : null,
      offsets,
    });
    let i = 0;
    const topics: OffsetCommitResponseTopic[] = request.topics.map((t) => ({
      name: t.name,
      partitions: refusedTopics.includes(t)
        ? t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: Errors.ACCESS_REFUSED.kafka }))
        : t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: kafkaGroupErrorCode(results[i++]!.error) })),
    }));
    return { throttleTimeMs: 0, topics };
  },
};

function fetchedPartitions(t: FetchedTopic): OffsetFetchResponsePartition[] {
  return t.partitions.map((p) => ({
    partitionIndex: p.partition,
    committedOffset: p.offset,
    committedLeaderEpoch: p.leaderEpoch,
    metadata: p.metadata ?? NO_METADATA,
    errorCode: KafkaProtocolState.NONE,
  }));
}

function refusedOffset(partitionIndex: number, errorCode: number): OffsetFetchResponsePartition {
  return { partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: NO_METADATA, errorCode };
}

/** A group's offsets for the topics the user may read: topics asked for by name and refused say so, others are left out. */
function fetchOffsetsFor(
  context: KafkaContext,
  session: KafkaSession,
  groupId: string,
  wanted: Array<{ topic: string; partitions: number[] }> | null,
): Array<{ name: string; partitions: OffsetFetchResponsePartition[] }> {
  const allowed = wanted === null ? null : wanted.filter((t) => session.allows('read', t.topic));
  const found = context.groups
    .fetchOffsets(groupId, allowed)
    .filter((t) => session.allows('read', t.topic))
    .map((t) => ({ name: t.topic, partitions: fetchedPartitions(t) }));
  if (wanted !== null) {
    for (const t of wanted)
      if (!session.allows('read', t.topic)) found.push({ name: t.topic, partitions: t.partitions.map((i) => refusedOffset(i, Errors.ACCESS_REFUSED.kafka)) });
  }
  return found;
}

const OFFSET_FETCH: KafkaHandler<typeof OFFSET_FETCH_API.apiKey> = {
  apiKey: OFFSET_FETCH_API.apiKey,
  minVersion: 0,
  // v8 batches groups; v9 adds KIP-848 member epochs
  maxVersion: 8,
  handle(context, request, version, session) {
    if (version >= 8) {
      const groups = request.groups.map((g) => {
        if (!session.allows('read', g.groupId)) return { groupId: g.groupId, topics: [], errorCode: Errors.GROUP_ACCESS_REFUSED.kafka };
        const wanted = g.topics === null ? null : g.topics.map((t) => ({ topic: t.name, partitions: t.partitionIndexes }));
        return { groupId: g.groupId, topics: fetchOffsetsFor(context, session, g.groupId, wanted), errorCode: KafkaProtocolState.NONE };
      });
      return { throttleTimeMs: 0, topics: [], errorCode: KafkaProtocolState.NONE, groups };
    }
    // null topics (v2+) means every committed offset of the group
    const wanted = request.topics === null ? null : request.topics.map((t) => ({ topic: t.name, partitions: t.partitionIndexes }));
    if (!session.allows('read', request.groupId)) {
      // v2+ carry a top-level error; v0-1 only per partition
      const topics =
        version >= 2
          ? []
          : (wanted ?? []).map((t) => ({ name: t.topic, partitions: t.partitions.map((i) => refusedOffset(i, Errors.GROUP_ACCESS_REFUSED.kafka)) }));
      return { throttleTimeMs: 0, topics, errorCode: Errors.GROUP_ACCESS_REFUSED.kafka, groups: [] };
    }
    return { throttleTimeMs: 0, topics: fetchOffsetsFor(context, session, request.groupId, wanted), errorCode: KafkaProtocolState.NONE, groups: [] };
  },
};

// ---- DescribeGroups, ListGroups ---------------------------------------------------------------------------

const DESCRIBE_GROUPS: KafkaHandler<typeof DESCRIBE_GROUPS_API.apiKey> = {
  apiKey: DESCRIBE_GROUPS_API.apiKey,
  minVersion: 0,
  maxVersion: 5,
  handle(context, request, _version, session) {
    const groups = request.groups.map((groupId) => {
      if (!session.allows('read', groupId)) {
        return {
          errorCode: Errors.GROUP_ACCESS_REFUSED.kafka,
          groupId,
          groupState: '',
          protocolType: '',
          protocolData: '',
          members: [],
          authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
        };
      }
      const view = context.groups.describeGroup(groupId);
      if (view === null) {
        // Kafka describes a group it does not know as Dead, without an error
        return {
          errorCode: KafkaProtocolState.NONE,
          groupId,
          groupState: 'Dead',
          protocolType: '',
          protocolData: '',
          members: [],
          authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
        };
      }
      // as in Kafka, the protocol, member metadata and assignments are shown only while Stable
      const stable = view.state === 'Stable';
      return {
        errorCode: KafkaProtocolState.NONE,
        groupId,
        groupState: view.state,
        protocolType: view.protocolType,
        protocolData: stable ? view.protocolName : '',
        members: view.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: stable ? m.metadata : EMPTY,
          memberAssignment: stable ? m.assignment : EMPTY,
        })),
        authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      };
    });
    return { throttleTimeMs: 0, groups };
  },
};

const LIST_GROUPS: KafkaHandler<typeof LIST_GROUPS_API.apiKey> = {
  apiKey: LIST_GROUPS_API.apiKey,
  minVersion: 0,
  maxVersion: 5,
  handle(context, request, version, session) {
    // filters match case-insensitively, as Kafka's; empty means no filter
    const states = version >= 4 ? request.statesFilter.map((s) => s.toLowerCase()) : [];
    const types = version >= 5 ? request.typesFilter.map((s) => s.toLowerCase()) : [];
    if (types.length > 0 && !types.includes(CLASSIC_GROUP_TYPE)) return { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, groups: [] };
    const groups = context.groups
      .listGroups()
      .filter((g) => session.describes(g.groupId) && (states.length === 0 || states.includes(g.state.toLowerCase())))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: CLASSIC_GROUP_TYPE }));
    return { throttleTimeMs: 0, errorCode: KafkaProtocolState.NONE, groups };
  },
};

// ---- DeleteGroups ---------------------------------------------------------------------------------------

const DELETE_GROUPS: KafkaHandler<typeof DELETE_GROUPS_API.apiKey> = {
  apiKey: DELETE_GROUPS_API.apiKey,
  minVersion: 0,
  // v1 only changes throttling; v2 is flexible
  maxVersion: 2,
  async handle(context, request, _version, session) {
    // as Kafka: a group named twice is deleted (and answered) once, in the order first named
    const groupIds = [...new Set(request.groupsNames)];
    // deleting a group needs configure on its name (RabbitMQ: configure creates and deletes)
    const permitted = groupIds.map((groupId) => session.allows('configure', groupId));
    // every deletion appends its record at once, so they share one fsync round
    const errors = await Promise.all(groupIds.map((groupId, i) => (permitted[i] ? context.groups.deleteGroup(groupId) : null)));
    return {
      throttleTimeMs: 0,
      results: groupIds.map((groupId, i) => ({ groupId, errorCode: errors[i] === null ? Errors.GROUP_ACCESS_REFUSED.kafka : kafkaGroupErrorCode(errors[i]!) })),
    };
  },
};

export const GROUP_HANDLERS: readonly AnyKafkaHandler[] = [
  OFFSET_COMMIT,
  OFFSET_FETCH,
  FIND_COORDINATOR,
  JOIN_GROUP,
  HEARTBEAT,
  LEAVE_GROUP,
  SYNC_GROUP,
  DESCRIBE_GROUPS,
  LIST_GROUPS,
  DELETE_GROUPS,
];
