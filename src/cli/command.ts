/**
 * What every management-API subcommand of `postbox` shares: a declaration (name, usage, description,
 * flags), flag parsing with node:util parseArgs, generated --help text, and one mapping of failures to
 * exit codes: 0 done, 1 the API refused or could not be reached, 2 wrong usage (the help is printed).
 */
import { parseArgs } from 'node:util';
import { closestMatch } from '../util/suggest.js';
import { ClientError, clientOptions, CONNECTION_FLAGS, ManagementClient, UsageError } from './http-client.js';
import type { ProgressStream } from './progress.js';

/** The vhost every command uses unless --vhost says otherwise. */
export const DEFAULT_CLI_VHOST = '/';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Where output goes: process.stdout and process.stderr, or a test's stand-ins. */
export interface Output {
  write(text: string): unknown;
  /** true when it is a terminal (consume then keeps its progress bar off the lines of bodies) */
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Output;
  /** also where progress bars are drawn, when it is a terminal */
  readonly stderr: ProgressStream;
}

/** A command that could not do its work for a reason of its own (an unreadable file, say): exit 1. */
export class CommandFailure extends Error {}

export interface FlagSpec {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  /** may be given several times (`--arg a=1 --arg b=2`): the value is then a string array */
  readonly multiple?: boolean;
  /** how the value is shown in help, e.g. `<n>` */
  readonly value?: string;
  readonly doc: string;
}

export type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** What a subcommand's `run` gets. */
export interface CommandRun extends CliIo {
  readonly flags: Flags;
  readonly positionals: readonly string[];
  /** --json was given */
  readonly json: boolean;
  /** a client of the management API, built from the connection flags */
  client(): ManagementClient;
}

export interface CliCommand {
  /** the word after `postbox`; a command with subcommands (definitions) handles them in `run` */
  readonly name: string;
  /** one line for `postbox --help` */
  readonly summary: string;
  /** usage lines, each starting with `postbox ` */
  readonly usage: readonly string[];
  readonly description: string;
  readonly flags: readonly FlagSpec[];
  /** positional arguments allowed (default 0) */
  readonly maxPositionals?: number;
  /** takes the --host/--http-port/--user/--password flags (default true) */
  readonly connects?: boolean;
  /**
   * Actions named by the word after the command (`postbox queues declare`), each a command of its own. Without
   * such a word (nothing, or a flag first) the command's own `run` is the default action (the listing).
   */
  readonly subcommands?: readonly CliCommand[];
  run(run: CommandRun): Promise<number>;
}

export const VHOST_FLAG: FlagSpec = { name: 'vhost', type: 'string', value: '<vhost>', doc: `the virtual host (default ${DEFAULT_CLI_VHOST})` };
export const JSON_FLAG: FlagSpec = { name: 'json', type: 'boolean', doc: 'print JSON instead of a table or a sentence' };
const HELP_FLAG: FlagSpec = { name: 'help', type: 'boolean', doc: 'this text' };

const CONNECTION_FLAG_SPECS: readonly FlagSpec[] = CONNECTION_FLAGS.map((f) => ({
  name: f.flag,
  type: 'string' as const,
  value: f.flag === 'http-port' ? '<port>' : `<${f.flag}>`,
  doc: `${f.doc} (env ${f.env})`,
}));

function allFlags(command: CliCommand): FlagSpec[] {
  return [...command.flags, ...(command.connects === false ? [] : CONNECTION_FLAG_SPECS), HELP_FLAG];
}

/** Help text is wrapped to this many columns (a common terminal width, leaving room for the indent). */
export const HELP_WIDTH = 110;
/** The doc column never starts further right than this, so the docs keep room even beside a long flag. */
const HELP_MAX_LEFT = 34;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/**
 * `  left  doc` rows with the docs in one column, wrapped under themselves: the flag tables of every
 * `--help`. A left side wider than the column goes on a line of its own, its doc under the column.
 */
