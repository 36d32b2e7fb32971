/**
 * Resetting a Kafka consumer group's committed offsets, as kafka-consumer-groups.sh --reset-offsets does
 * (Postbox's own route; RabbitMQ has no equivalent):
 *   POST /api/streams/groups/{id}/reset-offsets
 *        { topics?: [{ topic, partitions? }], to: 'earliest' | 'latest' | 'offset' | 'datetime',
 *          offset?: number (to 'offset'), timestamp?: ms since the epoch or an ISO 8601 text (to 'datetime'),
 *          execute?: boolean }
 *     → 200 { group_id, executed, offsets: [{ topic, partition, current_offset, new_offset }] }
 * Without `execute: true` nothing changes: the reply is the plan (a dry run, kafka-consumer-groups' default).
 * Without `topics`, every topic the group has committed offsets for; a topic without `partitions`, all of
 * its partitions. `to: 'offset'` is clamped into [log start offset, high watermark] of each partition, as
 * Kafka's tool does; `to: 'datetime'` finds the first record batch holding a record at or after the time
 * (at batch granularity: a batch's earlier records are read again) and the high watermark when there is
 * none. As in Kafka, only a group without members can be reset (409 otherwise: its members would overwrite
 * the offsets with their next commit). Needs administrator, like the other changes to groups.
 */
import type { Partition, Topic } from '../core/stream/topics.js';
import { optionalJsonObject } from './access.js';
import { ADMINISTRATOR_TAGS, httpError, requireTag, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';

const RESET_TARGETS = ['earliest', 'latest', 'offset', 'datetime'] as const;
type ResetTarget = (typeof RESET_TARGETS)[number];

interface PlannedOffset {
  readonly topic: string;
  readonly partition: number;
  /** the committed offset now, null when the group has none for the partition */
  readonly current_offset: number | null;
  readonly new_offset: number;
}

/** The partitions a reset covers: those named, or every committed one of the group. */
function selectedPartitions(body: Record<string, unknown>, groupId: string, ctx: ManagementContext): { topic: Topic; partition: Partition }[] {
  const raw = body.topics;
  let wanted: { topic: string; partitions: number[] | null }[];
  if (raw === undefined) {
    const committed = new Set(ctx.groups.committedOffsets(groupId).map((o) => o.topic));
    if (committed.size === 0) throw httpError(400, `consumer group '${groupId}' has no committed offsets: say which topics to reset`);
    wanted = [...committed].map((topic) => ({ topic, partitions: null }));
  } else {
    if (!Array.isArray(raw) || raw.length === 0) throw httpError(400, "'topics' must be a non-empty array of { topic, partitions? }");
    wanted = raw.map((t: unknown, i: number) => {
      const entry = t as { topic?: unknown; partitions?: unknown } | null;
      if (entry === null || typeof entry !== 'object' || typeof entry.topic !== 'string') throw httpError(400, `topics[${i}] needs a 'topic' name`);
      const partitions = entry.partitions;
      if (partitions === undefined || partitions === null) return { topic: entry.topic, partitions: null };
      if (!Array.isArray(partitions) || !partitions.every((p) => Number.isInteger(p))) throw httpError(400, `topics[${i}].partitions must be an array of partition numbers`);
      return { topic: entry.topic, partitions: partitions as number[] };
    });
  }
  const out: { topic: Topic; partition: Partition }[] = [];
  for (const w of wanted) {
    const topic = ctx.streams.topic(w.topic);
    if (topic === undefined) throw httpError(404, `no topic '${w.topic}'`);
    const indexes = w.partitions ?? topic.partitions.map((p) => p.index);
    for (const index of indexes) {
      const partition = topic.partitions[index];
      if (partition === undefined) throw httpError(404, `topic '${w.topic}' has no partition ${index} (it has ${topic.partitions.length})`);
      out.push({ topic, partition });
    }
  }
  return out;
}

function resetTarget(body: Record<string, unknown>): ResetTarget {
  const to = body.to;
  if (typeof to !== 'string' || !(RESET_TARGETS as readonly string[]).includes(to)) throw httpError(400, `'to' must be one of ${RESET_TARGETS.join(', ')}`);
  return to as ResetTarget;
}

function timestampOf(body: Record<string, unknown>): number {
  const t = body.timestamp;
  const ms = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : Number.NaN;
  if (!Number.isFinite(ms)) throw httpError(400, "to 'datetime' needs a 'timestamp': ms since the epoch or an ISO 8601 date-time such as 2026-12-07T09:30:00Z");
  return ms;
}

function newOffset(partition: Partition, to: ResetTarget, body: Record<string, unknown>): bigint {
  const start = partition.log.logStartOffset;
  const end = partition.highWatermark;
  switch (to) {
    case 'earliest':
      return start;
    case 'latest':
      return end;
    case 'offset': {
      const offset = body.offset;
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw httpError(400, "to 'offset' needs an 'offset': a whole number 0 or more");
      const wanted = BigInt(offset);
      return wanted < start ? start : wanted > end ? end : wanted;
    }
    case 'datetime': {
      const found = partition.log.offsetForTimestamp(timestampOf(body));
      if (found === null || found > end) return end;
      return found < start ? start : found;
    }
  }
}

async function resetOffsets(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  requireTag(req.user, ADMINISTRATOR_TAGS, 'reset consumer group offsets');
  const groupId = req.params.id!;
  if (groupId === '') throw httpError(400, 'a consumer group id cannot be empty');
  const body = optionalJsonObject(req);
  const to = resetTarget(body);
  const execute = body.execute === true;
  const view = ctx.groups.describeGroup(groupId);
  if (view !== null && view.members.length > 0) {
    throw httpError(409, `consumer group '${groupId}' has ${view.members.length} member(s) (state ${view.state}): offsets can only be reset while it has none; stop its consumers first`);
  }
  const current = new Map<string, number>();
  for (const o of ctx.groups.committedOffsets(groupId)) current.set(`${o.topic}\u0000${o.partition}`, Number(o.committedOffset));
  const plan: PlannedOffset[] = [];
  const offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number; metadata: string | null }[] = [];
  for (const { topic, partition } of selectedPartitions(body, groupId, ctx)) {
    const offset = newOffset(partition, to, body);
    plan.push({ topic: topic.name, partition: partition.index, current_offset: current.get(`${topic.name}\u0000${partition.index}`) ?? null, new_offset: Number(offset) });
    offsets.push({ topic: topic.name, partition: partition.index, offset, leaderEpoch: -1, metadata: '' });
  }
  if (execute) {
    // a standalone commit (no generation, no member), as the Kafka tool's admin client sends it
    const results = await ctx.groups.commitOffsets({ groupId, generationId: -1, memberId: '', groupInstanceId: null, offsets });
    const failed = results.find((r) => r.error !== 'none');
    if (failed !== undefined) {
      const status = failed.error === 'unknown-member' || failed.error === 'illegal-generation' || failed.error === 'rebalance-in-progress' ? 409 : 503;
      throw httpError(status, `consumer group '${groupId}': offsets not reset (${failed.error} on ${failed.topic} partition ${failed.partition})`);
    }
    ctx.logger.info(`consumer group '${groupId}': offsets of ${plan.length} partition(s) reset to ${to} by '${req.user.name}' (management API)`);
  }
  return { status: 200, body: { group_id: groupId, executed: execute, offsets: plan } };
}

export const groupOffsetRoutes: readonly Route[] = [{ method: 'POST', path: '/api/streams/groups/:id/reset-offsets', handler: resetOffsets }];
