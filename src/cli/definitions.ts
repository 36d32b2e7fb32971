/**
 * `postbox definitions export|import`: RabbitMQ's definitions JSON (users, vhosts, permissions, policies,
 * exchanges, queues, bindings, ...) through GET and POST /api/definitions. An import is one POST; for a
 * large file a progress bar shows the bytes sent, then that the broker is applying them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CommandFailure, EXIT_OK, JSON_FLAG, jsonText, type CliCommand, type CommandRun } from './command.js';
import { closestMatch } from '../util/suggest.js';
import { UsageError } from './http-client.js';
import { ProgressBar } from './progress.js';

/** Uploads (the file's definitions as compact JSON) from this size on get a progress bar when stderr is a terminal; smaller ones go in a blink. */
export const IMPORT_PROGRESS_MIN_BYTES = 256 * 1024;

/**
 * The sections of a definitions file counted in the summary: RabbitMQ's, in the order it exports them, then
 * Postbox's own (Kafka topics and alert rules, which GET /api/definitions adds and POST imports).
 */
const SECTIONS = [
  'users',
  'vhosts',
  'permissions',
  'topic_permissions',
  'parameters',
  'global_parameters',
  'policies',
  'queues',
  'exchanges',
  'bindings',
  'topics',
  'alert_rules',
] as const;

/** How many entries each section holds (sections that are absent are left out). */
export function sectionCounts(definitions: Record<string, unknown>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const section of SECTIONS) {
    const v = definitions[section];
    if (Array.isArray(v)) counts[section] = v.length;
  }
  return counts;
}

function countsText(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([section, n]) => `${n} ${section}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CommandFailure(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

async function exportDefinitions(run: CommandRun, file: string | undefined): Promise<number> {
  const { body } = await run.client().request('GET', ['api', 'definitions']);
  const definitions = asObject(body, "the broker's definitions");
  const counts = sectionCounts(definitions);
  if (file === undefined) {
    // stdout carries the definitions and nothing else (it is piped or redirected): the summary goes to stderr
    run.stdout.write(jsonText(definitions));
    run.stderr.write(run.json ? jsonText({ file: null, result: 'exported', ...counts }) : `exported definitions to stdout: ${countsText(counts)}\n`);
    return EXIT_OK;
  }
  try {
    // it holds users' password hashes: readable by its owner only (an existing file keeps its mode)
    writeFileSync(file, jsonText(definitions), { mode: 0o600 });
  } catch (err) {
    throw new CommandFailure(`cannot write ${file}: ${(err as Error).message}`);
  }
  run.stdout.write(run.json ? jsonText({ file, result: 'exported', ...counts }) : `exported definitions to ${file}: ${countsText(counts)}\n`);
  return EXIT_OK;
}

async function importDefinitions(run: CommandRun, file: string): Promise<number> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CommandFailure(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CommandFailure(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const definitions = asObject(parsed, file);
  // the bar counts the bytes of the request body, which is the file re-serialised without indentation (an
  // exported file is indented, so its own size would leave the bar short of 100%): made at the first piece
  let bar: ProgressBar | undefined;
  try {
    await run.client().request('POST', ['api', 'definitions'], definitions, (sent, total) => {
      bar ??= new ProgressBar(run.stderr, total, 'bytes sent', IMPORT_PROGRESS_MIN_BYTES);
      bar.update(sent, sent < total ? 'bytes sent' : 'bytes sent; the broker is applying them');
    });
  } finally {
    bar?.finish();
  }
  const counts = sectionCounts(definitions);
  run.stdout.write(run.json ? jsonText({ file, result: 'imported', ...counts }) : `imported definitions from ${file}: ${countsText(counts)}\n`);
  return EXIT_OK;
}

const definitions: CliCommand = {
  name: 'definitions',
  summary: 'export or import exchanges, queues, bindings, policies, users, vhosts, topics and alert rules',
  usage: ['postbox definitions export [--file <path>] [--json]', 'postbox definitions import --file <path> [--json]'],
  description: `export writes the broker's definitions (GET /api/definitions, RabbitMQ's format) to --file, or to
stdout without it. import loads a definitions file (from Postbox or RabbitMQ) into the broker with one POST /api/definitions.
For uploads of
${IMPORT_PROGRESS_MIN_BYTES / 1024} KiB or more (the file as compact JSON) a progress bar on stderr (when it is a terminal) shows the upload
and then that the broker is applying it. Both print a count of each section (Kafka topics and alert rules
included); an export to stdout prints it on stderr, so stdout holds only the JSON.`,
  flags: [{ name: 'file', type: 'string', value: '<path>', doc: 'the definitions file (export: default stdout)' }, JSON_FLAG],
  maxPositionals: 1,
  async run(run) {
    const file = typeof run.flags.file === 'string' ? run.flags.file : undefined;
    const [action] = run.positionals;
    if (action === 'export') return exportDefinitions(run, file);
    if (action === 'import') {
      if (file === undefined) throw new UsageError('definitions import needs --file <path>');
      return importDefinitions(run, file);
    }
    if (action === undefined) throw new UsageError('say export or import');
    const guess = closestMatch(action, ['export', 'import']);
    throw new UsageError(`unknown action '${action}'${guess === undefined ? '' : ` (did you mean '${guess}'?)`}; the actions are export and import`);
  },
};

export const DEFINITIONS_COMMANDS: readonly CliCommand[] = [definitions];