export function renderHelpRows(rows: readonly (readonly [string, string])[]): string {
  const fits = rows.map(([left]) => left.length).filter((n) => n + 4 <= HELP_MAX_LEFT);
  const column = Math.max(...fits, 0) + 4;
  const indent = ' '.repeat(column);
  const out: string[] = [];
  for (const [left, doc] of rows) {
    const docLines = wrap(doc, HELP_WIDTH - column);
    const head = `  ${left}`;
    if (head.length + 2 <= column) out.push(head.padEnd(column) + (docLines[0] ?? ''));
    else out.push(head, indent + (docLines[0] ?? ''));
    for (const more of docLines.slice(1)) out.push(indent + more);
  }
  return out.map((l) => l.trimEnd()).join('\n');
}

/** Flag help lines: `  --name <value>   doc`, aligned. */
export function renderFlags(flags: readonly FlagSpec[]): string {
  return renderHelpRows(flags.map((f) => [`--${f.name}${f.value === undefined ? '' : ' ' + f.value}`, f.doc]));
}

export function commandHelp(command: CliCommand, path = 'postbox'): string {
  const subcommands = command.subcommands ?? [];
  const usage = [...command.usage, ...subcommands.flatMap((sub) => sub.usage)];
  const actions =
    subcommands.length === 0
      ? ''
      : `\n\nActions (\`${path} ${command.name} <action> --help\` describes one):\n${renderHelpRows(subcommands.map((sub) => [sub.name, sub.summary]))}`;
  return `Usage:\n${usage.map((u) => '  ' + u).join('\n')}\n\n${command.description}${actions}\n\nFlags:\n${renderFlags(allFlags(command))}\n`;
}

/** What a wrong usage prints after its reason: the usage lines and where the whole help is. */
export function usageHint(command: CliCommand, path = 'postbox'): string {
  const usage = [...command.usage, ...(command.subcommands ?? []).flatMap((sub) => sub.usage)];
  return `Usage:\n${usage.map((u) => '  ' + u).join('\n')}\nRun '${path} ${command.name} --help' for every flag.\n`;
}

/** The option parseArgs stopped at, as the user typed it (`--bogus`, `-x`), from its message. */
function optionInMessage(message: string): string {
  return /'(-[^' ]*)/.exec(message)?.[1] ?? message;
}

/** parseArgs' failure put in our words: `unknown option --bogus (did you mean --vhost?)`, `--queue needs a value`. */
export function parseFailure(err: Error & { code?: string }, known: readonly Pick<FlagSpec, 'name' | 'type'>[]): string {
  const option = optionInMessage(err.message);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = option.replace(/^-+/, '').split('=')[0]!;
    const match = closestMatch(
      name,
      known.map((f) => f.name),
    );
    return `unknown option ${option}${match === undefined ? '' : ` (did you mean --${match}?)`}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /(--[a-z0-9-]+)/.exec(err.message)?.[1] ?? option;
    const spec = known.find((f) => `--${f.name}` === flag);
    return spec?.type === 'boolean' ? `${flag} takes no value` : `${flag} needs a value`;
  }
  return err.message;
}

function parse(command: CliCommand, argv: readonly string[]): { flags: Flags; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const f of allFlags(command)) options[f.name] = f.name === 'help' ? { type: 'boolean', short: 'h' } : { type: f.type, multiple: f.multiple === true };
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { flags: values as Flags, positionals };
  } catch (err) {
    throw new UsageError(parseFailure(err as Error & { code?: string }, allFlags(command)));
  }
}

/** The word that names a command's default action, the listing, explicitly: `postbox queues list`. */
export const LIST_ACTION = 'list';

/**
 * Parse, run and map failures to an exit code. Anything but a usage or client error is a bug and rethrown.
 * `path` is what comes before the command's name in messages (`postbox`, or `postbox queues` for an action).
 */
export async function runCommand(command: CliCommand, argv: readonly string[], io: CliIo, path = 'postbox'): Promise<number> {
  const subcommands = command.subcommands ?? [];
  const first = argv[0];
  if (subcommands.length > 0 && first === LIST_ACTION && !subcommands.some((s) => s.name === LIST_ACTION)) return runCommand(command, argv.slice(1), io, path);
  if (subcommands.length > 0 && first !== undefined && !first.startsWith('-')) {
    const sub = subcommands.find((s) => s.name === first);
    if (sub !== undefined) return runCommand(sub, argv.slice(1), io, `${path} ${command.name}`);
    if ((command.maxPositionals ?? 0) === 0) {
      const names = [LIST_ACTION, ...subcommands.map((s) => s.name)];
      const match = closestMatch(first, names);
      const reason = `unknown action '${first}'${match === undefined ? '' : ` (did you mean '${match}'?)`}; the actions are ${names.join(', ')}`;
      io.stderr.write(`${path} ${command.name}: ${reason}\n${usageHint(command, path)}`);
      return EXIT_USAGE;
    }
  }
  try {
    const { flags, positionals } = parse(command, argv);
    if (flags.help === true) {
      io.stdout.write(commandHelp(command, path));
      return EXIT_OK;
    }
    const max = command.maxPositionals ?? 0;
    if (positionals.length > max) {
      const extra = positionals[max]!;
      if (subcommands.some((sub) => sub.name === extra)) throw new UsageError(`put the action first: ${path} ${command.name} ${extra} ...`);
      throw new UsageError(`unexpected argument '${extra}'`);
    }
    let client: ManagementClient | undefined;
    return await command.run({
      ...io,
      flags,
      positionals,
      json: flags.json === true,
      client: () => (client ??= new ManagementClient(clientOptions(flags, io.env))),
    });
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${path} ${command.name}: ${err.message}\n${usageHint(command, path)}`);
      return EXIT_USAGE;
    }
    if (err instanceof ClientError || err instanceof CommandFailure) {
      io.stderr.write(`${path} ${command.name}: ${err.message}\n`);
      return EXIT_FAILED;
    }
    throw err;
  }
}

