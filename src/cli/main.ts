#!/usr/bin/env node
/** The `postbox` command. `postbox serve` runs the broker; other subcommands are thin clients of the management API. */
import { resolve } from 'node:path';
import { buildConfig, ConfigError, readConfigFile, renderSettingsHelp, SETTINGS } from '../config/config.js';
import { startWithConfig } from '../broker.js';
import { createLogger } from '../log/logger.js';
import { POSTBOX_VERSION } from '../version.js';
import { runPolicies } from './policies.js';

const VERSION = POSTBOX_VERSION;

const MAIN_HELP = `postbox ${VERSION}: a message broker speaking AMQP 0-9-1

Usage:
  postbox serve [flags]     run the broker (data in ./data, AMQP on 127.0.0.1:5672 and [::1]:5672,
                            management HTTP API on port 15672)
  postbox policies list|set|clear [flags]
                            list, set or clear policies through the management API
  postbox --help            this text
  postbox serve --help      every flag of serve
  postbox policies --help   the policies commands and their flags
  postbox --version         print the version
`;

const SERVE_HELP = `Usage: postbox serve [flags]

Runs the broker until SIGTERM or SIGINT, then closes client connections with 320 CONNECTION_FORCED,
flushes and fsyncs, and exits 0. Precedence: flag > environment variable > config file > default.

Flags:
  --config <path>             JSON config file (settings below by their file key, plus "users" and "vhosts";
                              see docs/configuration.md) (env POSTBOX_CONFIG)
${renderSettingsHelp()}
  --help                      this text
`;

function parseFlags(argv: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  const known = new Set(['--config', ...SETTINGS.map((s) => s.flag)]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!known.has(name)) throw new ConfigError(`unknown flag '${name}' (see postbox serve --help)`);
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : argv[++i];
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
  const broker = await startWithConfig(config, logger);
  const hosts = config.hosts.map((h) => (h.includes(':') ? `[${h}]` : h) + ':' + broker.amqpPort).join(', ');
  logger.notice(`Postbox ${VERSION} ready: amqp on ${hosts}; http on port ${broker.httpPort}; kafka on port ${broker.kafkaPort}; data in ${resolve(config.dataDir)}; fsync ${config.fsync}`);
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
  process.stderr.write(`postbox: unknown command '${command}'\n\n${MAIN_HELP}`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError) process.stderr.write(`postbox: ${err.message}\n`);
  else process.stderr.write(`postbox: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
