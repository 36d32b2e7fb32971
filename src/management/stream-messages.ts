/**
 * A topic's records for an operator (Kafka UI's, AKHQ's and Redpanda Console's message browser and
 * "produce"), and resetting a consumer group's offsets (kafka-consumer-groups --reset-offsets):
 *
 *   GET  /api/streams/topics/{name}/messages   browse: ?partition=N|all &from=newest|earliest|offset|timestamp
 *                                              &offset=N &timestamp=ms|ISO-8601 &max=records &max_bytes=bytes
 *                                              → { records: [{partition, offset, timestamp, timestamp_type, key,
 *                                              value, headers, size}], partitions: [...], limited, ... }
 *   POST /api/streams/topics/{name}/messages   { key?, value?, headers?, partition?, key_encoding?,
 *                                              value_encoding? } → { partition, offset } once durable
 *   POST /api/streams/groups/{id}/reset-offsets { to: earliest|latest|timestamp|offset, topic?, partitions?,
 *                                              timestamp?, offset?, dry_run? } → { offsets: [...] };
 *                                              409 while the group has members
 *
 * Permissions are the user's in the Kafka vhost (--kafka-vhost), as a Kafka client of the same user has:
 * browsing needs read on the topic, producing write on it, resetting read on the group and on each topic
 * (Kafka's OffsetCommit ACLs). Keys, values and header values come back as previews (MAX_PREVIEW_BYTES):
 * UTF-8 text as `text`, JSON as `json` pretty-printed, anything else as `base64`.
 */
import type { UserConfig } from '../config/config.js';
import type { AccessKind } from '../core/users.js';
import type { Partition, Topic } from '../core/stream/topics.js';
import { browsePartition, offsetForTime, produceRecord, type BrowsedRecord, type BytesPreview } from '../core/stream/browse.js';
import { BrokerError, Errors } from '../errors/errors.js';
import { apiError, jsonObject, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';

/** Records one browse returns by default, and at most (a larger `max` is clamped): a page, not an export. */
export const DEFAULT_BROWSE_RECORDS = 50;
/** Topics one reset-offsets request may name (a list for kafka-consumer-groups' repeated --topic). */
export const MAX_RESET_TOPICS = 1000;
export const MAX_BROWSE_RECORDS = 500;
/** Preview bytes (keys, values, header values) one browse returns by default, and at most, bytes. */
export const DEFAULT_BROWSE_BYTES = 1024 * 1024;
export const MAX_BROWSE_BYTES = 4 * 1024 * 1024;
/** Bytes kept of one key, value or header value, 16 KiB: a screenful; the size of the whole is given beside it. */
export const MAX_PREVIEW_BYTES = 16 * 1024;
/**
 * Log bytes one browse reads over every partition, 32 MiB (besides one whole batch larger than that, which
 * max.message.bytes bounds): a time or offset far from the records wanted costs a bounded read.
 */
export const MAX_BROWSE_SCAN_BYTES = 32 * 1024 * 1024;
/** JSON nested deeper than this is shown as text: pretty-printing deep nesting grows quadratically. */
const MAX_PRETTY_JSON_DEPTH = 64;

function kafkaVhost(ctx: ManagementContext): string {
  return ctx.kafkaVhost ?? '/';
}

/** 403 unless the user's `kind` permission in the Kafka vhost matches `name`, as for a Kafka client of the user. */
function requireStreamAccess(ctx: ManagementContext, user: UserConfig, kind: AccessKind, what: 'topic' | 'group', name: string): void {
  if (ctx.core.users.access(user.name, kafkaVhost(ctx)).allows(kind, name)) return;
  throw apiError(Errors.ACCESS_REFUSED, `user '${user.name}' has no ${kind} permission on ${what} '${name}' in vhost '${kafkaVhost(ctx)}' (--kafka-vhost)`);
}

function topicNamed(ctx: ManagementContext, name: string): Topic {
  const t = ctx.streams.topic(name);
  if (t === undefined) throw apiError(Errors.UNKNOWN_TOPIC, `no topic '${name}'`);
  return t;
}

// ---------------------------------------------------------------- query and body fields

/** a non-negative integer query value (as a bigint: offsets), 400 otherwise */
function offsetParam(text: string, what: string): bigint {
  if (!/^\d{1,19}$/.test(text.trim())) throw apiError(Errors.INVALID_ARGUMENT, `'${what}' must be a non-negative integer offset, got '${text.slice(0, 40)}'`);
  const value = BigInt(text.trim());
  if (value > 0x7fffffffffffffffn) throw apiError(Errors.INVALID_ARGUMENT, `'${what}' is past the largest offset`);
  return value;
}

/** a count query value clamped to [1, max]; 400 when not a positive integer */
function countParam(request: ApiRequest, name: string, fallback: number, max: number): number {
  const text = request.query.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d+$/.test(text.trim())) throw apiError(Errors.INVALID_ARGUMENT, `'${name}' must be a positive integer, got '${text.slice(0, 40)}'`);
  const n = Number(text.trim());
  return Math.max(1, Math.min(n, max));
}

