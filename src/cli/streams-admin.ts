/**
 * The actions that change the Kafka side, shaped like Kafka's own tools: `postbox topics create|delete`
 * (kafka-topics.sh) and `postbox groups delete|reset-offsets` (kafka-consumer-groups.sh), through Postbox's
 * /api/streams routes. reset-offsets is a dry run printing the plan unless --execute is given, as in Kafka.
 */
import { CommandFailure, EXIT_OK, integerFlag, JSON_FLAG, jsonText, type CliCommand, type CommandRun } from './command.js';
import { ClientError, renderTable, UsageError } from './http-client.js';
import { keyValueFlags, nameArgument } from './topology.js';

/** Most partitions --partitions accepts: a typo guard; the broker applies its own limit. */
export const MAX_CLI_PARTITIONS = 100_000;

// ---------------------------------------------------------------- topics

const topicCreate: CliCommand = {
  name: 'create',
  summary: 'create a Kafka topic',
  usage: ['postbox topics create <topic> [--partitions <n>] [--config <key>=<value> ...] [--if-not-exists] [--json]'],
  description: `Creates a topic (PUT /api/streams/topics/{name}) with --partitions partitions (default: the broker's
--kafka-partitions) and topic configs as kafka-topics.sh --config takes them. Example:
  postbox topics create orders --partitions 6 --config retention.ms=86400000 --config cleanup.policy=delete`,
  flags: [
    { name: 'partitions', type: 'string', value: '<n>', doc: "number of partitions (default: the broker's --kafka-partitions)" },
    {
      name: 'config',
      type: 'string',
      multiple: true,
      value: '<key>=<value>',
      doc: 'a topic config, repeatable (retention.ms, retention.bytes, cleanup.policy, segment.bytes, ...)',
    },
    { name: 'if-not-exists', type: 'boolean', doc: 'a topic of that name already there is not an error' },
    { name: 'topic', type: 'string', value: '<topic>', doc: 'the topic, instead of the positional argument (kafka-topics.sh spelling)' },
    JSON_FLAG,
  ],
  maxPositionals: 1,
  async run(run) {
    const name = nameArgument(run, 'topic', 'topic');
    const body: Record<string, unknown> = { configs: keyValueFlags(run, 'config', (text) => text) };
    if (run.flags.partitions !== undefined) body.partitions = integerFlag(run.flags, 'partitions', 1, 1, MAX_CLI_PARTITIONS);
    let result: 'created' | 'exists' = 'created';
    let partitions: unknown = body.partitions;
    try {
      const { body: topic } = await run.client().request('PUT', ['api', 'streams', 'topics', name], body);
      partitions = (topic as { partitions?: unknown } | undefined)?.partitions ?? partitions;
    } catch (err) {
      if (!(err instanceof ClientError && err.status === 409 && run.flags['if-not-exists'] === true)) throw err;
      result = 'exists';
    }
    if (run.json) run.stdout.write(jsonText({ topic: name, partitions: result === 'created' ? partitions : undefined, result }));
    else
      run.stdout.write(
        result === 'created'
          ? `created topic '${name}' with ${String(partitions)} partition${partitions === 1 ? '' : 's'}\n`
          : `topic '${name}' already exists (unchanged)\n`,
      );
    return EXIT_OK;
  },
};

const topicDelete: CliCommand = {
  name: 'delete',
  summary: "delete a Kafka topic with its records and the groups' offsets for it",
  usage: ['postbox topics delete <topic> [--json]'],
  description: `Deletes a topic (DELETE /api/streams/topics/{name}): its records, and every consumer group's committed
offsets for it, as in Kafka.`,
  flags: [{ name: 'topic', type: 'string', value: '<topic>', doc: 'the topic, instead of the positional argument' }, JSON_FLAG],
  maxPositionals: 1,
  async run(run) {
    const name = nameArgument(run, 'topic', 'topic');
    await run.client().request('DELETE', ['api', 'streams', 'topics', name]);
    run.stdout.write(run.json ? jsonText({ topic: name, result: 'deleted' }) : `deleted topic '${name}'\n`);
    return EXIT_OK;
  },
};

export const TOPIC_ACTIONS: readonly CliCommand[] = [topicCreate, topicDelete];

// ---------------------------------------------------------------- groups

const groupDelete: CliCommand = {
  name: 'delete',
  summary: 'delete a consumer group without members, with its committed offsets',
  usage: ['postbox groups delete <group> [--json]'],
  description: `Deletes a consumer group and its committed offsets (DELETE /api/streams/groups/{id}); refused while the
group has members (exit 1), as kafka-consumer-groups.sh --delete is.`,
  flags: [{ name: 'group', type: 'string', value: '<group>', doc: 'the group, instead of the positional argument' }, JSON_FLAG],
  maxPositionals: 1,
  async run(run) {
    const group = nameArgument(run, 'group', 'group');
    await run.client().request('DELETE', ['api', 'streams', 'groups', group]);
    run.stdout.write(run.json ? jsonText({ group, result: 'deleted' }) : `deleted consumer group '${group}'\n`);
    return EXIT_OK;
  },
};

/** `orders` or `orders:0,2` (kafka-consumer-groups.sh's --topic) as the route's { topic, partitions? }. */
function topicSelection(text: string): { topic: string; partitions?: number[] } {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { topic: text };
  const partitions = text
    .slice(colon + 1)
    .split(',')
    .map((p) => p.trim());
  if (colon === 0 || partitions.some((p) => !/^\d+$/.test(p)))
    throw new UsageError(`--topic takes <topic> or <topic>:<partition>,<partition>..., got '${text}'`);
  return { topic: text.slice(0, colon), partitions: partitions.map(Number) };
}

