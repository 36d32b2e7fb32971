/**
 * Topic-level configs, with Kafka's names and defaults. The ones Postbox applies are parsed into
 * TopicConfig; the other names Kafka knows are accepted and stored (so tools that set them keep working)
 * but have no effect here, as docs/compatibility.md says. Unknown names are rejected, as Kafka does.
 */
import { BrokerError, Errors } from '../../errors/errors.js';

/** Kafka's delete.retention.ms default: a tombstone stays readable for a day after compaction reaches it. */
export const DEFAULT_DELETE_RETENTION_MS = 86_400_000;
/** Kafka's retention.ms default: 7 days. */
export const DEFAULT_RETENTION_MS = 604_800_000;
/** Kafka's segment.ms default: 7 days. */
export const DEFAULT_SEGMENT_MS = 604_800_000;
/** Kafka's max.message.bytes default (a batch, after compression). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

export interface TopicConfig {
  retentionMs: number | null;
  retentionBytes: number | null;
  cleanupDelete: boolean;
  cleanupCompact: boolean;
  segmentBytes: number;
  /** segment.ms: the active segment rolls once its first record is this old (default 7 days) */
  segmentMs: number;
  deleteRetentionMs: number;
  maxMessageBytes: number;
}

export interface TopicConfigDescription {
  readonly name: string;
  /** the value a topic has when it was not set */
  readonly defaultValue: (segmentBytes: number) => string;
  /** false: accepted and stored, not applied */
  readonly applied: boolean;
  /** a comma-separated list (Kafka's LIST type): the only kind an incremental APPEND or SUBTRACT may change */
  readonly list?: boolean;
}

const stored = (name: string, value: string, list = false): TopicConfigDescription => ({ name, defaultValue: () => value, applied: false, list });

/** Every topic config name accepted, with its default as DescribeConfigs reports it. */
export const TOPIC_CONFIGS: readonly TopicConfigDescription[] = [
  { name: 'cleanup.policy', defaultValue: () => 'delete', applied: true, list: true },
  { name: 'retention.ms', defaultValue: () => String(DEFAULT_RETENTION_MS), applied: true },
  { name: 'retention.bytes', defaultValue: () => '-1', applied: true },
  { name: 'segment.bytes', defaultValue: (segmentBytes) => String(segmentBytes), applied: true },
  { name: 'segment.ms', defaultValue: () => String(DEFAULT_SEGMENT_MS), applied: true },
  { name: 'delete.retention.ms', defaultValue: () => String(DEFAULT_DELETE_RETENTION_MS), applied: true },
  { name: 'max.message.bytes', defaultValue: () => String(DEFAULT_MAX_MESSAGE_BYTES), applied: true },
  stored('compression.type', 'producer'),
  stored('file.delete.delay.ms', '60000'),
  stored('flush.messages', '9223372036854775807'),
  stored('flush.ms', '9223372036854775807'),
  stored('index.interval.bytes', '4096'),
  stored('max.compaction.lag.ms', '9223372036854775807'),
  stored('message.downconversion.enable', 'true'),
  stored('message.format.version', '3.0-IV1'),
  stored('message.timestamp.difference.max.ms', '9223372036854775807'),
  stored('message.timestamp.type', 'CreateTime'),
  stored('min.cleanable.dirty.ratio', '0.5'),
  stored('min.compaction.lag.ms', '0'),
  stored('min.insync.replicas', '1'),
  stored('preallocate', 'false'),
  stored('segment.index.bytes', '10485760'),
  stored('segment.jitter.ms', '0'),
  stored('unclean.leader.election.enable', 'false'),
  stored('follower.replication.throttled.replicas', '', true),
  stored('leader.replication.throttled.replicas', '', true),
];

const BY_NAME = new Map(TOPIC_CONFIGS.map((c) => [c.name, c]));
const KNOWN = new Set(BY_NAME.keys());