/** ms since the epoch from a number or an ISO-8601 time; 400 otherwise */
function timestampValue(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) {
    const n = Number(value.trim());
    if (Number.isSafeInteger(n)) return n;
  }
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw apiError(Errors.INVALID_ARGUMENT, `'${what}' must be ms since the epoch or an ISO-8601 time`);
}

function partitionsOf(topic: Topic, text: string | null): Partition[] {
  if (text === null || text === '' || text === 'all') return topic.partitions;
  if (!/^\d+$/.test(text.trim())) throw apiError(Errors.INVALID_ARGUMENT, `'partition' must be a partition number or 'all', got '${text.slice(0, 40)}'`);
  const p = topic.partitions[Number(text.trim())];
  if (p === undefined) throw apiError(Errors.UNKNOWN_TOPIC, `topic '${topic.name}' has no partition ${text.trim()} (it has ${topic.partitions.length})`);
  return [p];
}

// ---------------------------------------------------------------- previews

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text of `bytes` (a cut multi-byte character at the end of a truncated preview dropped), or null */
function utf8(bytes: Buffer, truncated: boolean): string | null {
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut <= bytes.length; cut++) {
    try {
      const text = UTF8.decode(bytes.subarray(0, bytes.length - cut));
      // control characters other than tab and line breaks: binary data that happens to be valid UTF-8
      return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? null : text;
    } catch {
      // try a shorter prefix (a truncated preview may end inside a character)
    }
  }
  return null;
}

function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** A preview as JSON: `json` (pretty-printed) when the whole value is JSON, `text` for UTF-8, else `base64`. */
export function previewJson(p: BytesPreview | null): Record<string, unknown> | null {
  if (p === null) return null;
  const truncated = p.bytes.length < p.size;
  const text = utf8(p.bytes, truncated);
  if (text === null) return { encoding: 'base64', data: p.bytes.toString('base64'), size: p.size, truncated };
  const first = text.trimStart()[0];
  if (!truncated && (first === '{' || first === '[') && jsonDepth(text) <= MAX_PRETTY_JSON_DEPTH) {
    try {
      return { encoding: 'json', data: JSON.stringify(JSON.parse(text), null, 2), size: p.size, truncated };
    } catch {
      // not JSON after all: text
    }
  }
  return { encoding: 'text', data: text, size: p.size, truncated };
}

function recordJson(r: BrowsedRecord): Record<string, unknown> {
  return {
    partition: r.partition,
    offset: Number(r.offset),
    timestamp: r.timestamp,
    timestamp_type: r.timestampType,
    key: previewJson(r.key),
    value: previewJson(r.value),
    headers: r.headers.map((h) => ({ key: h.key, value: previewJson(h.value) })),
    size: r.size,
  };
}

// ---------------------------------------------------------------- browse

type From = 'newest' | 'earliest' | 'offset' | 'timestamp';

