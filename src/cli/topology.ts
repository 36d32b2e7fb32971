/**
 * The actions that change the AMQP topology, shaped like rabbitmqadmin's: `postbox queues declare|delete`,
 * `postbox exchanges declare|delete` and `postbox bindings add|delete`, each one or two calls of RabbitMQ's
 * management API (PUT/DELETE /api/queues/{vhost}/{name}, /api/exchanges/{vhost}/{name}, POST/DELETE
 * /api/bindings/{vhost}/e/{source}/{q|e}/{destination}), so they work against RabbitMQ too.
 */
import {
  CommandFailure,
  DEFAULT_CLI_VHOST,
  EXIT_OK,
  JSON_FLAG,
  jsonText,
  requiredFlag,
  stringFlag,
  VHOST_FLAG,
  type CliCommand,
  type CommandRun,
  type FlagSpec,
} from './command.js';
import { UsageError } from './http-client.js';

/** The name the API's paths give the default exchange, whose real name is empty (RabbitMQ's too). */
const DEFAULT_EXCHANGE_PATH_NAME = 'amq.default';

const ARG_FLAG: FlagSpec = {
  name: 'arg',
  type: 'string',
  multiple: true,
  value: '<key>=<value>',
  doc: 'an x-argument, repeatable: --arg x-max-length=10 --arg x-dead-letter-exchange=dlx (a value that reads as JSON, a number or true, is sent as such; quote a text that would: --arg \'k="10"\')',
};
const DURABLE_FLAG: FlagSpec = { name: 'durable', type: 'boolean', doc: 'survives a broker restart (the default, as with rabbitmqadmin)' };
const TRANSIENT_FLAG: FlagSpec = { name: 'transient', type: 'boolean', doc: 'not durable: gone after a broker restart' };
const AUTO_DELETE_FLAG: FlagSpec = { name: 'auto-delete', type: 'boolean', doc: 'deleted when its last consumer (queue) or binding (exchange) goes' };

/** The object's name: the positional argument, or `--name` (rabbitmqadmin's spelling). */
export function nameArgument(run: CommandRun, what: string, flag = 'name'): string {
  const fromFlag = run.flags[flag];
  const positional = run.positionals[0];
  if (typeof fromFlag === 'string' && positional !== undefined && positional !== fromFlag)
    throw new UsageError(`give the ${what} once: '${positional}' or --${flag} '${fromFlag}'`);
  const name = positional ?? (typeof fromFlag === 'string' ? fromFlag : undefined);
  if (name === undefined || name === '') throw new UsageError(`say which ${what}`);
  return name;
}

/** The value of `--arg k=v`: JSON when it reads as JSON (10, true, "10", {...}), else the text itself. */
function argumentValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Repeated `--<flag> key=value` as an object; `parse` turns each value text into the value sent. */
export function keyValueFlags(run: CommandRun, flag: string, parse: (text: string) => unknown): Record<string, unknown> {
  const raw = run.flags[flag];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  const out: Record<string, unknown> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag} takes <key>=<value>, got '${item}'`);
    out[item.slice(0, eq)] = parse(item.slice(eq + 1));
  }
  return out;
}

function durable(run: CommandRun): boolean {
  if (run.flags.durable === true && run.flags.transient === true) throw new UsageError('give --durable or --transient, not both');
  return run.flags.transient !== true;
}

function vhostOf(run: CommandRun): string {
  return stringFlag(run.flags, 'vhost', DEFAULT_CLI_VHOST);
}

/** `created`/`exists` from a declare's status: 201 made it, 204 found an equivalent one. */
function declared(status: number): 'created' | 'exists' {
  return status === 201 ? 'created' : 'exists';
}

// ---------------------------------------------------------------- queues

const QUEUE_TYPES = ['classic', 'quorum', 'stream'] as const;

const queueDeclare: CliCommand = {
  name: 'declare',
  summary: 'declare a queue (nothing changes when an equivalent one exists)',
  usage: [
    'postbox queues declare <name> [--type classic|quorum|stream] [--durable | --transient] [--auto-delete]',
    '                       [--arg <key>=<value> ...] [--vhost <vhost>] [--json]',
  ],
  description: `Declares a queue (PUT /api/queues/{vhost}/{name}), durable unless --transient. A queue of that name
