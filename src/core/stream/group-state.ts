/**
 * One consumer group's membership: the classic group protocol's state machine, as Kafka's group
 * coordinator runs it, with no protocol types (member metadata and assignments are opaque bytes).
 *
 *                  first join
 *   Empty ───────────────────────────► PreparingRebalance ◄─────────────────────────────────────┐
 *     ▲                                   │    │      ▲                                         │
 *     └── join phase ends, nobody in it ──┘    │      │ a member joins, leaves or expires,      │ a member joins (or the
 *                                              │      │ or the sync deadline passes             │ leader rejoins),
 *              join phase ends with members    ▼      │                                         │ leaves or expires
 *                                          CompletingRebalance ───── leader's SyncGroup ─────► Stable
 *
 *   Dead: the group was deleted; anything still holding it gets COORDINATOR_NOT_AVAILABLE.
 *
 * Join phase. The first joiner becomes leader. The phase ends once every known member has sent JoinGroup
 * again (members that did not are removed), or at the join deadline: the largest rebalance timeout of the
 * members, or, for a group starting from Empty, INITIAL_REBALANCE_DELAY_MS extended by the same delay while
 * new members keep arriving, up to the rebalance timeout (Kafka's group.initial.rebalance.delay.ms). Then
 * the generation goes up, the protocol is chosen (the one all members support that most members list
 * first) and every waiting JoinGroup is answered; the leader's answer carries every member's metadata.
 *
 * Sync phase. Followers' SyncGroup waits; the leader's SyncGroup carries the assignments, which answers
 * everyone and makes the group Stable. Members that have not sent SyncGroup by the sync deadline (the
 * rebalance timeout) are removed and the group rebalances (Kafka's pending-sync expiry).
 *
 * Liveness. Every heartbeat, join, sync and commit from a member moves its session deadline to now +
 * session timeout; a member whose deadline passed and that is not waiting in a JoinGroup or SyncGroup is
 * removed, which triggers a rebalance. Member ids handed out with MEMBER_ID_REQUIRED (JoinGroup v4+) are
 * pending until that member joins with the id, or dropped after its session timeout.
 *
 * Static membership (group.instance.id), as Kafka's coordinator (KIP-345): a member that joins with an
 * instance id skips the MEMBER_ID_REQUIRED round. One that joins without a member id under an instance id
 * the group knows (a restarted consumer) replaces that member: it gets a new member id and keeps the old
 * member's assignment; the old member id is fenced (FENCED_INSTANCE_ID on whatever it still sends or waits
 * for). In a Stable group, when it rejoins with the same protocols and metadata, that is all: the join is
 * answered at once with the current generation and no rebalance (the answer names the leader as it was,
 * so the member does not assign); otherwise (its subscription changed, which Kafka would not act on until
 * the next rebalance), or while a rebalance is under way, the group rebalances. A static member that goes
 * away without LeaveGroup is removed when its session times out, as any member.
 */
import { randomUUID } from 'node:crypto';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

/**
 * What went wrong, as data; each protocol adapter maps these to its own codes. The names follow the
 * classic group protocol's errors.
 */
export type GroupError =
  | 'none'
  | 'invalid-group-id'
  | 'invalid-session-timeout'
  | 'member-id-required'
  | 'unknown-member'
  | 'illegal-generation'
  | 'rebalance-in-progress'
  | 'inconsistent-protocol'
  | 'coordinator-not-available'
  | 'unknown-partition'
  | 'metadata-too-large'
  | 'non-empty-group'
  | 'group-not-found'
  | 'fenced-instance-id';

/** How long a group starting from Empty waits for more members before its first generation, ms.
 * Kafka waits 3000 ms; one broker serving tests and small deployments wants the first generation quickly,
 * and a consumer that arrives later costs only one more (fast) rebalance. */
export const INITIAL_REBALANCE_DELAY_MS = 200;

export interface GroupProtocol {
  readonly name: string;
  readonly metadata: Buffer;
}

