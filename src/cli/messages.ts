/**
 * The subcommands that move messages through the management API: `publish` (POST
 * /api/exchanges/{vhost}/{exchange}/publish, once per message, in order), `consume` (POST
 * /api/queues/{vhost}/{queue}/get) and `purge` (DELETE /api/queues/{vhost}/{queue}/contents).
 */
import { readFileSync } from 'node:fs';
import {
  CommandFailure,
  DEFAULT_CLI_VHOST,
  EXIT_OK,
  integerFlag,
  JSON_FLAG,
  jsonText,
  requiredFlag,
  stringFlag,
  VHOST_FLAG,
  type CliCommand,
  type CommandRun,
} from './command.js';
import { UsageError } from './http-client.js';
import { ProgressBar, PROGRESS_MIN_ITEMS } from './progress.js';

/** The name the publish route gives the default exchange (whose real name is empty), as RabbitMQ's does. */
export const DEFAULT_EXCHANGE_ROUTE_NAME = 'amq.default';
/** Replaced in a published body by the message's sequence number, 1..count. */
export const SEQUENCE_PLACEHOLDER = '{n}';
/** Largest --count of publish and consume: a guard against a typo sending a billion HTTP requests. */
export const MAX_CLI_MESSAGES = 10_000_000;
/** Messages asked for per get request when consuming with acks: one response stays a few MB at most. */
export const CONSUME_BATCH = 500;
/** Prefix of a payload that is not UTF-8 text, printed base64-encoded. */
export const BINARY_PAYLOAD_PREFIX = 'base64:';

type AckMode = 'ack_requeue_false' | 'ack_requeue_true';

interface GotMessage {
  payload?: string;
  payload_encoding?: string;
  redelivered?: boolean;
  exchange?: string;
  routing_key?: string;
  message_count?: number;
  properties?: unknown;
}

// ---------------------------------------------------------------- publish

/** The body to publish: text (with {n} replaced per message) or bytes sent as they are. */
type BodyTemplate = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'bytes'; readonly base64: string };

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

function bodyTemplate(run: CommandRun): BodyTemplate {
  const body = run.flags.body;
  const file = run.flags.file;
  if (typeof body === 'string' && typeof file === 'string') throw new UsageError('give --body or --file, not both');
  if (typeof file !== 'string') return { kind: 'text', text: typeof body === 'string' ? body : '' };
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CommandFailure(`cannot read --file ${file}: ${(err as Error).message}`);
  }
  try {
    return { kind: 'text', text: UTF8_STRICT.decode(bytes) };
  } catch {
    return { kind: 'bytes', base64: bytes.toString('base64') };
  }
}

function propertiesFlag(run: CommandRun): Record<string, unknown> {
  const text = run.flags.properties;
  if (typeof text !== 'string') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--properties is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new UsageError('--properties must be a JSON object, e.g. {"delivery_mode":2}');
  return parsed as Record<string, unknown>;
}

