#!/usr/bin/env node
/** The `postbox` command. `postbox serve` runs the broker; other subcommands are thin clients of the management API. */
import { resolve } from 'node:path';
import { buildConfig, ConfigError, PORT_OFF, readConfigFile, SETTINGS, settingsHelpRows } from '../config/config.js';
import { installFaultsFromEnv } from '../storage/faults.js';
import { startWithConfig } from '../broker.js';
import { createLogger, escapeLogText } from '../log/logger.js';
import { POSTBOX_VERSION } from '../version.js';
import { StartupError } from '../util/startup-error.js';
import { closestMatch, didYouMean } from '../util/suggest.js';
import { BENCH_COMMANDS } from './bench.js';
import { LIST_ACTION, renderHelpRows, runCommand, type CliCommand } from './command.js';
import { DEFINITIONS_COMMANDS } from './definitions.js';
import { INSPECT_COMMANDS } from './inspect.js';
import { MESSAGE_COMMANDS } from './messages.js';
import { runPolicies } from './policies.js';

const VERSION = POSTBOX_VERSION;

/** The subcommands that are clients of a running broker, in the order `postbox --help` lists them. */
const CLIENT_COMMANDS: readonly CliCommand[] = [...INSPECT_COMMANDS, ...MESSAGE_COMMANDS, ...DEFINITIONS_COMMANDS, ...BENCH_COMMANDS];

/** Column at which the one-line summaries start in `postbox --help`. */
const HELP_SUMMARY_COLUMN = 28;

/** `queues [list|declare|delete]`, `definitions export|import`, `status`: a command and its actions for the main help. */
function commandWords(c: CliCommand): string {
  if (c.name === 'definitions') return 'definitions export|import';
  const actions = (c.subcommands ?? []).map((s) => s.name);
  return actions.length === 0 ? c.name : `${c.name} [${[LIST_ACTION, ...actions].join('|')}]`;
}

function helpLine(command: string, summary: string): string {
  const left = `  postbox ${command}`;
  return left.length + 2 <= HELP_SUMMARY_COLUMN ? left.padEnd(HELP_SUMMARY_COLUMN) + summary : `${left}\n${' '.repeat(HELP_SUMMARY_COLUMN)}${summary}`;
}

const MAIN_HELP = `postbox ${VERSION}: a message broker speaking AMQP 0-9-1 and Kafka

Usage:
  postbox serve [flags]     run the broker (data in ./data, AMQP on 127.0.0.1:5672 and [::1]:5672,
                            management HTTP API on port 15672)

Clients of a running broker (through its management HTTP API; table output, or --json):
${CLIENT_COMMANDS.map((c) => helpLine(commandWords(c), c.summary)).join('\n')}
${helpLine('policies list|set|clear', 'list, set or clear policies')}

  postbox --help            this text
  postbox <command> --help  what a command does and every flag it takes
  postbox --version         print the version

They find the broker with --host, --http-port, --user and --password (or POSTBOX_HOST, POSTBOX_HTTP_PORT,
POSTBOX_USER, POSTBOX_PASSWORD; default localhost:15672, guest/guest). Exit codes: 0 done, 1 the broker
refused or could not be reached, 2 wrong usage. See docs/cli.md.
`;

const SERVE_HELP = `Usage: postbox serve [flags]

Runs the broker until SIGTERM or SIGINT, then closes client connections with 320 CONNECTION_FORCED,
flushes and fsyncs, and exits 0. Precedence: flag > environment variable > config file > default.

Flags:
${renderHelpRows([
  [
    '--config <path>',
    'JSON config file (settings below by their file key, plus "users", "vhosts", "alerts" and "defaultGuest"; see docs/configuration.md) (env POSTBOX_CONFIG)',
  ],
  ...settingsHelpRows(),
  ['--help', 'this text'],
])}
`;

/** true/false settings: the flag alone means true */
const BOOLEAN_FLAGS: ReadonlySet<string> = new Set(SETTINGS.filter((s) => s.kind === 'bool').map((s) => s.flag));