const RESET_SPECS = ['to-earliest', 'to-latest', 'to-offset', 'to-datetime'] as const;

/** The route's { to, offset?, timestamp? } from exactly one --to-* flag. */
function resetTarget(run: CommandRun): Record<string, unknown> {
  const given = RESET_SPECS.filter((f) => run.flags[f] !== undefined);
  if (given.length !== 1) throw new UsageError(`give one of ${RESET_SPECS.map((f) => '--' + f).join(', ')}${given.length > 1 ? `, not ${given.length}` : ''}`);
  switch (given[0]!) {
    case 'to-earliest':
      return { to: 'earliest' };
    case 'to-latest':
      return { to: 'latest' };
    case 'to-offset':
      return { to: 'offset', offset: integerFlag(run.flags, 'to-offset', 0, 0) };
    case 'to-datetime': {
      const text = String(run.flags['to-datetime']);
      // read here, in this machine's time zone when the text has none, as kafka-consumer-groups.sh does
      const ms = Date.parse(text);
      if (!Number.isFinite(ms))
        throw new UsageError(`--to-datetime takes an ISO 8601 date-time such as 2026-12-07T09:30:00Z or 2026-12-07T09:30:00.000, got '${text}'`);
      return { to: 'timestamp', timestamp: ms };
    }
  }
}

interface PlannedOffset {
  topic?: string;
  partition?: number;
  previous_offset?: number | null;
  offset?: number;
}

const groupResetOffsets: CliCommand = {
  name: 'reset-offsets',
  summary: "move a group's committed offsets (a dry run printing the plan unless --execute)",
  usage: [
    'postbox groups reset-offsets <group> (--topic <topic>[:<partition>,...] ... | --all-topics)',
    '                             (--to-earliest | --to-latest | --to-offset <n> | --to-datetime <iso>) [--execute] [--json]',
  ],
  description: `Sets a consumer group's committed offsets, as kafka-consumer-groups.sh --reset-offsets does
(POST /api/streams/groups/{id}/reset-offsets). Without --execute it only prints the plan: each partition
with its current and new offset. --to-offset is kept within each partition's log start offset and high
watermark; --to-datetime goes to the first record at or after that time (the end when there is none). Only a group without members can be reset: stop its consumers first.
Example:
  postbox groups reset-offsets billing --topic orders --to-datetime 2026-12-07T09:30:00Z --execute`,
  flags: [
    { name: 'topic', type: 'string', multiple: true, value: '<topic>[:<partitions>]', doc: 'a topic, or some of its partitions (orders:0,2); repeatable' },
    { name: 'all-topics', type: 'boolean', doc: 'every topic the group has committed offsets for' },
    { name: 'to-earliest', type: 'boolean', doc: "to each partition's log start offset" },
    { name: 'to-latest', type: 'boolean', doc: "to each partition's end (high watermark): skip everything there now" },
    { name: 'to-offset', type: 'string', value: '<n>', doc: 'to this offset' },
    { name: 'to-datetime', type: 'string', value: '<iso>', doc: 'to the first record at or after this time, e.g. 2026-12-07T09:30:00Z (no zone: local time)' },
    { name: 'execute', type: 'boolean', doc: 'commit the new offsets (without it: a dry run)' },
    { name: 'dry-run', type: 'boolean', doc: 'only print the plan (the default)' },
    { name: 'group', type: 'string', value: '<group>', doc: 'the group, instead of the positional argument' },
    JSON_FLAG,
  ],
  maxPositionals: 1,
  async run(run) {
    const group = nameArgument(run, 'group', 'group');
    const topicFlags = run.flags.topic;
    const topics = Array.isArray(topicFlags) ? topicFlags.map(topicSelection) : [];
    const allTopics = run.flags['all-topics'] === true;
    if (allTopics === topics.length > 0) throw new UsageError('give --topic <topic> (one or more) or --all-topics');
    if (run.flags.execute === true && run.flags['dry-run'] === true) throw new UsageError('give --execute or --dry-run, not both');
    const execute = run.flags.execute === true;
    const body = { ...resetTarget(run), ...(allTopics ? {} : { topics }), dry_run: !execute };
    const { body: reply } = await run.client().request('POST', ['api', 'streams', 'groups', group, 'reset-offsets'], body);
    const offsets = ((reply as { offsets?: unknown } | undefined)?.offsets ?? []) as PlannedOffset[];
    if (!Array.isArray(offsets)) throw new CommandFailure("the broker's answer has no offsets");
    if (run.json) {
      run.stdout.write(jsonText(reply));
    } else {
      const rows = offsets.map((o) => [
        group,
        String(o.topic ?? ''),
        String(o.partition ?? ''),
        o.previous_offset === null || o.previous_offset === undefined ? '-' : String(o.previous_offset),
        String(o.offset ?? ''),
      ]);
      run.stdout.write(renderTable(['group', 'topic', 'partition', 'current_offset', 'new_offset'], rows));
    }
    const n = `${offsets.length} partition${offsets.length === 1 ? '' : 's'}`;
    run.stderr.write(
      execute
        ? `reset the offsets of ${n} for consumer group '${group}'\n`
        : `dry run: nothing changed; add --execute to reset the offsets of ${n} for consumer group '${group}'\n`,
    );
    return EXIT_OK;
  },
};

export const GROUP_ACTIONS: readonly CliCommand[] = [groupDelete, groupResetOffsets];