with other properties is refused with the broker's reason (exit 1), as a passive AMQP declare would be; an
equivalent one is left as it is. Example:
  postbox queues declare orders --arg x-max-length=10000 --arg x-overflow=reject-publish`,
  flags: [
    { name: 'type', type: 'string', value: '<type>', doc: `classic (default), quorum or stream: sent as the x-queue-type argument` },
    DURABLE_FLAG,
    TRANSIENT_FLAG,
    AUTO_DELETE_FLAG,
    ARG_FLAG,
    { name: 'name', type: 'string', value: '<name>', doc: 'the queue, instead of the positional argument' },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  maxPositionals: 1,
  async run(run) {
    const name = nameArgument(run, 'queue');
    const vhost = vhostOf(run);
    const args = keyValueFlags(run, 'arg', argumentValue);
    const type = run.flags.type;
    if (typeof type === 'string') {
      if (!(QUEUE_TYPES as readonly string[]).includes(type)) throw new UsageError(`--type must be ${QUEUE_TYPES.join(', ')}, got '${type}'`);
      args['x-queue-type'] = type;
    }
    const body = { durable: durable(run), auto_delete: run.flags['auto-delete'] === true, arguments: args };
    const { status } = await run.client().request('PUT', ['api', 'queues', vhost, name], body);
    const result = declared(status);
    run.stdout.write(
      run.json
        ? jsonText({ vhost, queue: name, result })
        : result === 'created'
          ? `declared queue '${name}' in vhost '${vhost}'\n`
          : `queue '${name}' already exists in vhost '${vhost}' (unchanged)\n`,
    );
    return EXIT_OK;
  },
};

const queueDelete: CliCommand = {
  name: 'delete',
  summary: 'delete a queue and the messages in it',
  usage: ['postbox queues delete <name> [--if-empty] [--if-unused] [--vhost <vhost>] [--json]'],
  description: `Deletes a queue with its messages (DELETE /api/queues/{vhost}/{name}). With --if-empty it is refused