/** The one positional argument a command needs (`postbox queues declare <name>`). */
export function requiredPositional(run: CommandRun, what: string): string {
  const value = run.positionals[0];
  if (value === undefined || value === '') throw new UsageError(`say which ${what}`);
  return value;
}

// ---------------------------------------------------------------- flag readers and formatting

/** A string flag, or `fallback` when absent. */
export function stringFlag(flags: Flags, name: string, fallback: string): string {
  const v = flags[name];
  return typeof v === 'string' ? v : fallback;
}

/** A required string flag. */
export function requiredFlag(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string') throw new UsageError(`--${name} is required`);
  return v;
}

/** A whole-number flag within [min, max], or `fallback` when absent. */
export function integerFlag(flags: Flags, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = flags[name];
  if (typeof v !== 'string') return fallback;
  const n = Number(v);
  if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

/** The vhost given with --vhost, or undefined for "every vhost". */
export function vhostFlag(flags: Flags): string | undefined {
  const v = flags.vhost;
  return typeof v === 'string' ? v : undefined;
}

/** Pretty JSON with a trailing newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** A number field of a loosely typed API object, 0 when absent (RabbitMQ leaves out stats it has none of). */
export function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** A message rate for a table: one decimal place. */
export function formatRate(rate: unknown): string {
  return num(rate).toFixed(1);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;
const BYTES_PER_UNIT = 1024;

/** A byte count for a table: `512 B`, `1.5 KiB`, `20.0 MiB`. */
export function formatBytes(bytes: unknown): string {
  let value = num(bytes);
  let unit = 0;
  while (value >= BYTES_PER_UNIT && unit < BYTE_UNITS.length - 1) {
    value /= BYTES_PER_UNIT;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** How the default exchange (named '') is shown in tables, as RabbitMQ's UI shows it. */
export const DEFAULT_EXCHANGE_LABEL = '(AMQP default)';

export function exchangeLabel(name: unknown): string {
  return typeof name === 'string' && name !== '' ? name : DEFAULT_EXCHANGE_LABEL;
}

/** A field table or argument object for a table cell: `{}` shown as empty. */
export function argumentsText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && Object.keys(value).length === 0) return '';
  return JSON.stringify(value);
}
