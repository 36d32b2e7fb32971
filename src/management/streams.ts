/**
 * Kafka-side routes (Postbox's own; RabbitMQ has no equivalent). Offsets are JSON numbers: they stay far
 * below 2^53 (a partition would need 9e15 records).
 *   GET    /api/streams/topics              every topic: partitions, explicit configs, messages, size_bytes,
 *                                           partition_details [{partition, log_start_offset, high_watermark,
 *                                           size_bytes, segments}]
 *   GET    /api/streams/topics/{name}       one topic (404 when missing)
 *   PUT    /api/streams/topics/{name}       { partitions?, configs? } → 201; 409 when it exists
 *   DELETE /api/streams/topics/{name}       → 204; 404 when missing
 *   GET    /api/streams/groups              consumer groups with members, assignments, committed offsets and lag
 *   GET    /api/streams/groups/{id}         one group (404 when missing)
 *   DELETE /api/streams/groups/{id}         delete an empty group's offsets → 204; 409 while it has members
 * Reads need a management tag; creating and deleting need administrator (topics are not in a vhost).
 */
import type { Topic } from '../core/stream/topics.js';
import type { GroupView } from '../core/stream/groups.js';
import { optionalJsonObject } from './access.js';
import { TOPIC_CONFIGS } from '../core/stream/topic-config.js';
import type { PartitionCounters } from '../core/stats.js';
import { rate } from './shapes.js';
import { listReply, mapRows } from './listing.js';
import { Errors } from '../errors/errors.js';
import { ADMINISTRATOR_TAGS, apiError, requireTag, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';

/** A partition's (or a sum of partitions') produce and consume counters with their rates, RabbitMQ-style. */
function streamStats(
  c: Pick<PartitionCounters, 'recordsIn' | 'bytesIn' | 'recordsOut' | 'bytesOut' | 'recordsInRate' | 'bytesInRate' | 'recordsOutRate' | 'bytesOutRate'>,
): Record<string, unknown> {
  return {
    records_in: c.recordsIn,
    records_in_details: rate(c.recordsInRate),
    bytes_in: c.bytesIn,
    bytes_in_details: rate(c.bytesInRate),
    records_out: c.recordsOut,
    records_out_details: rate(c.recordsOutRate),
    bytes_out: c.bytesOut,
    bytes_out_details: rate(c.bytesOutRate),
  };
}

/** The configs Postbox applies, each with the value in effect and where it comes from (the topic, or the broker's default). */
function effectiveConfigs(t: Topic, defaultSegmentBytes: number): Record<string, { value: string; source: 'topic' | 'default' }> {
  const out: Record<string, { value: string; source: 'topic' | 'default' }> = {};
  for (const c of TOPIC_CONFIGS) {
    if (!c.applied) continue;
    const set = t.explicitConfigs[c.name];
    out[c.name] = set === undefined ? { value: c.defaultValue(defaultSegmentBytes), source: 'default' } : { value: set, source: 'topic' };
  }
  return out;
}

export function topicJson(t: Topic, ctx: ManagementContext): Record<string, unknown> {
  let messages = 0;
  let size = 0;
  const sum = { recordsIn: 0, bytesIn: 0, recordsOut: 0, bytesOut: 0, recordsInRate: 0, bytesInRate: 0, recordsOutRate: 0, bytesOutRate: 0 };
  const partitions = t.partitions.map((p) => {
    const start = Number(p.log.logStartOffset);
    const high = Number(p.highWatermark);
    messages += Math.max(0, high - start);
    size += p.log.sizeBytes;
    const c = p.counters;
    sum.recordsIn += c.recordsIn;
    sum.bytesIn += c.bytesIn;
    sum.recordsOut += c.recordsOut;
    sum.bytesOut += c.bytesOut;
    sum.recordsInRate += c.recordsInRate;
    sum.bytesInRate += c.bytesInRate;
    sum.recordsOutRate += c.recordsOutRate;
    sum.bytesOutRate += c.bytesOutRate;
    return {
      partition: p.index,
      log_start_offset: start,
      high_watermark: high,
      size_bytes: p.log.sizeBytes,
      segments: p.log.segmentCount,
      message_stats: streamStats(c),
    };
  });
  return {
    name: t.name,
    topic_id: t.id.toString('hex'),
    partitions: t.partitions.length,
    configs: { ...t.explicitConfigs },
    effective_configs: effectiveConfigs(t, ctx.streams.defaultSegmentBytes),
    messages,
    size_bytes: size,
    message_stats: streamStats(sum),
    partition_details: partitions,
  };
}

export function groupJson(g: GroupView, ctx: ManagementContext): Record<string, unknown> {
  const offsets = ctx.groups.committedOffsets(g.groupId).map((o) => ({
    topic: o.topic,
    partition: o.partition,
    committed_offset: Number(o.committedOffset),
    high_watermark: o.highWatermark === null ? null : Number(o.highWatermark),
    lag: o.lag === null ? null : Number(o.lag),
  }));
  return {
    group_id: g.groupId,
    state: g.state,
    protocol_type: g.protocolType,
    protocol: g.protocolName,
    generation_id: g.generationId,
    leader: g.leaderId,
    members: g.members.map((m) => ({
      member_id: m.memberId,
      group_instance_id: m.groupInstanceId,
      client_id: m.clientId,
      client_host: m.clientHost,
      session_timeout_ms: m.sessionTimeoutMs,
      assignments: (m.assignedPartitions ?? []).map((a) => ({ topic: a.topic, partitions: [...a.partitions] })),
    })),
    offsets,
    total_lag: offsets.reduce((n, o) => n + (o.lag ?? 0), 0),
  };
}

function topicNamed(ctx: ManagementContext, name: string): Topic {
  const t = ctx.streams.topic(name);
  if (t === undefined) throw apiError(Errors.UNKNOWN_TOPIC, `no topic '${name}'`);
  return t;
}

function createTopic(req: ApiRequest, ctx: ManagementContext): ApiReply {
  requireTag(req.user, ADMINISTRATOR_TAGS, 'create topics');
  const body = optionalJsonObject(req);
  const partitions = body.partitions ?? ctx.streams.defaultPartitions;
  if (typeof partitions !== 'number' || !Number.isInteger(partitions)) throw apiError(Errors.INVALID_PARTITIONS, "'partitions' must be an integer");
  const raw = body.configs ?? {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw apiError(Errors.INVALID_CONFIG, "'configs' must be an object of topic configs");
  const configs: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      throw apiError(Errors.INVALID_CONFIG, `config '${key}' must be a string or number`);
    configs[key] = String(value);
  }
  const topic = ctx.streams.createTopic(req.params.name!, partitions, configs);
  return { status: 201, body: topicJson(topic, ctx) };
}

async function deleteTopic(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  requireTag(req.user, ADMINISTRATOR_TAGS, 'delete topics');
  const name = topicNamed(ctx, req.params.name!).name;
  ctx.streams.deleteTopic(name);
  await ctx.groups.forgetTopic(name); // the groups' committed offsets for it go too, as in Kafka
  return { status: 204 };
}

async function deleteGroup(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  requireTag(req.user, ADMINISTRATOR_TAGS, 'delete consumer groups');
  const id = req.params.id!;
  const outcome = await ctx.groups.deleteGroup(id);
  if (outcome === 'none') return { status: 204 };
  if (outcome === 'group-not-found') throw apiError(Errors.GROUP_NOT_FOUND, `no consumer group '${id}'`);
  if (outcome === 'non-empty-group') throw apiError(Errors.NON_EMPTY_GROUP, `consumer group '${id}' has members`);
  if (outcome === 'invalid-group-id') throw apiError(Errors.INVALID_GROUP_ID, 'a consumer group id cannot be empty');
  throw apiError(Errors.COORDINATOR_NOT_AVAILABLE, `consumer group '${id}' could not be deleted: ${outcome}`);
}

export const streamRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/streams/topics',
    handler: (req, ctx) =>
      listReply(
        req,
        mapRows(ctx.streams.topics(), (t) => topicJson(t, ctx)),
      ),
  },
  { method: 'GET', path: '/api/streams/topics/:name', handler: (req, ctx) => ({ status: 200, body: topicJson(topicNamed(ctx, req.params.name!), ctx) }) },
  { method: 'PUT', path: '/api/streams/topics/:name', handler: createTopic },
  { method: 'DELETE', path: '/api/streams/topics/:name', handler: deleteTopic },
  {
    method: 'GET',
    path: '/api/streams/groups',
    handler: (req, ctx) =>
      listReply(
        req,
        mapRows(ctx.groups.listGroups(), (g) => groupJson(g, ctx)),
      ),
  },
  {
    method: 'GET',
    path: '/api/streams/groups/:id',
    handler: (req, ctx) => {
      const g = ctx.groups.describeGroup(req.params.id!);
      if (g === null) throw apiError(Errors.GROUP_NOT_FOUND, `no consumer group '${req.params.id}'`);
      return { status: 200, body: groupJson(g, ctx) };
    },
  },
  { method: 'DELETE', path: '/api/streams/groups/:id', handler: deleteGroup },
];
