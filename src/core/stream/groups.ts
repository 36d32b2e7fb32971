/**
 * The consumer-group coordinator: membership and rebalances of consumer groups (group-state.ts, Kafka's
 * classic group protocol) and their durable committed offsets, kept by the engine's group-offset store
 * (storage/meta-store.ts GroupOffsetStore, opened by the caller) with compare-and-set on the generation.
 * Protocol-neutral: member ids, protocol names, opaque metadata and assignment bytes, bigint offsets;
 * errors come back as GroupError values.
 *
 * Membership is memory only, as in Kafka's coordinator between loads: after a restart every group is
 * Empty with its committed offsets, and members rejoin (their heartbeats get 'unknown-member').
 *
 * Time is one coarse shared timer (GROUP_TIMER_TICK_MS) that expires sessions and ends join and sync
 * phases; tests may pass their own clock and tick with checkTimeouts(now) instead.
 */
import type { Logger } from '../../log/logger.js';
import { MAX_GROUP_ID_BYTES, type GroupOffsetStore, type StoredOffset } from '../../storage/stores.js';
import type { StreamStore } from './topics.js';
import {
  ConsumerGroup,
  INITIAL_REBALANCE_DELAY_MS,
  joinError,
  syncError,
  type AssignedTopic,
  type GroupError,
  type GroupState,
  type JoinOutcome,
  type JoinRequest,
  type LeaveOutcome,
  type LeavingMember,
  type SyncOutcome,
  type SyncRequest,
} from './group-state.js';

export type {
  AssignedTopic,
  GroupError,
  GroupProtocol,
  GroupState,
  JoinOutcome,
  JoinRequest,
  JoinedMember,
  LeaveOutcome,
  LeavingMember,
  MemberAssignment,
  SyncOutcome,
  SyncRequest,
} from './group-state.js';
export { INITIAL_REBALANCE_DELAY_MS } from './group-state.js';

/** How often sessions and join/sync deadlines are checked, ms: coarse, session timeouts are seconds. */
export const GROUP_TIMER_TICK_MS = 100;
/**
 * Shortest session timeout a member may ask for, ms. Kafka's group.min.session.timeout.ms is 6000 (to keep
 * clients from heartbeating hard); one coarse timer sweep is cheap here, and failure tests want short ones.
 */
export const MIN_SESSION_TIMEOUT_MS = 250;
/** Longest session timeout, ms: Kafka's group.max.session.timeout.ms default (30 minutes). */
export const MAX_SESSION_TIMEOUT_MS = 30 * 60 * 1000;
/**
 * How long an emptied group without committed offsets stays describable (as Empty) before it is forgotten,
 * ms: Kafka removes such groups in its offsets cleanup, which runs every 10 minutes by default.
 */
export const EMPTY_GROUP_RETENTION_MS = 10 * 60 * 1000;
/** Longest offset metadata string a commit may carry, bytes: Kafka's offset.metadata.max.bytes default. */
export const MAX_OFFSET_METADATA_BYTES = 4096;

export interface GroupCoordinatorOptions {
  /** the engine's group-offset store (MetaStore.openGroupOffsets); the coordinator closes it */
  readonly offsets: GroupOffsetStore;
  readonly logger: Logger;
  readonly streams: StreamStore;
  /** ms since the epoch; Date.now unless a test drives time */
  readonly clock?: () => number;
  /** false: no timer, the caller calls checkTimeouts() (tests with a fake clock) */
  readonly timer?: boolean;
  /** the initial rebalance delay for groups starting from Empty, ms (default INITIAL_REBALANCE_DELAY_MS) */
  readonly initialRebalanceDelayMs?: number;
}

export interface OffsetCommitRequest {
  readonly groupId: string;
  /** -1 with memberId '' for a standalone commit (a group not managed by this coordinator) */
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly offsets: ReadonlyArray<{
    readonly topic: string;
    readonly partition: number;
    readonly offset: bigint;
    readonly leaderEpoch: number;
    readonly metadata: string | null;
  }>;
}

export interface PartitionResult {
  readonly topic: string;
  readonly partition: number;
  readonly error: GroupError;
}