/** Partitions of one topic, when an adapter could read them out of an assignment (for the management API). */
export interface AssignedTopic {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface JoinRequest {
  readonly groupId: string;
  /** '' for a member joining for the first time */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  /** in the member's order of preference */
  readonly protocols: readonly GroupProtocol[];
  /** answer a first join with 'member-id-required' and a fresh id instead of joining (Kafka JoinGroup v4+) */
  readonly requireKnownMemberId: boolean;
}

export interface JoinedMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly metadata: Buffer;
}

export interface JoinOutcome {
  readonly error: GroupError;
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly leaderId: string;
  /** the member's id (the fresh one with 'member-id-required') */
  readonly memberId: string;
  /** every member with its metadata for the chosen protocol: for the leader only, [] for the others */
  readonly members: readonly JoinedMember[];
}

export interface MemberAssignment {
  readonly memberId: string;
  readonly assignment: Buffer;
  /** the assignment read as topic partitions when the adapter knows the protocol, else null */
  readonly partitions: readonly AssignedTopic[] | null;
}

export interface SyncRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  /** checked against the group's when given (Kafka SyncGroup v5+) */
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  /** from the leader; ignored from anyone else */
  readonly assignments: readonly MemberAssignment[];
}

export interface SyncOutcome {
  readonly error: GroupError;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly assignment: Buffer;
}

export interface LeavingMember {
  /** '' to name the member by its group instance id */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

export interface LeaveOutcome {
  /** group-level error */
  readonly error: GroupError;
  readonly members: ReadonlyArray<LeavingMember & { readonly error: GroupError }>;
}

type JoinReply = (outcome: JoinOutcome) => void;
type SyncReply = (outcome: SyncOutcome) => void;

const EMPTY_BUFFER = Buffer.alloc(0);

export function joinError(error: GroupError, memberId: string): JoinOutcome {
  return { error, generationId: -1, protocolType: null, protocolName: null, leaderId: '', memberId, members: [] };
}

export function syncError(error: GroupError): SyncOutcome {
  return { error, protocolType: null, protocolName: null, assignment: EMPTY_BUFFER };
}

export class GroupMember {
  joinReply: JoinReply | null = null;
  syncReply: SyncReply | null = null;
  assignment: Buffer = EMPTY_BUFFER;
  assignedPartitions: readonly AssignedTopic[] | null = null;
  /** ms: removed once now passes it while not waiting in a JoinGroup or SyncGroup */
  sessionDeadline = 0;
  /** when it joined first, ms */
  readonly joinedAtMs: number;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: readonly GroupProtocol[];

  constructor(
    readonly memberId: string,
    request: JoinRequest,
    now: number,
  ) {
    this.joinedAtMs = now;
    this.groupInstanceId = request.groupInstanceId;
    this.clientId = request.clientId;
    this.clientHost = request.clientHost;
    this.sessionTimeoutMs = request.sessionTimeoutMs;
    this.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    this.protocols = copyProtocols(request.protocols);
    this.sessionDeadline = now + request.sessionTimeoutMs;
  }

  update(request: JoinRequest): void {
    this.groupInstanceId = request.groupInstanceId;
    this.clientId = request.clientId;
    this.clientHost = request.clientHost;
    this.sessionTimeoutMs = request.sessionTimeoutMs;
    this.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    this.protocols = copyProtocols(request.protocols);
  }

  supports(protocolName: string): boolean {
    return this.protocols.some((p) => p.name === protocolName);
  }

  metadataFor(protocolName: string | null): Buffer {
    if (protocolName === null) return EMPTY_BUFFER;
    return this.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY_BUFFER;
  }

  /** Same protocols in the same order with the same metadata. */
  sameProtocols(protocols: readonly GroupProtocol[]): boolean {
    if (protocols.length !== this.protocols.length) return false;
    return protocols.every((p, i) => p.name === this.protocols[i]!.name && p.metadata.equals(this.protocols[i]!.metadata));
  }

  touch(now: number): void {
    this.sessionDeadline = now + this.sessionTimeoutMs;
  }
}

/** Member metadata arrives as views into request frames: keep copies, not the frames. */
function copyProtocols(protocols: readonly GroupProtocol[]): GroupProtocol[] {
  return protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) }));
}

