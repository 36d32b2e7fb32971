/**
 * `postbox policies list|set|clear`: a thin client of the management API's /api/policies routes.
 * Exit codes: 0 done, 1 the API refused or could not be reached, 2 wrong usage.
 */
import { parseArgs } from 'node:util';
import { closestMatch } from '../util/suggest.js';
import { DEFAULT_CLI_VHOST, parseFailure, type Output } from './command.js';
import { ClientError, clientOptions, CONNECTION_FLAGS, ManagementClient, renderTable, UsageError } from './http-client.js';

const POLICIES_USAGE = `Usage:
  postbox policies list [--vhost <vhost>] [--json]
  postbox policies set <name> <pattern> '<definition-json>' [--priority <n>] [--apply-to queues|classic_queues|quorum_queues|streams|exchanges|all]
                       [--vhost <vhost>] [--json]
  postbox policies clear <name> [--vhost <vhost>] [--json]
`;

export const POLICIES_HELP = `${POLICIES_USAGE}
Lists, sets or clears policies through the management HTTP API (see docs/policies.md). Without --vhost,
list shows every vhost and set/clear use '/'. A negative priority is written --priority=-1.

Example:
  postbox policies set limits '^orders\\.' '{"max-length":10000,"overflow":"reject-publish"}' --priority 1

Flags:
${CONNECTION_FLAGS.map((f) => `  --${f.flag.padEnd(12)} ${f.doc} (env ${f.env})`).join('\n')}
  --vhost        the virtual host (default ${DEFAULT_CLI_VHOST})
  --priority     set: the policy's priority, higher wins (default 0)
  --apply-to     set: queues, classic_queues, quorum_queues, streams, exchanges or all (default all)
  --json         print JSON instead of a table or a sentence
  --help         this text
`;

const POLICY_ACTIONS = ['list', 'set', 'clear'] as const;

interface PolicyJson {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': string;
  priority: number;
  definition: Record<string, unknown>;
}

function parse(argv: string[]): { positionals: string[]; flags: Record<string, string | boolean | undefined> } {
  const options = {
    host: { type: 'string' },
    'http-port': { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
    vhost: { type: 'string' },
    priority: { type: 'string' },
    'apply-to': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options });
    return { positionals, flags: values };
  } catch (err) {
    const known = Object.entries(options).map(([name, o]) => ({ name, type: o.type }));
    throw new UsageError(parseFailure(err as Error & { code?: string }, known));
  }
}

function positionalCount(positionals: string[], command: string, expected: number, names: string): void {
  if (positionals.length !== expected) throw new UsageError(`policies ${command} takes ${names}, got ${positionals.length} argument(s)`);
}

export async function runPolicies(argv: string[], env: Readonly<Record<string, string | undefined>>, stdout: Output, stderr: Output): Promise<number> {
  try {
    const { positionals, flags } = parse(argv);
    const [command, ...args] = positionals;
    if (flags.help === true || command === undefined || command === 'help') {
      stdout.write(POLICIES_HELP);
      return command === undefined && flags.help !== true ? 2 : 0;
    }
    const client = new ManagementClient(clientOptions(flags, env));
    const json = flags.json === true;
    const vhostFlag = typeof flags.vhost === 'string' ? flags.vhost : undefined;
    switch (command) {
      case 'list':
        positionalCount(args, 'list', 0, 'no arguments');
        return await list(client, vhostFlag, json, stdout);
      case 'set':
        positionalCount(args, 'set', 3, "<name> <pattern> '<definition-json>'");
        return await set(client, args as [string, string, string], flags, vhostFlag ?? DEFAULT_CLI_VHOST, json, stdout);
      case 'clear':
        positionalCount(args, 'clear', 1, '<name>');
        return await clear(client, args[0]!, vhostFlag ?? DEFAULT_CLI_VHOST, json, stdout);
      default: {
        const guess = closestMatch(command, POLICY_ACTIONS);
        throw new UsageError(`unknown action '${command}'${guess === undefined ? '' : ` (did you mean '${guess}'?)`}; the actions are list, set and clear`);
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      stderr.write(`postbox policies: ${err.message}\n${POLICIES_USAGE}Run 'postbox policies --help' for every flag.\n`);
      return 2;
    }
    if (err instanceof ClientError) {
      stderr.write(`postbox policies: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function list(client: ManagementClient, vhost: string | undefined, json: boolean, stdout: Output): Promise<number> {
  const { body } = await client.request('GET', vhost === undefined ? ['api', 'policies'] : ['api', 'policies', vhost]);
  const policies = (Array.isArray(body) ? body : []) as PolicyJson[];
  if (json) {
    stdout.write(JSON.stringify(policies, null, 2) + '\n');
    return 0;
  }
  const rows = policies.map((p) => [p.vhost, p.name, p.pattern, p['apply-to'], String(p.priority), JSON.stringify(p.definition)]);
  stdout.write(renderTable(['vhost', 'name', 'pattern', 'apply-to', 'priority', 'definition'], rows));
  return 0;
}

async function set(
  client: ManagementClient,
  [name, pattern, definitionText]: [string, string, string],
  flags: Record<string, string | boolean | undefined>,
  vhost: string,
  json: boolean,
  stdout: Output,
): Promise<number> {
  let definition: unknown;
  try {
    definition = JSON.parse(definitionText);
  } catch (err) {
    throw new UsageError(`the definition is not valid JSON: ${(err as Error).message}`);
  }
  const body: Record<string, unknown> = { pattern, definition };
  if (typeof flags.priority === 'string') {
    const priority = Number(flags.priority);
    if (!Number.isSafeInteger(priority)) throw new UsageError(`--priority must be an integer, got '${flags.priority}'`);
    body.priority = priority;
  }
  if (typeof flags['apply-to'] === 'string') body['apply-to'] = flags['apply-to'];
  const { status } = await client.request('PUT', ['api', 'policies', vhost, name], body);
  const result = status === 201 ? 'created' : 'updated';
  stdout.write(json ? JSON.stringify({ vhost, name, result }) + '\n' : `policy '${name}' ${result} in vhost '${vhost}'\n`);
  return 0;
}

async function clear(client: ManagementClient, name: string, vhost: string, json: boolean, stdout: Output): Promise<number> {
  await client.request('DELETE', ['api', 'policies', vhost, name]);
  stdout.write(json ? JSON.stringify({ vhost, name, result: 'cleared' }) + '\n' : `policy '${name}' cleared in vhost '${vhost}'\n`);
  return 0;
}