const publish: CliCommand = {
  name: 'publish',
  summary: 'publish one or many messages to an exchange',
  usage: [
    'postbox publish [--exchange <name>] [--routing-key <key>] [--count <n>] [--body <text> | --file <path>]',
    '                [--properties <json>] [--vhost <vhost>] [--json]',
  ],
  description: `Publishes through the management API, one request per message, in order. With --count N it publishes
N messages and replaces ${SEQUENCE_PLACEHOLDER} in the body with each message's number, 1 to N. A --file that is
UTF-8 text is treated like --body; any other file is published byte for byte. Without --exchange the message
goes to the default exchange, which routes by queue name. Prints how many messages were routed to at
least one queue; from ${PROGRESS_MIN_ITEMS} messages on, a progress bar is drawn on stderr when it is a terminal.

Example:
  postbox publish --routing-key orders --count 1000 --body '{"order":{n}}' --properties '{"delivery_mode":2}'`,
  flags: [
    { name: 'exchange', type: 'string', value: '<name>', doc: 'the exchange (default: the default exchange)' },
    { name: 'routing-key', type: 'string', value: '<key>', doc: 'the routing key (default empty)' },
    { name: 'count', type: 'string', value: '<n>', doc: 'how many messages to publish (default 1)' },
    { name: 'body', type: 'string', value: '<text>', doc: `the message body; ${SEQUENCE_PLACEHOLDER} becomes the sequence number (default empty)` },
    { name: 'file', type: 'string', value: '<path>', doc: 'read the body from a file instead' },
    {
      name: 'properties',
      type: 'string',
      value: '<json>',
      doc: 'message properties as RabbitMQ\'s API names them, e.g. {"delivery_mode":2,"headers":{"k":"v"}}',
    },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  async run(run) {
    const exchange = stringFlag(run.flags, 'exchange', '');
    const routingKey = stringFlag(run.flags, 'routing-key', '');
    const vhost = stringFlag(run.flags, 'vhost', DEFAULT_CLI_VHOST);
    const count = integerFlag(run.flags, 'count', 1, 1, MAX_CLI_MESSAGES);
    const template = bodyTemplate(run);
    const properties = propertiesFlag(run);
    const client = run.client();
    const route = ['api', 'exchanges', vhost, exchange === '' ? DEFAULT_EXCHANGE_ROUTE_NAME : exchange, 'publish'];
    const bar = new ProgressBar(run.stderr, count, 'published');
    let routed = 0;
    try {
      for (let n = 1; n <= count; n++) {
        const payload =
          template.kind === 'text'
            ? { payload: template.text.replaceAll(SEQUENCE_PLACEHOLDER, String(n)), payload_encoding: 'string' }
            : { payload: template.base64, payload_encoding: 'base64' };
        const { body } = await client.request('POST', route, { properties, routing_key: routingKey, ...payload });
        if ((body as { routed?: unknown } | undefined)?.routed === true) routed++;
        bar.update(n);
      }
    } finally {
      bar.finish();
    }
    const result = { vhost, exchange, routing_key: routingKey, published: count, routed, unroutable: count - routed };
    const where = exchange === '' ? 'the default exchange' : `exchange '${exchange}'`;
    run.stdout.write(
      run.json
        ? jsonText(result)
        : `published ${count} message${count === 1 ? '' : 's'} to ${where} with routing key '${routingKey}' in vhost '${vhost}': ${routed} routed, ${count - routed} unroutable\n`,
    );
    return EXIT_OK;
  },
};

// ---------------------------------------------------------------- consume

function payloadLine(m: GotMessage): string {
  const payload = m.payload ?? '';
  return (m.payload_encoding === 'base64' ? BINARY_PAYLOAD_PREFIX + payload : payload) + '\n';
}

async function getMessages(run: CommandRun, vhost: string, queue: string, count: number, ackmode: AckMode): Promise<GotMessage[]> {
  const { body } = await run.client().request('POST', ['api', 'queues', vhost, queue, 'get'], { count, ackmode, encoding: 'auto' });
  return Array.isArray(body) ? (body as GotMessage[]) : [];
}

const consume: CliCommand = {
  name: 'consume',
  summary: 'get messages from a queue and print their payloads',
  usage: ['postbox consume --queue <name> [--count <n>] [--ack | --peek | --requeue] [--vhost <vhost>] [--json]'],
  description: `Gets up to --count messages from a queue through the management API and prints each payload on a line
of its own (a payload that is not UTF-8 is printed base64-encoded after '${BINARY_PAYLOAD_PREFIX}'), or all of them as
RabbitMQ's get route returns them with --json. With --ack (the default) the messages are acknowledged and
leave the queue; with --peek (or --requeue, its other name) they are put back where they were, so nothing is
removed (RabbitMQ's get with ackmode ack_requeue_true; they are marked redelivered). A summary line goes to stderr; fewer messages
than --count means the queue ran empty. With --ack large counts are fetched ${CONSUME_BATCH} at a time with a
progress bar on stderr when it is a terminal; --requeue fetches in one request, as requeued messages
would otherwise come back in the next batch.`,
  flags: [
    { name: 'queue', type: 'string', value: '<name>', doc: 'the queue (required)' },
    { name: 'count', type: 'string', value: '<n>', doc: 'most messages to get (default 1)' },
    { name: 'ack', type: 'boolean', doc: 'acknowledge: the messages leave the queue (the default)' },
    { name: 'peek', type: 'boolean', doc: 'look without removing: the messages are put back in the queue' },
    { name: 'requeue', type: 'boolean', doc: "the same as --peek (rabbitmqadmin's word)" },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  async run(run) {
    const queue = requiredFlag(run.flags, 'queue');
    const vhost = stringFlag(run.flags, 'vhost', DEFAULT_CLI_VHOST);
    const count = integerFlag(run.flags, 'count', 1, 1, MAX_CLI_MESSAGES);
    const requeue = run.flags.requeue === true || run.flags.peek === true;
    if (run.flags.ack === true && requeue) throw new UsageError(`give --ack or --${run.flags.peek === true ? 'peek' : 'requeue'}, not both`);
    const got: GotMessage[] = [];
    const bar = new ProgressBar(run.stderr, requeue ? 0 : count, 'consumed');
    const stdoutIsTerminal = run.stdout.isTTY === true;
    try {
      if (requeue) {
        got.push(...(await getMessages(run, vhost, queue, count, 'ack_requeue_true')));
        if (!run.json) for (const m of got) run.stdout.write(payloadLine(m));
      } else {
        while (got.length < count) {
          const asked = Math.min(CONSUME_BATCH, count - got.length);
          const batch = await getMessages(run, vhost, queue, asked, 'ack_requeue_false');
          got.push(...batch);
          if (!run.json) {
            // bodies and bar on one terminal: the bodies go where the bar was, the bar is drawn again under them
            if (stdoutIsTerminal) bar.clear();
            for (const m of batch) run.stdout.write(payloadLine(m));
          }
          bar.update(got.length);
          if (batch.length < asked) break;
        }
      }
    } finally {
      bar.finish();
    }
    if (run.json) run.stdout.write(jsonText(got));
    run.stderr.write(
      `got ${got.length} message${got.length === 1 ? '' : 's'} from queue '${queue}' in vhost '${vhost}' (${requeue ? 'requeued' : 'acknowledged'})\n`,
    );
    return EXIT_OK;
  },
};

// ---------------------------------------------------------------- purge

const purge: CliCommand = {
  name: 'purge',
  summary: 'remove every ready message from a queue',
  usage: ['postbox purge --queue <name> [--vhost <vhost>] [--json]'],
  description: `Purges a queue (DELETE /api/queues/{vhost}/{queue}/contents): every message waiting in it is removed;
messages delivered and not yet acknowledged stay until they are acknowledged or requeued.`,
  flags: [{ name: 'queue', type: 'string', value: '<name>', doc: 'the queue (required)' }, VHOST_FLAG, JSON_FLAG],
  async run(run) {
    const queue = requiredFlag(run.flags, 'queue');
    const vhost = stringFlag(run.flags, 'vhost', DEFAULT_CLI_VHOST);
    await run.client().request('DELETE', ['api', 'queues', vhost, queue, 'contents']);
    run.stdout.write(run.json ? jsonText({ vhost, queue, result: 'purged' }) : `purged queue '${queue}' in vhost '${vhost}'\n`);
    return EXIT_OK;
  },
};

export const MESSAGE_COMMANDS: readonly CliCommand[] = [publish, consume, purge];