export function newMemberId(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

export class ConsumerGroup {
  state: GroupState = 'Empty';
  generationId = 0;
  /** kept while Empty, as Kafka does (ListGroups shows an empty consumer group as 'consumer') */
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, GroupMember>();
  /** static members: group instance id → member id */
  private readonly staticMembers = new Map<string, string>();
  /** ids handed out with 'member-id-required', and when each is dropped if unused (ms) */
  readonly pendingMembers = new Map<string, number>();
  /** when the group last became Empty after a generation (ms), 0 if never */
  emptySinceMs = 0;

  /** PreparingRebalance: when the join phase ends at the latest (ms) */
  private joinDeadline = 0;
  /** the join phase started from Empty: wait out the initial delay even once everybody joined */
  private initialDelayPhase = false;
  private newMemberAdded = false;
  /** initial-delay phase: the delay is extended up to this (ms) */
  private initialDelayLimit = 0;
  /** CompletingRebalance: members that have not sent SyncGroup by then are removed (ms) */
  private syncDeadline = 0;

  constructor(
    readonly groupId: string,
    private readonly initialRebalanceDelayMs: number = INITIAL_REBALANCE_DELAY_MS,
  ) {}

  /** Empty with nobody pending: nothing would be lost by forgetting the membership object. */
  get idle(): boolean {
    return this.state === 'Empty' && this.members.size === 0 && this.pendingMembers.size === 0;
  }

  // ---- JoinGroup --------------------------------------------------------------------------------------

  /** Handles a JoinGroup; `reply` is called now or when the join phase completes. */
  join(request: JoinRequest, now: number, reply: JoinReply): void {
    if (this.state === 'Dead') return reply(joinError('coordinator-not-available', request.memberId));
    const instanceId = request.groupInstanceId;
    if (request.memberId === '') {
      const known = instanceId === null ? undefined : this.members.get(this.staticMembers.get(instanceId) ?? '');
      if (known !== undefined) return this.replaceStaticMember(known, request, now, reply);
      if (!this.acceptsProtocols(request, null)) return reply(joinError('inconsistent-protocol', ''));
      const memberId = newMemberId(request.groupInstanceId ?? request.clientId);
      // a static member needs no MEMBER_ID_REQUIRED round trip: its instance id names it
      if (request.requireKnownMemberId && instanceId === null) {
        this.pendingMembers.set(memberId, now + request.sessionTimeoutMs);
        return reply(joinError('member-id-required', memberId));
      }
      this.addMember(memberId, request, now, reply);
      return;
    }
    if (this.pendingMembers.has(request.memberId)) {
      if (!this.acceptsProtocols(request, null)) return reply(joinError('inconsistent-protocol', request.memberId));
      this.pendingMembers.delete(request.memberId);
      this.addMember(request.memberId, request, now, reply);
      return;
    }
    const fenced = this.instanceProblem(request.memberId, instanceId);
    if (fenced !== 'none') return reply(joinError(fenced, request.memberId));
    const member = this.members.get(request.memberId);
    if (member === undefined) return reply(joinError('unknown-member', request.memberId));
    if (!this.acceptsProtocols(request, member)) return reply(joinError('inconsistent-protocol', request.memberId));
    member.touch(now);
    switch (this.state) {
      case 'PreparingRebalance':
        this.updateMember(member, request, now, reply);
        return;
      case 'CompletingRebalance':
        // the member did not get (or lost) the answer to its join: the same generation again
        if (member.sameProtocols(request.protocols)) return reply(this.joinAnswer(member));
        this.updateMember(member, request, now, reply);
        return;
      case 'Stable':
        // the leader rejoining means it wants to assign again (e.g. its subscription's topics changed)
        if (member.memberId === this.leaderId || !member.sameProtocols(request.protocols)) {
          this.updateMember(member, request, now, reply);
          return;
        }
        return reply({ ...this.joinAnswer(member), members: [] });
      default:
        return reply(joinError('unknown-member', request.memberId));
    }
  }

  /**
   * Kafka's static-member checks: a member id other than the one the instance id now belongs to is fenced;
   * an instance id the group does not know, given with a member id, names nobody.
   */
  private instanceProblem(memberId: string, instanceId: string | null): GroupError {
    if (instanceId === null) return 'none';
    const current = this.staticMembers.get(instanceId);
    if (current === undefined) return 'unknown-member';
    return current === memberId ? 'none' : 'fenced-instance-id';
  }

  /** A known static member joins again without its member id (it restarted): see the header comment. */
  private replaceStaticMember(old: GroupMember, request: JoinRequest, now: number, reply: JoinReply): void {
    if (!this.acceptsProtocols(request, old)) return reply(joinError('inconsistent-protocol', ''));
    const leaderBefore = this.leaderId ?? '';
    const unchanged = old.sameProtocols(request.protocols);
    const member = new GroupMember(newMemberId(request.groupInstanceId!), request, now);
    member.assignment = old.assignment;
    member.assignedPartitions = old.assignedPartitions;
    const oldJoin = old.joinReply;
    const oldSync = old.syncReply;
    old.joinReply = null;
    old.syncReply = null;
    this.members.delete(old.memberId);
    this.members.set(member.memberId, member);
    this.staticMembers.set(request.groupInstanceId!, member.memberId);
    if (this.leaderId === old.memberId) this.leaderId = member.memberId;
    oldJoin?.(joinError('fenced-instance-id', old.memberId));
    oldSync?.(syncError('fenced-instance-id'));
    switch (this.state) {
      case 'Stable':
        if (unchanged && this.selectProtocol() === this.protocolName) {
          // no rebalance: the current generation, and the leader as it was so that this member does not assign
          return reply({ ...this.joinAnswer(member), leaderId: leaderBefore, members: [] });
        }
        member.joinReply = reply;
        this.prepareRebalance(now);
        return;
      case 'CompletingRebalance':
        // the leader may be assigning to the old member id: assign again
        member.joinReply = reply;
        this.prepareRebalance(now);
        return;
      default:
        // PreparingRebalance: it takes the old member's place in the join phase
        member.joinReply = reply;
        this.tryCompleteJoin(now);
        return;
    }
  }

  /** Kafka's supportsProtocols: a protocol type and protocols, and one protocol every other member has. */
  private acceptsProtocols(request: JoinRequest, self: GroupMember | null): boolean {
    if (request.protocolType === '' || request.protocols.length === 0) return false;
    const others = [...this.members.values()].filter((m) => m !== self);
    if (others.length === 0) return true;
    if (request.protocolType !== this.protocolType) return false;
    return request.protocols.some((p) => others.every((m) => m.supports(p.name)));
  }

  private addMember(memberId: string, request: JoinRequest, now: number, reply: JoinReply): void {
    const member = new GroupMember(memberId, request, now);
    member.joinReply = reply;
    if (this.members.size === 0) this.protocolType = request.protocolType;
    this.members.set(memberId, member);
    if (request.groupInstanceId !== null) this.staticMembers.set(request.groupInstanceId, memberId);
    if (this.leaderId === null || !this.members.has(this.leaderId)) this.leaderId = memberId;
    if (this.state === 'PreparingRebalance' && this.initialDelayPhase) this.newMemberAdded = true;
    this.maybePrepareRebalance(now);
    this.tryCompleteJoin(now);
  }

  private updateMember(member: GroupMember, request: JoinRequest, now: number, reply: JoinReply): void {
    member.update(request);
    // a second JoinGroup from the same member replaces the first: answer the first so its connection moves on
    const previous = member.joinReply;
    member.joinReply = reply;
    if (previous !== null) previous(joinError('rebalance-in-progress', member.memberId));
    this.maybePrepareRebalance(now);
    this.tryCompleteJoin(now);
  }

  private maybePrepareRebalance(now: number): void {
    if (this.state === 'Stable' || this.state === 'CompletingRebalance' || this.state === 'Empty') this.prepareRebalance(now);
  }

  private prepareRebalance(now: number): void {
    if (this.state === 'CompletingRebalance') this.failPendingSyncs('rebalance-in-progress');
    this.syncDeadline = 0;
    const rebalanceTimeout = this.rebalanceTimeoutMs();
    if (this.state === 'Empty') {
      this.initialDelayPhase = true;
      this.newMemberAdded = false;
      this.initialDelayLimit = now + Math.max(rebalanceTimeout, this.initialRebalanceDelayMs);
      this.joinDeadline = now + this.initialRebalanceDelayMs;
    } else {
      this.initialDelayPhase = false;
      this.joinDeadline = now + rebalanceTimeout;
    }
    this.state = 'PreparingRebalance';
    this.tryCompleteJoin(now);
  }

  private rebalanceTimeoutMs(): number {
    let timeout = 0;
    for (const m of this.members.values()) timeout = Math.max(timeout, m.rebalanceTimeoutMs);
    return timeout;
  }

  private allMembersJoined(): boolean {
    if (this.pendingMembers.size > 0) return false;
    for (const m of this.members.values()) if (m.joinReply === null) return false;
    return true;
  }

  private tryCompleteJoin(now: number): void {
    if (this.state === 'PreparingRebalance' && !this.initialDelayPhase && this.allMembersJoined()) this.completeJoin(now);
  }

  private completeJoin(now: number): void {
    this.joinDeadline = 0;
    this.initialDelayPhase = false;
    // members that did not rejoin in time are out (Kafka removes dynamic members that did not rejoin)
    for (const m of [...this.members.values()]) if (m.joinReply === null) this.dropMember(m);
    this.generationId++;
    if (this.members.size === 0) {
      this.state = 'Empty';
      this.protocolName = null;
      this.leaderId = null;
      this.emptySinceMs = now;
      return;
    }
    if (this.leaderId === null || !this.members.has(this.leaderId)) this.leaderId = this.members.keys().next().value!;
    this.protocolName = this.selectProtocol();
    this.state = 'CompletingRebalance';
    this.syncDeadline = now + this.rebalanceTimeoutMs();
    for (const m of this.members.values()) {
      const reply = m.joinReply!;
      m.joinReply = null;
      m.touch(now);
      reply(this.joinAnswer(m));
    }
  }

  /** Kafka's vote: among protocols every member supports, each member votes for the first it lists. */
  private selectProtocol(): string {
    const members = [...this.members.values()];
    const leader = this.members.get(this.leaderId!)!;
    const candidates = leader.protocols.map((p) => p.name).filter((name) => members.every((m) => m.supports(name)));
    if (candidates.length === 0) return leader.protocols[0]!.name; // cannot happen: joins keep a common protocol
    const votes = new Map<string, number>();
    for (const m of members) {
      const choice = m.protocols.find((p) => candidates.includes(p.name))!.name;
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    // most votes wins; a tie goes to the leader's preference (candidates are in its order)
    let best = candidates[0]!;
    for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
    return best;
  }

  private joinAnswer(member: GroupMember): JoinOutcome {
    const isLeader = member.memberId === this.leaderId;
    const members: JoinedMember[] = [];
    if (isLeader) {
      for (const m of this.members.values()) {
        members.push({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(this.protocolName) });
      }
    }
    return {
      error: 'none',
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leaderId: this.leaderId ?? '',
      memberId: member.memberId,
      members,
    };
  }

  // ---- SyncGroup --------------------------------------------------------------------------------------

  sync(request: SyncRequest, now: number, reply: SyncReply): void {
    if (this.state === 'Dead') return reply(syncError('coordinator-not-available'));
    const fenced = this.instanceProblem(request.memberId, request.groupInstanceId);
    if (fenced !== 'none') return reply(syncError(fenced));
    const member = this.members.get(request.memberId);
    if (member === undefined) return reply(syncError('unknown-member'));
    if (request.generationId !== this.generationId) return reply(syncError('illegal-generation'));
    if (
      (request.protocolType !== null && request.protocolType !== this.protocolType) ||
      (request.protocolName !== null && request.protocolName !== this.protocolName)
    ) {
      return reply(syncError('inconsistent-protocol'));
    }
    member.touch(now);
    switch (this.state) {
      case 'PreparingRebalance':
        return reply(syncError('rebalance-in-progress'));
      case 'Stable':
        return reply(this.syncAnswer(member));
      case 'CompletingRebalance': {
        const previous = member.syncReply;
        member.syncReply = reply;
        if (previous !== null) previous(syncError('rebalance-in-progress'));
        if (member.memberId === this.leaderId) this.completeSync(request.assignments, now);
        return;
      }
      default:
        return reply(syncError('unknown-member'));
    }
  }

  private completeSync(assignments: readonly MemberAssignment[], now: number): void {
    const byMember = new Map<string, MemberAssignment>();
    for (const a of assignments) byMember.set(a.memberId, a);
    for (const m of this.members.values()) {
      const given = byMember.get(m.memberId);
      // members the leader left out get an empty assignment, as in Kafka
      m.assignment = given === undefined ? EMPTY_BUFFER : Buffer.from(given.assignment);
      m.assignedPartitions = given?.partitions ?? null;
    }
    this.state = 'Stable';
    this.syncDeadline = 0;
    for (const m of this.members.values()) {
      const reply = m.syncReply;
      if (reply === null) continue;
      m.syncReply = null;
      m.touch(now);
      reply(this.syncAnswer(m));
    }
  }

  private syncAnswer(member: GroupMember): SyncOutcome {
    return { error: 'none', protocolType: this.protocolType, protocolName: this.protocolName, assignment: member.assignment };
  }

  /** CompletingRebalance interrupted: everybody waiting in SyncGroup must rejoin; assignments are void. */
  private failPendingSyncs(error: GroupError): void {
    for (const m of this.members.values()) {
      m.assignment = EMPTY_BUFFER;
      m.assignedPartitions = null;
      const reply = m.syncReply;
      if (reply === null) continue;
      m.syncReply = null;
      reply(syncError(error));
    }
  }

  // ---- Heartbeat, LeaveGroup, commits -------------------------------------------------------------------

  heartbeat(memberId: string, generationId: number, now: number, groupInstanceId: string | null = null): GroupError {
    if (this.state === 'Dead') return 'coordinator-not-available';
    const fenced = this.instanceProblem(memberId, groupInstanceId);
    if (fenced !== 'none') return fenced;
    const member = this.members.get(memberId);
    if (member === undefined) return 'unknown-member';
    if (generationId !== this.generationId) return 'illegal-generation';
    member.touch(now);
    return this.state === 'PreparingRebalance' ? 'rebalance-in-progress' : 'none';
  }

  leave(leaving: readonly LeavingMember[], now: number): LeaveOutcome {
    if (this.state === 'Dead') return { error: 'coordinator-not-available', members: [] };
    const results: Array<LeavingMember & { error: GroupError }> = [];
    for (const l of leaving) {
      let memberId = l.memberId;
      if (l.groupInstanceId !== null) {
        const current = this.staticMembers.get(l.groupInstanceId);
        if (memberId === '' && current !== undefined) memberId = current;
        else if (current !== undefined && current !== memberId) {
          results.push({ ...l, error: 'fenced-instance-id' });
          continue;
        }
      }
      if (this.pendingMembers.delete(memberId)) {
        results.push({ ...l, error: 'none' });
        this.tryCompleteJoin(now);
        continue;
      }
      const member = this.members.get(memberId);
      if (member === undefined) {
        results.push({ ...l, error: 'unknown-member' });
        continue;
      }
      this.removeMember(member, now);
      results.push({ ...l, error: 'none' });
    }
    return { error: 'none', members: results };
  }

  /**
   * Whether an OffsetCommit with this generation and member may commit (Kafka's validateOffsetCommit).
   * Generation -1 with no member id is a standalone commit, allowed only while the group is Empty.
   */
  validateCommit(generationId: number, memberId: string, groupInstanceId: string | null, now: number): GroupError {
    if (this.state === 'Dead') return 'coordinator-not-available';
    if (generationId >= 0 || memberId !== '' || groupInstanceId !== null) {
      const fenced = this.instanceProblem(memberId, groupInstanceId);
      if (fenced !== 'none') return fenced;
      const member = this.members.get(memberId);
      if (member === undefined) return 'unknown-member';
      if (generationId !== this.generationId) return 'illegal-generation';
      if (this.state === 'CompletingRebalance') return 'rebalance-in-progress';
      member.touch(now);
      return 'none';
    }
    if (this.state !== 'Empty') return 'unknown-member';
    return 'none';
  }

  /** The group is being deleted: everyone still waiting is told the coordinator is gone. */
  markDead(): void {
    this.state = 'Dead';
    for (const m of this.members.values()) {
      m.joinReply?.(joinError('coordinator-not-available', m.memberId));
      m.syncReply?.(syncError('coordinator-not-available'));
      m.joinReply = null;
      m.syncReply = null;
    }
    this.members.clear();
    this.staticMembers.clear();
    this.pendingMembers.clear();
  }

  /** Forgets a member (and its instance id, if it still names it). */
  private dropMember(member: GroupMember): void {
    this.members.delete(member.memberId);
    const instanceId = member.groupInstanceId;
    if (instanceId !== null && this.staticMembers.get(instanceId) === member.memberId) this.staticMembers.delete(instanceId);
  }

  private removeMember(member: GroupMember, now: number): void {
    // anything it still waits for ends now (another connection may have sent the LeaveGroup)
    const joinReply = member.joinReply;
    const syncReply = member.syncReply;
    member.joinReply = null;
    member.syncReply = null;
    joinReply?.(joinError('unknown-member', member.memberId));
    syncReply?.(syncError('unknown-member'));
    this.dropMember(member);
    if (this.leaderId === member.memberId) this.leaderId = this.members.size > 0 ? this.members.keys().next().value! : null;
    if (this.state === 'Stable' || this.state === 'CompletingRebalance') this.maybePrepareRebalance(now);
    else if (this.state === 'PreparingRebalance') this.tryCompleteJoin(now);
  }

  // ---- timers -----------------------------------------------------------------------------------------

  /**
   * Applies every deadline that passed by `now`: pending member ids and sessions expire, the join and
   * sync phases end. Returns the ids of the members removed for a missed session deadline.
   */
  expire(now: number): string[] {
    const expired: string[] = [];
    if (this.state === 'Dead') return expired;
    let pendingDropped = false;
    for (const [memberId, deadline] of this.pendingMembers) {
      if (now >= deadline) {
        this.pendingMembers.delete(memberId);
        pendingDropped = true;
      }
    }
    for (const m of this.members.values()) {
      if (now >= m.sessionDeadline && m.joinReply === null && m.syncReply === null) expired.push(m.memberId);
    }
    for (const memberId of expired) {
      // removing one may end a join phase, which drops others that had not rejoined
      const m = this.members.get(memberId);
      if (m !== undefined) this.removeMember(m, now);
    }
    if (pendingDropped) this.tryCompleteJoin(now);
    if (this.state === 'PreparingRebalance' && this.joinDeadline > 0 && now >= this.joinDeadline) {
      if (this.initialDelayPhase && this.newMemberAdded && now < this.initialDelayLimit) {
        this.newMemberAdded = false;
        this.joinDeadline = Math.min(now + this.initialRebalanceDelayMs, this.initialDelayLimit);
      } else {
        this.initialDelayPhase = false;
        this.completeJoin(now);
      }
    }
    if (this.state === 'CompletingRebalance' && this.syncDeadline > 0 && now >= this.syncDeadline) {
      this.syncDeadline = 0;
      const late = [...this.members.values()].filter((m) => m.syncReply === null);
      for (const m of late) {
        expired.push(m.memberId);
        this.removeMember(m, now);
      }
    }
    return expired;
  }
}