export interface FetchedOffset {
  readonly partition: number;
  /** -1n when nothing is committed */
  readonly offset: bigint;
  readonly leaderEpoch: number;
  readonly metadata: string | null;
}

export interface FetchedTopic {
  readonly topic: string;
  readonly partitions: readonly FetchedOffset[];
}

/** A member as the management API and DescribeGroups show it. */
export interface GroupMemberView {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** its metadata for the group's chosen protocol (empty before the first generation) */
  readonly metadata: Buffer;
  /** what the leader assigned it in the current generation (empty until the sync) */
  readonly assignment: Buffer;
  /** the assignment as topic partitions, when the protocol adapter could read it */
  readonly assignedPartitions: readonly AssignedTopic[] | null;
}

export interface GroupView {
  readonly groupId: string;
  readonly state: GroupState;
  /** '' when the group has never had a member (only standalone commits) */
  readonly protocolType: string;
  /** '' outside a generation */
  readonly protocolName: string;
  readonly generationId: number;
  readonly leaderId: string | null;
  readonly members: readonly GroupMemberView[];
}

export interface CommittedOffsetView {
  readonly topic: string;
  readonly partition: number;
  readonly committedOffset: bigint;
  readonly leaderEpoch: number;
  readonly metadata: string | null;
  readonly commitTimestampMs: number;
  /** the partition's high watermark (durable end), null when the topic or partition no longer exists */
  readonly highWatermark: bigint | null;
  /** highWatermark − committedOffset, at least 0; null when the partition no longer exists */
  readonly lag: bigint | null;
}

export class GroupCoordinator {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly offsets: GroupOffsetStore;
  /** groups whose DELETE GROUP record is written but not yet durable */
  private readonly deleting = new Set<string>();
  private readonly clock: () => number;
  /** how long a group starting from Empty waits for more members (Kafka's group.initial.rebalance.delay.ms) */
  readonly initialRebalanceDelayMs: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(private readonly options: GroupCoordinatorOptions) {
    this.clock = options.clock ?? Date.now;
    this.initialRebalanceDelayMs = options.initialRebalanceDelayMs ?? INITIAL_REBALANCE_DELAY_MS;
    this.offsets = options.offsets;
  }

  static open(options: GroupCoordinatorOptions): GroupCoordinator {
    const coordinator = new GroupCoordinator(options);
    if (options.timer !== false) {
      coordinator.timer = setInterval(() => coordinator.checkTimeouts(), GROUP_TIMER_TICK_MS);
      coordinator.timer.unref();
    }
    return coordinator;
  }

  /** A topic was deleted: every group's committed offsets for it go (as in Kafka); resolves once durable. */
  forgetTopic(topic: string): Promise<void> {
    return this.offsets.forgetTopic(topic);
  }

  // ---- membership -------------------------------------------------------------------------------------

  join(request: JoinRequest): Promise<JoinOutcome> {
    if (this.closed) return Promise.resolve(joinError('coordinator-not-available', request.memberId));
    const groupError = groupIdProblem(request.groupId);
    if (groupError !== null) return Promise.resolve(joinError(groupError, request.memberId));
    if (!(request.sessionTimeoutMs >= MIN_SESSION_TIMEOUT_MS && request.sessionTimeoutMs <= MAX_SESSION_TIMEOUT_MS)) {
      return Promise.resolve(joinError('invalid-session-timeout', request.memberId));
    }
    let group = this.groups.get(request.groupId);
    if (group === undefined) {
      // a member id for a group that is not here: its group was forgotten (restart) and it must join anew
      if (request.memberId !== '') return Promise.resolve(joinError('unknown-member', request.memberId));
      group = new ConsumerGroup(request.groupId, this.initialRebalanceDelayMs);
      this.groups.set(request.groupId, group);
    }
    const target = group;
    const rebalanceTimeoutMs = request.rebalanceTimeoutMs > 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs;
    const offsets = this.offsets;
    return new Promise<JoinOutcome>((resolve) => {
      const now = this.clock();
      target.join({ ...request, rebalanceTimeoutMs }, now, (outcome) => {
        // a member joined a generation: commits fenced with any other are refused by the store from now on
        if (outcome.error === 'none' && !this.closed) offsets.setGeneration(request.groupId, outcome.generationId);
        resolve(outcome);
      });
      this.forgetIfIdle(target, now);
    });
  }