function browse(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const name = req.params.name!;
  requireStreamAccess(ctx, req.user, 'read', 'topic', name);
  const topic = topicNamed(ctx, name);
  const partitions = partitionsOf(topic, req.query.get('partition'));
  const fromText = req.query.get('from') ?? (req.query.get('offset') !== null ? 'offset' : req.query.get('timestamp') !== null ? 'timestamp' : 'newest');
  if (!['newest', 'earliest', 'offset', 'timestamp'].includes(fromText))
    throw apiError(Errors.INVALID_ARGUMENT, `'from' must be newest, earliest, offset or timestamp, got '${fromText.slice(0, 40)}'`);
  const from = fromText as From;
  const max = countParam(req, 'max', DEFAULT_BROWSE_RECORDS, MAX_BROWSE_RECORDS);
  const maxBytes = countParam(req, 'max_bytes', DEFAULT_BROWSE_BYTES, MAX_BROWSE_BYTES);
  let offset = 0n;
  let timestamp: number | null = null;
  if (from === 'offset') {
    const text = req.query.get('offset');
    if (text === null) throw apiError(Errors.INVALID_ARGUMENT, "from=offset needs 'offset'");
    offset = offsetParam(text, 'offset');
  } else if (from === 'timestamp') {
    const text = req.query.get('timestamp');
    if (text === null) throw apiError(Errors.INVALID_ARGUMENT, "from=timestamp needs 'timestamp'");
    timestamp = timestampValue(text, 'timestamp');
  }
  const records: BrowsedRecord[] = [];
  const positions: Array<Record<string, unknown>> = [];
  let scanLeft = MAX_BROWSE_SCAN_BYTES;
  let bytesLeft = maxBytes;
  let limited = false;
  let skipped = 0;
  for (const p of partitions) {
    const start = p.log.logStartOffset;
    const end = p.highWatermark;
    let at: bigint;
    if (from === 'newest') at = end - BigInt(max) > start ? end - BigInt(max) : start;
    else if (from === 'earliest') at = start;
    else if (from === 'offset') at = offset < start ? start : offset > end ? end : offset;
    else {
      const found = offsetForTime(p, timestamp!, ctx.streams.maxDecompressedBatchBytes);
      at = found.offset < 0n ? end : found.offset;
    }
    if (scanLeft <= 0 || bytesLeft <= 0) {
      limited = limited || at < end;
      positions.push({ partition: p.index, log_start_offset: Number(start), high_watermark: Number(end), start_offset: Number(at), next_offset: Number(at) });
      continue;
    }
    const read = browsePartition(p, at, timestamp, {
      maxRecords: max,
      maxBytes: bytesLeft,
      previewBytes: MAX_PREVIEW_BYTES,
      scanBytes: scanLeft,
      maxDecompressedBytes: ctx.streams.maxDecompressedBatchBytes,
      keepNewest: from === 'newest',
    });
    records.push(...read.records);
    scanLeft -= read.scanned;
    bytesLeft -= read.bytes;
    limited = limited || read.limited;
    skipped += read.skippedBatches;
    positions.push({
      partition: p.index,
      log_start_offset: Number(start),
      high_watermark: Number(end),
      start_offset: Number(at),
      next_offset: Number(read.nextOffset),
    });
  }
  // over several partitions: by time (the newest N are the last N), then partition and offset
  if (partitions.length > 1) {
    records.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    if (records.length > max) {
      limited = true;
      if (from === 'newest') records.splice(0, records.length - max);
      else records.length = max;
    }
  }
  return {
    status: 200,
    body: {
      topic: topic.name,
      partition: partitions.length === 1 && req.query.get('partition') !== null && req.query.get('partition') !== 'all' ? partitions[0]!.index : null,
      from,
      max,
      max_bytes: maxBytes,
      preview_bytes: MAX_PREVIEW_BYTES,
      limited,
      skipped_batches: skipped,
      partitions: positions,
      records: records.map(recordJson),
    },
  };
}

// ---------------------------------------------------------------- produce

function bytesField(body: Record<string, unknown>, name: string, encodingName: string): Buffer | null {
  const v = body[name];
  if (v === undefined || v === null) return null;
  const encoding = body[encodingName] ?? 'string';
  if (encoding !== 'string' && encoding !== 'base64') throw apiError(Errors.INVALID_ARGUMENT, `'${encodingName}' must be 'string' or 'base64'`);
  if (typeof v !== 'string') {
    if (encoding === 'string' && typeof v === 'object') return Buffer.from(JSON.stringify(v), 'utf8'); // a JSON value as its text
    throw apiError(Errors.INVALID_ARGUMENT, `'${name}' must be a string`);
  }
  return encoding === 'base64' ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8');
}

