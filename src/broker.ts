/** The composition root: builds storage, core and listeners from a frozen Config. No logic of its own. */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { buildConfig, ConfigError, type Config } from './config/config.js';
import { DiskAlarm } from './core/alarms.js';
import { BrokerCore } from './core/core.js';
import { createLogger, type Logger } from './log/logger.js';
import { ManagementServer } from './management/http.js';
import { KafkaServer } from './protocol/kafka/server.js';
import { StreamStore } from './core/stream/topics.js';
import { GroupCoordinator } from './core/stream/groups.js';
import { AmqpServer } from './protocol/amqp/server.js';
import { POSTBOX_VERSION, PRODUCT_NAME } from './version.js';

export interface BrokerOptions extends Partial<Config> {
  /** a ready-made logger (tests pass a quiet one) */
  readonly logger?: Logger;
}

export interface RunningBroker {
  readonly config: Config;
  readonly amqpPort: number;
  /** the management HTTP API's port */
  readonly httpPort: number;
  /** the Kafka listener's port */
  readonly kafkaPort: number;
  readonly core: BrokerCore;
  /** Kafka-model topics */
  readonly streams: StreamStore;
  readonly groups: GroupCoordinator;
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
  if (config.kafkaDefaultPartitions < 1) throw new ConfigError(`--kafka-partitions must be at least 1, got ${config.kafkaDefaultPartitions}`);
  const streams = StreamStore.open({
    dataDir: resolve(config.dataDir),
    scheduler: core.scheduler,
    logger,
    autoCreateTopics: config.kafkaAutoCreateTopics,
    defaultPartitions: config.kafkaDefaultPartitions,
    segmentBytes: config.kafkaSegmentBytes,
    retentionCheckMs: Math.max(1, config.kafkaRetentionCheckMs),
  });
  core.onStorageFailure((error) => streams.storageFailed(error));
  const groups = GroupCoordinator.open({ dataDir: resolve(config.dataDir), scheduler: core.scheduler, logger, streams });
  const kafka = new KafkaServer({ advertisedHost: config.advertisedHost === '' ? null : config.advertisedHost, clusterId: 'postbox' }, streams, groups, logger);
  const diskAlarm = new DiskAlarm(resolve(config.dataDir), config.diskFreeLimitBytes, logger);
  diskAlarm.onChange((reason) => amqp.setBlocked(reason));
  core.alarm = diskAlarm;
  diskAlarm.start();
  const http: ManagementServer = new ManagementServer({
    core,
    streams,
    groups,
    logger,
    productName: PRODUCT_NAME,
    version: POSTBOX_VERSION,
    node: `postbox@${hostname()}`,
    listeners: () => [
      ...config.hosts.map((ip_address) => ({ protocol: 'amqp' as const, ip_address, port: amqp.port })),
      ...http.boundHosts.map((ip_address) => ({ protocol: 'http' as const, ip_address, port: http.port })),
      ...config.hosts.map((ip_address) => ({ protocol: 'kafka' as const, ip_address, port: kafka.port })),
    ],
  });
  try {
    await amqp.listen(config.hosts, config.amqpPort);
    await http.listen(config.hosts, config.httpPort);
    await kafka.listen(config.hosts, config.kafkaPort);
  } catch (err) {
    diskAlarm.stop();
    await kafka.close();
    await http.close();
    await amqp.close();
    await groups.close();
    await streams.close();
    await core.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    config,
    amqpPort: amqp.port,
    httpPort: http.port,
    kafkaPort: kafka.port,
    core,
    streams,
    groups,
    close() {
      closing ??= (async () => {
        diskAlarm.stop();
        await kafka.close();
        await http.close();
        await amqp.close();
        await groups.close();
        await streams.close();
        await core.close();
      })();
      return closing;
    },
  };
}