  sync(request: SyncRequest): Promise<SyncOutcome> {
    const group = this.groups.get(request.groupId);
    if (this.closed) return Promise.resolve(syncError('coordinator-not-available'));
    if (group === undefined) return Promise.resolve(syncError(request.groupId === '' ? 'invalid-group-id' : 'unknown-member'));
    return new Promise<SyncOutcome>((resolve) => group.sync(request, this.clock(), resolve));
  }

  heartbeat(groupId: string, memberId: string, generationId: number, groupInstanceId: string | null = null): GroupError {
    if (this.closed) return 'coordinator-not-available';
    const group = this.groups.get(groupId);
    if (group === undefined) return groupId === '' ? 'invalid-group-id' : 'unknown-member';
    return group.heartbeat(memberId, generationId, this.clock(), groupInstanceId);
  }

  leave(groupId: string, members: readonly LeavingMember[]): LeaveOutcome {
    if (this.closed) return { error: 'coordinator-not-available', members: [] };
    const group = this.groups.get(groupId);
    if (group === undefined) return { error: 'none', members: members.map((m) => ({ ...m, error: 'unknown-member' as const })) };
    const now = this.clock();
    const outcome = group.leave(members, now);
    for (const m of outcome.members) {
      if (m.error === 'none') this.options.logger.debug(() => `consumer group '${groupId}': member ${m.memberId || m.groupInstanceId} left`);
    }
    this.forgetIfIdle(group, now);
    return outcome;
  }

  /** Applies every passed deadline (the timer calls this; tests with a fake clock call it themselves). */
  checkTimeouts(now: number = this.clock()): void {
    if (this.closed) return;
    // forgetIfIdle may delete the group being visited: deleting the current entry is safe for a Map iterator
    for (const group of this.groups.values()) {
      const expired = group.expire(now);
      for (const memberId of expired) {
        this.options.logger.info(`consumer group '${group.groupId}': member ${memberId} expired (no heartbeat or sync in time); rebalancing`);
      }
      this.forgetIfIdle(group, now);
    }
  }

  // ---- committed offsets --------------------------------------------------------------------------------

  /**
   * Commits offsets; resolves, once they are durable, with one result per partition. A partition of a
   * topic that does not exist gets 'unknown-partition'; nothing is written for failed partitions.
   */
  async commitOffsets(request: OffsetCommitRequest): Promise<PartitionResult[]> {
    const groupError = this.validateCommit(request);
    if (groupError !== 'none') return request.offsets.map((o) => ({ topic: o.topic, partition: o.partition, error: groupError }));
    const results: Array<{ topic: string; partition: number; error: GroupError }> = [];
    const accepted: StoredOffset[] = [];
    const acceptedResults: Array<{ error: GroupError }> = [];
    const now = this.clock();
    for (const o of request.offsets) {
      const result: { topic: string; partition: number; error: GroupError } = { topic: o.topic, partition: o.partition, error: 'none' };
      results.push(result);
      const topic = this.options.streams.topic(o.topic);
      if (topic === undefined || !Number.isInteger(o.partition) || o.partition < 0 || o.partition >= topic.partitions.length) {
        result.error = 'unknown-partition';
      } else if (o.metadata !== null && Buffer.byteLength(o.metadata, 'utf8') > MAX_OFFSET_METADATA_BYTES) {
        result.error = 'metadata-too-large';
      } else {
        accepted.push({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: o.leaderEpoch, commitTimestampMs: now, metadata: o.metadata });
        acceptedResults.push(result);
      }
    }
    // a member's commit is conditional on the generation it was checked against (compare-and-set in the store)
    const fence = request.generationId >= 0 ? { generation: request.generationId } : null;
    try {
      const outcome = await this.offsets.commit(request.groupId, accepted, fence);
      if (outcome === 'fenced') for (const r of acceptedResults) r.error = 'illegal-generation';
    } catch (err) {
      this.options.logger.warn(`consumer group '${request.groupId}': offset commit not durable: ${(err as Error).message}`);
      for (const r of acceptedResults) r.error = 'coordinator-not-available';
    }
    return results;
  }