while the queue holds messages, with --if-unused while it has consumers (exit 1 with the broker's reason).`,
  flags: [
    { name: 'if-empty', type: 'boolean', doc: 'only when it holds no messages' },
    { name: 'if-unused', type: 'boolean', doc: 'only when it has no consumers' },
    { name: 'name', type: 'string', value: '<name>', doc: 'the queue, instead of the positional argument' },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  maxPositionals: 1,
  async run(run) {
    const name = nameArgument(run, 'queue');
    const vhost = vhostOf(run);
    const query: Record<string, string> = {};
    if (run.flags['if-empty'] === true) query['if-empty'] = 'true';
    if (run.flags['if-unused'] === true) query['if-unused'] = 'true';
    await run.client().request('DELETE', ['api', 'queues', vhost, name], undefined, undefined, query);
    run.stdout.write(run.json ? jsonText({ vhost, queue: name, result: 'deleted' }) : `deleted queue '${name}' in vhost '${vhost}'\n`);
    return EXIT_OK;
  },
};

export const QUEUE_ACTIONS: readonly CliCommand[] = [queueDeclare, queueDelete];

// ---------------------------------------------------------------- exchanges

const exchangeDeclare: CliCommand = {
  name: 'declare',
  summary: 'declare an exchange (nothing changes when an equivalent one exists)',
  usage: [
    'postbox exchanges declare <name> --type direct|fanout|topic|headers|x-delayed-message [--durable | --transient]',
    '                          [--auto-delete] [--internal] [--arg <key>=<value> ...] [--vhost <vhost>] [--json]',
  ],
  description: `Declares an exchange (PUT /api/exchanges/{vhost}/{name}), durable unless --transient. One of that name with
other properties is refused with the broker's reason (exit 1). Example:
  postbox exchanges declare orders --type topic --arg alternate-exchange=unrouted`,
  flags: [
    { name: 'type', type: 'string', value: '<type>', doc: 'the exchange type (required): direct, fanout, topic, headers, x-delayed-message' },
    DURABLE_FLAG,
    TRANSIENT_FLAG,
    AUTO_DELETE_FLAG,
    { name: 'internal', type: 'boolean', doc: 'clients cannot publish to it, only other exchanges' },
    ARG_FLAG,
    { name: 'name', type: 'string', value: '<name>', doc: 'the exchange, instead of the positional argument' },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  maxPositionals: 1,
  async run(run) {
    const name = nameArgument(run, 'exchange');
    const vhost = vhostOf(run);
    const type = requiredFlag(run.flags, 'type');
    const body = {
      type,
      durable: durable(run),
      auto_delete: run.flags['auto-delete'] === true,
      internal: run.flags.internal === true,
      arguments: keyValueFlags(run, 'arg', argumentValue),
    };
    const { status } = await run.client().request('PUT', ['api', 'exchanges', vhost, name], body);
    const result = declared(status);
    run.stdout.write(
      run.json
        ? jsonText({ vhost, exchange: name, result })
        : result === 'created'
          ? `declared ${type} exchange '${name}' in vhost '${vhost}'\n`
          : `exchange '${name}' already exists in vhost '${vhost}' (unchanged)\n`,
    );
    return EXIT_OK;
  },
};

const exchangeDelete: CliCommand = {
  name: 'delete',
  summary: 'delete an exchange and its bindings',
  usage: ['postbox exchanges delete <name> [--if-unused] [--vhost <vhost>] [--json]'],
  description: `Deletes an exchange with its bindings (DELETE /api/exchanges/{vhost}/{name}). With --if-unused it is
refused while the exchange has bindings from it.`,
  flags: [
    { name: 'if-unused', type: 'boolean', doc: 'only when no binding has it as source' },
    { name: 'name', type: 'string', value: '<name>', doc: 'the exchange, instead of the positional argument' },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  maxPositionals: 1,
  async run(run) {
    const name = nameArgument(run, 'exchange');
    const vhost = vhostOf(run);
    const query: Record<string, string> = run.flags['if-unused'] === true ? { 'if-unused': 'true' } : {};
    await run.client().request('DELETE', ['api', 'exchanges', vhost, name], undefined, undefined, query);
    run.stdout.write(run.json ? jsonText({ vhost, exchange: name, result: 'deleted' }) : `deleted exchange '${name}' in vhost '${vhost}'\n`);
    return EXIT_OK;
  },
};

export const EXCHANGE_ACTIONS: readonly CliCommand[] = [exchangeDeclare, exchangeDelete];

// ---------------------------------------------------------------- bindings

const BINDING_FLAGS: readonly FlagSpec[] = [
  { name: 'source', type: 'string', value: '<exchange>', doc: 'the exchange the binding is from (required)' },
  { name: 'destination', type: 'string', value: '<name>', doc: 'the queue (or exchange) it routes to (required)' },
  { name: 'destination-type', type: 'string', value: 'queue|exchange', doc: 'what --destination names (default queue)' },
  { name: 'routing-key', type: 'string', value: '<key>', doc: 'the binding key (default empty)' },
  { ...ARG_FLAG, doc: 'a binding argument, repeatable (headers exchanges: --arg x-match=all --arg format=pdf)' },
  VHOST_FLAG,
  JSON_FLAG,
];

interface BindingEnds {
  readonly vhost: string;
  readonly source: string;
  readonly destination: string;
  readonly kind: 'q' | 'e';
  readonly routingKey: string;
  readonly args: Record<string, unknown>;
}

function bindingEnds(run: CommandRun): BindingEnds {
  const type = stringFlag(run.flags, 'destination-type', 'queue');
  if (type !== 'queue' && type !== 'exchange') throw new UsageError(`--destination-type must be queue or exchange, got '${type}'`);
  return {
    vhost: vhostOf(run),
    source: requiredFlag(run.flags, 'source'),
    destination: requiredFlag(run.flags, 'destination'),
    kind: type === 'queue' ? 'q' : 'e',
    routingKey: stringFlag(run.flags, 'routing-key', ''),
    args: keyValueFlags(run, 'arg', argumentValue),
  };
}

function bindingPath(b: BindingEnds): string[] {
  return ['api', 'bindings', b.vhost, 'e', b.source === '' ? DEFAULT_EXCHANGE_PATH_NAME : b.source, b.kind, b.destination];
}

function bindingText(b: BindingEnds): string {
  const args = Object.keys(b.args).length === 0 ? '' : ` and arguments ${JSON.stringify(b.args)}`;
  return `binding from exchange '${b.source}' to ${b.kind === 'q' ? 'queue' : 'exchange'} '${b.destination}' with routing key '${b.routingKey}'${args} in vhost '${b.vhost}'`;
}

/** JSON values compared by content, object keys in any order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const bindingAdd: CliCommand = {
  name: 'add',
  summary: 'bind a queue or an exchange to an exchange',
  usage: [
    'postbox bindings add --source <exchange> --destination <name> [--destination-type queue|exchange]',
    '                     [--routing-key <key>] [--arg <key>=<value> ...] [--vhost <vhost>] [--json]',
  ],
  description: `Adds a binding (POST /api/bindings/{vhost}/e/{source}/q/{queue}, or .../e/{exchange} with
--destination-type exchange). Adding one that exists changes nothing. Example:
  postbox bindings add --source orders --destination new-orders --routing-key 'orders.new.#'`,
  flags: BINDING_FLAGS,
  async run(run) {
    const b = bindingEnds(run);
    await run.client().request('POST', bindingPath(b), { routing_key: b.routingKey, arguments: b.args });
    run.stdout.write(
      run.json
        ? jsonText({
            vhost: b.vhost,
            source: b.source,
            destination: b.destination,
            destination_type: b.kind === 'q' ? 'queue' : 'exchange',
            routing_key: b.routingKey,
            arguments: b.args,
            result: 'added',
          })
        : `added ${bindingText(b)}\n`,
    );
    return EXIT_OK;
  },
};

const bindingDelete: CliCommand = {
  name: 'delete',
  summary: 'remove a binding',
  usage: [
    'postbox bindings delete --source <exchange> --destination <name> [--destination-type queue|exchange]',
    '                        [--routing-key <key>] [--arg <key>=<value> ...] [--vhost <vhost>] [--json]',
  ],
  description: `Removes the binding with that source, destination, routing key (and arguments, with --arg): looks it up
(GET /api/bindings/{vhost}/e/{source}/q/{queue}) and deletes it by its properties key. No such binding, or
several that differ only in their arguments when no --arg was given, exits 1.`,
  flags: BINDING_FLAGS,
  async run(run) {
    const b = bindingEnds(run);
    const client = run.client();
    const { body } = await client.request('GET', bindingPath(b));
    const all = (Array.isArray(body) ? body : []) as { routing_key?: string; arguments?: unknown; properties_key?: string }[];
    const withKey = all.filter((x) => x.routing_key === b.routingKey);
    const argsGiven = Object.keys(b.args).length > 0;
    const matches = argsGiven ? withKey.filter((x) => sameJson(x.arguments ?? {}, b.args)) : withKey;
    if (matches.length === 0) throw new CommandFailure(`no ${bindingText(b)}`);
    if (matches.length > 1) throw new CommandFailure(`${matches.length} bindings match, differing in their arguments: say which with --arg`);
    await client.request('DELETE', [...bindingPath(b), matches[0]!.properties_key ?? '~']);
    run.stdout.write(
      run.json
        ? jsonText({ vhost: b.vhost, source: b.source, destination: b.destination, routing_key: b.routingKey, result: 'deleted' })
        : `deleted ${bindingText(b)}\n`,
    );
    return EXIT_OK;
  },
};

export const BINDING_ACTIONS: readonly CliCommand[] = [bindingAdd, bindingDelete];