function headersField(body: Record<string, unknown>): Array<{ key: string; value: Buffer | null }> {
  const v = body.headers;
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object') throw apiError(Errors.INVALID_ARGUMENT, "'headers' must be an object or an array of {key, value}");
  let pairs: Array<[unknown, unknown]>;
  if (Array.isArray(v)) {
    pairs = v.map((h: unknown) => {
      if (h === null || typeof h !== 'object') throw apiError(Errors.INVALID_ARGUMENT, "'headers' must be an object or an array of {key, value}");
      return [(h as { key?: unknown }).key, (h as { value?: unknown }).value];
    });
  } else {
    pairs = Object.entries(v as Record<string, unknown>);
  }
  return pairs.map(([key, value]) => {
    if (typeof key !== 'string') throw apiError(Errors.INVALID_ARGUMENT, 'a header key must be a string');
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      throw apiError(Errors.INVALID_ARGUMENT, `header '${key}' must have a string value`);
    return { key, value: value === null ? null : Buffer.from(String(value), 'utf8') };
  });
}

async function produce(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  const name = req.params.name!;
  requireStreamAccess(ctx, req.user, 'write', 'topic', name);
  const topic = topicNamed(ctx, name);
  // Kafka producers are held while a resource alarm is on; an HTTP request is refused instead (as the publish route)
  const alarm = ctx.core.alarm?.reason ?? null;
  if (alarm !== null) throw apiError(Errors.RESOURCE_ERROR, `resource alarm (${alarm}): producing is blocked until it clears`);
  const body = jsonObject(req);
  let partition: number | null = null;
  if (body.partition !== undefined && body.partition !== null && body.partition !== '') {
    const p = typeof body.partition === 'string' && /^\d+$/.test(body.partition) ? Number(body.partition) : body.partition;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) throw apiError(Errors.INVALID_ARGUMENT, "'partition' must be a partition number");
    partition = p;
  }
  const record = { key: bytesField(body, 'key', 'key_encoding'), value: bytesField(body, 'value', 'value_encoding'), headers: headersField(body), partition };
  if (partition !== null && topic.partitions[partition] === undefined)
    throw apiError(Errors.UNKNOWN_TOPIC, `topic '${name}' has no partition ${partition} (it has ${topic.partitions.length})`);
  const written = await produceRecord(ctx.streams, topic, record);
  return { status: 200, body: { topic: name, partition: written.partition, offset: Number(written.offset) } };
}

// ---------------------------------------------------------------- reset offsets

