/** The composition root: builds storage, core and listeners from a frozen Config. No logic of its own. */
import { resolve } from 'node:path';
import { buildConfig, type Config } from './config/config.js';
import { DiskAlarm } from './core/alarms.js';
import { BrokerCore } from './core/core.js';
import { createLogger, type Logger } from './log/logger.js';
import { AmqpServer } from './protocol/amqp/server.js';

export interface BrokerOptions extends Partial<Config> {
  /** a ready-made logger (tests pass a quiet one) */
  readonly logger?: Logger;
}

export interface RunningBroker {
  readonly config: Config;
  readonly amqpPort: number;
  readonly core: BrokerCore;
  /** close connections (320), flush and fsync, release the data directory */
  close(): Promise<void>;
}

/** Start a broker. Port 0 means an ephemeral port; read the bound one from the result. */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const { logger: givenLogger, ...overrides } = options;
  const config = buildConfig({ overrides });
  return startWithConfig(config, givenLogger);
}

export async function startWithConfig(config: Config, givenLogger?: Logger): Promise<RunningBroker> {
  const logger = givenLogger ?? createLogger(config.logLevel);
  const core = BrokerCore.open({
    dataDir: resolve(config.dataDir),
    fsync: config.fsync,
    segmentBytes: config.segmentBytes,
    users: config.users,
    vhosts: config.vhosts,
    logger,
  });
  const amqp = new AmqpServer(core, config, logger);
  const diskAlarm = new DiskAlarm(resolve(config.dataDir), config.diskFreeLimitBytes, logger);
  diskAlarm.onChange((reason) => amqp.setBlocked(reason));
  core.alarm = diskAlarm;
  diskAlarm.start();
  try {
    await amqp.listen(config.hosts, config.amqpPort);
  } catch (err) {
    diskAlarm.stop();
    await core.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    config,
    amqpPort: amqp.port,
    core,
    close() {
      closing ??= (async () => {
        diskAlarm.stop();
        await amqp.close();
        await core.close();
      })();
      return closing;
    },
  };
}