function parseFlags(argv: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  const known = new Set(['--config', ...SETTINGS.map((s) => s.flag)]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) throw new ConfigError(`unknown flag '${name}'${didYouMean(name, known)} (see postbox serve --help)`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (BOOLEAN_FLAGS.has(name) && argv[i + 1] !== 'true' && argv[i + 1] !== 'false')
      value = 'true'; // `--tls-verify-peer` alone
    else value = argv[++i];
    if (value === undefined) throw new ConfigError(`flag ${name} needs a value`);
    flags[name] = value;
  }
  return flags;
}

async function serve(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  const flags = parseFlags(argv);
  const configFile = flags['--config'] ?? process.env.POSTBOX_CONFIG;
  const file = configFile ? readConfigFile(resolve(configFile)) : undefined;
  const config = buildConfig({ flags, env: process.env, file, configFile });
  const logger = createLogger(config.logLevel);
  // TEST-ONLY: storage faults injected by POSTBOX_FAULTS (storage/faults.ts); never set in production
  const faults = installFaultsFromEnv(process.env);
  if (faults !== null) logger.warn(`POSTBOX_FAULTS is set: storage write and fsync faults are injected (testing only): ${process.env.POSTBOX_FAULTS}`);
  const broker = await startWithConfig(config, logger);
  // The signal handlers go in before "ready" is printed: whoever waits for that line (a supervisor, a test)
  // may send SIGTERM the moment it reads it, before this process runs another line. Until then a signal
  // ends the process at once, as a crash would (storage is built to recover from one), so a startup that
  // hangs (a stalled disk) can still be stopped with SIGTERM.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received: closing connections and flushing`);
    broker.close().then(
      () => {
        logger.notice('stopped cleanly');
        process.exit(0);
      },
      (err) => {
        logger.error(`shutdown failed: ${(err as Error).stack ?? err}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP reloads the TLS certificate files (util/tls.ts); without TLS it is ignored (not a hangup exit)
  process.on('SIGHUP', () => {
    if (broker.tls === null) logger.info('SIGHUP received: no TLS certificates to reload');
    else broker.reloadTls('SIGHUP');
  });
  const hosts = config.hosts.map((h) => (h.includes(':') ? `[${h}]` : h) + ':' + broker.amqpPort).join(', ');
  const on = (name: string, port: number, at: string): string => (port === PORT_OFF ? `${name} off` : `${name} on ${at}${port}`);
  const tlsNote =
    broker.tls === null
      ? ''
      : `; ${on('amqps', broker.amqpsPort, 'port ')}; ${on('https', broker.httpsPort, 'port ')}; ${on('kafka SSL', broker.kafkaTlsPort, 'port ')}; TLS certificate ${broker.tls.certificate}${config.tlsVerifyPeer ? ', client certificates required' : ''}`;
  const amqpAt = broker.amqpPort === PORT_OFF ? 'amqp off' : `amqp on ${hosts}`;
  logger.notice(
    `Postbox ${VERSION} ready: ${amqpAt}; ${on('http', broker.httpPort, 'port ')}; ${on('kafka', broker.kafkaPort, 'port ')}${tlsNote}; ${on('prometheus', broker.prometheusPort, 'port ')}; data in ${resolve(config.dataDir)}; fsync ${config.fsync}`,
  );
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(MAIN_HELP);
    return;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(VERSION + '\n');
    return;
  }
  if (command === 'serve') return serve(rest);
  if (command === 'policies') {
    process.exitCode = await runPolicies(rest, process.env, process.stdout, process.stderr);
    return;
  }
  const client = CLIENT_COMMANDS.find((c) => c.name === command);
  if (client !== undefined) {
    process.exitCode = await runCommand(client, rest, { env: process.env, stdout: process.stdout, stderr: process.stderr });
    return;
  }
  const match = closestMatch(command, [...CLIENT_COMMANDS.map((c) => c.name), 'serve', 'policies', 'help', 'version']);
  const guess = match === undefined ? '' : ` (did you mean '${match}'?)`;
  process.stderr.write(`postbox: unknown command '${command}'${guess}; 'postbox --help' lists the commands\n`);
  process.exit(2);
}

// output piped into a command that stopped reading (`postbox queues | head`): stop quietly, as Unix tools do
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

main(process.argv.slice(2)).catch((err) => {
  // the operator's to fix (a setting, a port in use, a data directory in use): one line, no stack trace
  if (err instanceof ConfigError || err instanceof StartupError) process.stderr.write(`postbox: ${escapeLogText(err.message)}\n`);
  else process.stderr.write(`postbox: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