async function resetOffsets(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  const id = req.params.id!;
  requireStreamAccess(ctx, req.user, 'read', 'group', id);
  const body = jsonObject(req);
  const to = body.to;
  if (to !== 'earliest' && to !== 'latest' && to !== 'timestamp' && to !== 'offset')
    throw apiError(Errors.INVALID_ARGUMENT, "'to' must be earliest, latest, timestamp or offset");
  const dryRun = body.dry_run === true;
  let timestamp = 0;
  let offset = 0n;
  if (to === 'timestamp') timestamp = timestampValue(body.timestamp, 'timestamp');
  if (to === 'offset') {
    if (typeof body.offset !== 'number' && typeof body.offset !== 'string') throw apiError(Errors.INVALID_ARGUMENT, "to=offset needs 'offset'");
    offset = offsetParam(String(body.offset), 'offset');
  }
  // which partitions: one topic's (all, or those listed), or every topic the group has offsets for (--all-topics)
  const targets: Array<{ topic: Topic; partition: Partition }> = [];
  /** partitions already in `targets`: a request naming one many times (or a huge list) stays linear */
  const chosen = new Set<Partition>();
  // one topic (`topic`, `partitions`), or several (`topics: [{ topic, partitions? }]`, the CLI's repeated --topic)
  const selections: unknown[] = [];
  if (body.topic !== undefined && body.topic !== null) selections.push({ topic: body.topic, partitions: body.partitions });
  if (body.topics !== undefined && body.topics !== null) {
    if (!Array.isArray(body.topics) || body.topics.length > MAX_RESET_TOPICS)
      throw apiError(Errors.INVALID_ARGUMENT, `'topics' must be an array of at most ${MAX_RESET_TOPICS} { topic, partitions? }`);
    selections.push(...body.topics);
  }
  if (selections.length > 0) {
    for (const selection of selections) {
      if (typeof selection !== 'object' || selection === null) throw apiError(Errors.INVALID_ARGUMENT, "each of 'topics' must be { topic, partitions? }");
      const { topic: name, partitions } = selection as { topic?: unknown; partitions?: unknown };
      if (typeof name !== 'string') throw apiError(Errors.INVALID_ARGUMENT, "'topic' must be a string");
      requireStreamAccess(ctx, req.user, 'read', 'topic', name);
      const topic = topicNamed(ctx, name);
      let wanted: number[] | null = null;
      if (partitions !== undefined && partitions !== null) {
        if (!Array.isArray(partitions) || partitions.some((p) => typeof p !== 'number' || !Number.isInteger(p)))
          throw apiError(Errors.INVALID_ARGUMENT, "'partitions' must be an array of partition numbers");
        wanted = partitions as number[];
      }
      for (const p of wanted ?? topic.partitions.map((q) => q.index)) {
        const partition = topic.partitions[p];
        if (partition === undefined) throw apiError(Errors.UNKNOWN_TOPIC, `topic '${topic.name}' has no partition ${p}`);
        if (chosen.has(partition)) continue;
        chosen.add(partition);
        targets.push({ topic, partition });
      }
    }
  } else {
    for (const o of ctx.groups.committedOffsets(id)) {
      const topic = ctx.streams.topic(o.topic);
      const partition = topic?.partitions[o.partition];
      if (topic === undefined || partition === undefined || chosen.has(partition)) continue;
      requireStreamAccess(ctx, req.user, 'read', 'topic', topic.name);
      chosen.add(partition);
      targets.push({ topic, partition });
    }
    if (targets.length === 0) throw apiError(Errors.INVALID_ARGUMENT, `consumer group '${id}' has no committed offsets: name a 'topic' to reset`);
  }
  const group = ctx.groups.describeGroup(id);
  if (group !== null && group.members.length > 0) {
    throw new BrokerError(Errors.NON_EMPTY_GROUP, `Assignments can only be reset if the group '${id}' is inactive, but the current state is ${group.state}.`);
  }
  const previous = new Map(ctx.groups.committedOffsets(id).map((o) => [`${o.topic}\u0000${o.partition}`, o.committedOffset]));
  const planned = targets.map(({ topic, partition }) => {
    const start = partition.log.logStartOffset;
    const end = partition.highWatermark;
    let target: bigint;
    if (to === 'earliest') target = start;
    else if (to === 'latest') target = end;
    else if (to === 'offset')
      target = offset < start ? start : offset > end ? end : offset; // clamped, as Kafka's tool does
    else {
      const found = offsetForTime(partition, timestamp, ctx.streams.maxDecompressedBatchBytes);
      target = found.offset < 0n ? end : found.offset;
    }
    return { topic: topic.name, partition: partition.index, offset: target, previous: previous.get(`${topic.name}\u0000${partition.index}`) ?? null };
  });
  if (!dryRun) {
    const outcome = await ctx.groups.resetOffsets(id, planned);
    if (outcome === 'non-empty-group')
      throw new BrokerError(Errors.NON_EMPTY_GROUP, `Assignments can only be reset if the group '${id}' is inactive, but it has members.`);
    if (outcome === 'invalid-group-id') throw apiError(Errors.INVALID_GROUP_ID, 'a consumer group id cannot be empty');
    if (outcome !== 'none') throw apiError(Errors.COORDINATOR_NOT_AVAILABLE, `consumer group '${id}': offsets not reset: ${outcome}`);
  }
  return {
    status: 200,
    body: {
      group_id: id,
      dry_run: dryRun,
      offsets: planned.map((o) => ({
        topic: o.topic,
        partition: o.partition,
        previous_offset: o.previous === null ? null : Number(o.previous),
        offset: Number(o.offset),
      })),
    },
  };
}

export const streamMessageRoutes: readonly Route[] = [
  { method: 'GET', path: '/api/streams/topics/:name/messages', handler: browse },
  { method: 'POST', path: '/api/streams/topics/:name/messages', handler: produce },
  { method: 'POST', path: '/api/streams/groups/:id/reset-offsets', handler: resetOffsets },
];