  /**
   * The committed offsets of a group: of the partitions asked for (-1 for those without one), or, with
   * `topics` null, every committed offset the group has.
   */
  fetchOffsets(groupId: string, topics: ReadonlyArray<{ readonly topic: string; readonly partitions: readonly number[] }> | null): FetchedTopic[] {
    const stored = this.offsets.offsetsOf(groupId);
    if (topics === null) {
      const all: FetchedTopic[] = [];
      if (stored === undefined) return all;
      for (const [topic, partitions] of stored) {
        all.push({ topic, partitions: [...partitions.values()].sort((a, b) => a.partition - b.partition).map(fetched) });
      }
      return all;
    }
    return topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        const o = stored?.get(t.topic)?.get(p);
        return o === undefined ? { partition: p, offset: -1n, leaderEpoch: -1, metadata: null } : fetched(o);
      }),
    }));
  }

  /**
   * Deletes a group: its membership object and, durably, its committed offsets (a DELETE GROUP record in
   * the offsets log). Resolves once that record is fsynced, so an answer sent then survives kill -9; until
   * then the offsets stay visible, as a commit's do not show before they are durable. 'invalid-group-id'
   * for an empty id, 'non-empty-group' while it has members (or members joining), 'group-not-found' when
   * it has neither members nor offsets, or a deletion of the same id is already under way.
   */
  async deleteGroup(groupId: string): Promise<GroupError> {
    if (this.closed) return 'coordinator-not-available';
    const problem = groupIdProblem(groupId);
    if (problem !== null) return problem;
    const group = this.groups.get(groupId);
    if (group !== undefined && !group.idle) return 'non-empty-group';
    if (this.deleting.has(groupId)) return 'group-not-found';
    if (group === undefined && !this.offsets.has(groupId)) return 'group-not-found';
    if (group !== undefined) {
      group.markDead();
      this.groups.delete(groupId);
    }
    this.deleting.add(groupId);
    try {
      await this.offsets.deleteGroup(groupId);
      this.options.logger.info(`consumer group '${groupId}': deleted with its committed offsets`);
      return 'none';
    } catch (err) {
      this.options.logger.warn(`consumer group '${groupId}': deletion not durable: ${(err as Error).message}`);
      return 'coordinator-not-available';
    } finally {
      this.deleting.delete(groupId);
    }
  }

  /**
   * Sets a group's committed offsets, as an operator does with kafka-consumer-groups --reset-offsets: only
   * while nobody is in the group ('non-empty-group' while it has members or members joining, as Kafka's tool
   * refuses an active group). Partitions must exist (the caller computed the offsets from them). Resolves
   * once the offsets are durable.
   */
  async resetOffsets(
    groupId: string,
    offsets: ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly offset: bigint }>,
  ): Promise<GroupError> {
    if (this.closed) return 'coordinator-not-available';
    const problem = groupIdProblem(groupId);
    if (problem !== null) return problem;
    const group = this.groups.get(groupId);
    if (group !== undefined && !group.idle) return 'non-empty-group';
    if (this.deleting.has(groupId)) return 'group-not-found';
    const now = this.clock();
    try {
      await this.offsets.commit(
        groupId,
        offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: -1, commitTimestampMs: now, metadata: '' })),
        null,
      );
    } catch (err) {
      this.options.logger.warn(`consumer group '${groupId}': offset reset not durable: ${(err as Error).message}`);
      return 'coordinator-not-available';
    }
    this.options.logger.info(`consumer group '${groupId}': ${offsets.length} committed offset(s) reset`);
    return 'none';
  }

  // ---- views (DescribeGroups, ListGroups, management API) --------------------------------------------

  /** The protocol type of a group with membership ('consumer' for Kafka consumers), else null. */
  protocolTypeOf(groupId: string): string | null {
    return this.groups.get(groupId)?.protocolType ?? null;
  }

  /** Every group: those with members or a past generation, and those with only committed offsets. */
  listGroups(): GroupView[] {
    const views: GroupView[] = [];
    for (const group of this.groups.values()) views.push(viewOf(group));
    for (const groupId of this.offsets.groupIds()) if (!this.groups.has(groupId)) views.push(offsetsOnlyView(groupId));
    return views.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /** One group, or null when there is no such group (neither members nor offsets). */
  describeGroup(groupId: string): GroupView | null {
    const group = this.groups.get(groupId);
    if (group !== undefined) return viewOf(group);
    return this.offsets.has(groupId) ? offsetsOnlyView(groupId) : null;
  }

  /** A group's committed offsets with each partition's high watermark and the lag behind it. */
  committedOffsets(groupId: string): CommittedOffsetView[] {
    const stored = this.offsets.offsetsOf(groupId);
    const views: CommittedOffsetView[] = [];
    if (stored === undefined) return views;
    for (const [topicName, partitions] of stored) {
      const topic = this.options.streams.topic(topicName);
      for (const o of [...partitions.values()].sort((a, b) => a.partition - b.partition)) {
        const partition = topic?.partitions[o.partition];
        const highWatermark = partition === undefined ? null : partition.highWatermark;
        let lag: bigint | null = null;
        if (highWatermark !== null) lag = o.offset < 0n ? highWatermark - partition!.log.logStartOffset : highWatermark - o.offset;
        if (lag !== null && lag < 0n) lag = 0n;
        views.push({
          topic: topicName,
          partition: o.partition,
          committedOffset: o.offset,
          leaderEpoch: o.leaderEpoch,
          metadata: o.metadata,
          commitTimestampMs: o.commitTimestampMs,
          highWatermark,
          lag,
        });
      }
    }
    return views;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    for (const group of this.groups.values()) group.markDead();
    this.groups.clear();
    this.offsets.close();
  }

  // ---- internals --------------------------------------------------------------------------------------

  private validateCommit(request: OffsetCommitRequest): GroupError {
    if (this.closed) return 'coordinator-not-available';
    const groupError = groupIdProblem(request.groupId);
    if (groupError !== null) return groupError;
    const group = this.groups.get(request.groupId);
    if (group === undefined) {
      // no membership here: only a standalone commit (no generation) may write, as in Kafka
      if (request.generationId < 0 && request.memberId === '' && request.groupInstanceId === null) return 'none';
      return request.generationId < 0 ? 'unknown-member' : 'illegal-generation';
    }
    return group.validateCommit(request.generationId, request.memberId, request.groupInstanceId, this.clock());
  }

  /**
   * Drops the membership object of a group nobody is in and nobody committed for: at once when it never
   * had a generation (a refused first join, an unused member id), else EMPTY_GROUP_RETENTION_MS after it
   * emptied. A group with committed offsets stays (as Empty) until deleted.
   */
  private forgetIfIdle(group: ConsumerGroup, now: number): void {
    if (!group.idle || this.offsets.has(group.groupId) || this.groups.get(group.groupId) !== group) return;
    if (group.generationId === 0 || now - group.emptySinceMs >= EMPTY_GROUP_RETENTION_MS) {
      this.groups.delete(group.groupId);
      this.offsets.setGeneration(group.groupId, null); // so a store holds generations of live groups only
    }
  }
}

function groupIdProblem(groupId: string): GroupError | null {
  if (groupId === '' || Buffer.byteLength(groupId, 'utf8') > MAX_GROUP_ID_BYTES) return 'invalid-group-id';
  return null;
}

function fetched(o: StoredOffset): FetchedOffset {
  return { partition: o.partition, offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata };
}

function viewOf(group: ConsumerGroup): GroupView {
  const members: GroupMemberView[] = [];
  for (const m of group.members.values()) {
    members.push({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      metadata: m.metadataFor(group.protocolName),
      assignment: m.assignment,
      assignedPartitions: m.assignedPartitions,
    });
  }
  return {
    groupId: group.groupId,
    state: group.state,
    protocolType: group.protocolType ?? '',
    protocolName: group.protocolName ?? '',
    generationId: group.generationId,
    leaderId: group.leaderId,
    members,
  };
}

function offsetsOnlyView(groupId: string): GroupView {
  return { groupId, state: 'Empty', protocolType: '', protocolName: '', generationId: 0, leaderId: null, members: [] };
}