export function defaultTopicConfig(segmentBytes: number): TopicConfig {
  return {
    retentionMs: DEFAULT_RETENTION_MS,
    retentionBytes: null,
    cleanupDelete: true,
    cleanupCompact: false,
    segmentBytes,
    segmentMs: DEFAULT_SEGMENT_MS,
    deleteRetentionMs: DEFAULT_DELETE_RETENTION_MS,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  };
}

function integer(name: string, value: string, min: number): number {
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n) || n < min)
    throw new BrokerError(Errors.INVALID_CONFIG, `Invalid value ${value} for configuration ${name}: must be an integer >= ${min}`);
  return n;
}

/** Applies one name=value to `config`; throws INVALID_CONFIG for an unknown name or a bad value. */
export function parseTopicConfig(config: TopicConfig, name: string, value: string): void {
  if (!KNOWN.has(name)) throw new BrokerError(Errors.INVALID_CONFIG, `Unknown topic config name: ${name}`);
  switch (name) {
    case 'cleanup.policy': {
      const parts = value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      if (parts.length === 0 || parts.some((p) => p !== 'delete' && p !== 'compact')) {
        throw new BrokerError(Errors.INVALID_CONFIG, `Invalid value ${value} for configuration cleanup.policy: String must be one of: compact, delete`);
      }
      config.cleanupDelete = parts.includes('delete');
      config.cleanupCompact = parts.includes('compact');
      return;
    }
    case 'retention.ms': {
      const n = integer(name, value, -1);
      config.retentionMs = n === -1 ? null : n;
      return;
    }
    case 'retention.bytes': {
      const n = integer(name, value, -1);
      config.retentionBytes = n === -1 ? null : n;
      return;
    }
    case 'segment.bytes':
      config.segmentBytes = integer(name, value, 1);
      return;
    case 'segment.ms':
      config.segmentMs = integer(name, value, 1);
      return;
    case 'delete.retention.ms':
      config.deleteRetentionMs = integer(name, value, 0);
      return;
    case 'max.message.bytes':
      config.maxMessageBytes = integer(name, value, 0);
      return;
    default:
      return; // accepted, stored, not applied
  }
}

/** One change of an incremental alter (Kafka's IncrementalAlterConfigs operations). */
export interface TopicConfigChange {
  readonly name: string;
  /** set: replace the value; delete: back to the default; append/subtract: add or remove list items */
  readonly operation: 'set' | 'delete' | 'append' | 'subtract';
  /** the value (set) or the comma-separated items (append, subtract); ignored by delete */
  readonly value: string | null;
}

function listItems(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The explicitly set configs after applying `changes` in order to `explicit`, Kafka's way: append and
 * subtract start from the current value, or the default when it is not set, and apply only to list
 * configs (cleanup.policy, the throttled-replica lists); an item already present is not appended twice.
 * Throws INVALID_CONFIG for an unknown name, a missing value, or append/subtract on a non-list config.
 * The values themselves are validated by parsing the result (parseTopicConfig), not here.
 */
export function applyTopicConfigChanges(
  explicit: Readonly<Record<string, string>>,
  changes: readonly TopicConfigChange[],
  segmentBytes: number,
): Record<string, string> {
  const next: Record<string, string> = { ...explicit };
  for (const change of changes) {
    const description = BY_NAME.get(change.name);
    if (description === undefined) throw new BrokerError(Errors.INVALID_CONFIG, `Unknown topic config name: ${change.name}`);
    if (change.operation === 'delete') {
      delete next[change.name];
      continue;
    }
    if (change.value === null) throw new BrokerError(Errors.INVALID_CONFIG, `Null value not supported for ${change.operation} of topic config ${change.name}`);
    if (change.operation === 'set') {
      next[change.name] = change.value;
      continue;
    }
    if (description.list !== true) {
      throw new BrokerError(Errors.INVALID_CONFIG, `Config value ${change.operation} is not allowed for config key: ${change.name} (not a list)`);
    }
    const current = listItems(next[change.name] ?? description.defaultValue(segmentBytes));
    const items = listItems(change.value);
    const result = change.operation === 'append' ? [...current, ...items.filter((i) => !current.includes(i))] : current.filter((i) => !items.includes(i));
    next[change.name] = result.join(',');
  }
  return next;
}
