/** The composition root: builds storage, core and listeners from a frozen Config. No logic of its own. */
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { buildConfig, ConfigError, type Config } from './config/config.js';
import { DiskAlarm, MemoryAlarm, ResourceAlarms } from './core/alarms.js';
import { BrokerCore } from './core/core.js';
import { createLogger, type Logger } from './log/logger.js';
import { ManagementServer } from './management/http.js';
import { AlertEngine, AlertRuleError, parseAlertRule, type QueueSample } from './management/alerts.js';
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
    statsIntervalMs: config.statsIntervalMs,
    storageOpenFiles: config.storageOpenFiles,
    maxQueues: config.maxQueues,
    maxQueuesPerVhost: config.maxQueuesPerVhost,
  });
  const amqp = new AmqpServer(core, config, logger);
  if (config.kafkaDefaultPartitions < 1) throw new ConfigError(`--kafka-partitions must be at least 1, got ${config.kafkaDefaultPartitions}`);
  const streams = StreamStore.open({
    dataDir: resolve(config.dataDir),
    scheduler: core.scheduler,
    files: core.files,
    logger,
    autoCreateTopics: config.kafkaAutoCreateTopics,
    defaultPartitions: config.kafkaDefaultPartitions,
    segmentBytes: config.kafkaSegmentBytes,
    retentionCheckMs: Math.max(1, config.kafkaRetentionCheckMs),
  });
  core.onStorageFailure((error) => streams.storageFailed(error));
  const groups = GroupCoordinator.open({ dataDir: resolve(config.dataDir), scheduler: core.scheduler, logger, streams });
  const kafka = new KafkaServer(
    { advertisedHost: config.advertisedHost === '' ? null : config.advertisedHost, clusterId: 'postbox', clients: core.clients },
    streams,
    groups,
    logger,
  );
  const alarms = new ResourceAlarms(new DiskAlarm(resolve(config.dataDir), config.diskFreeLimitBytes, logger), new MemoryAlarm(config.memoryHighWatermarkBytes, logger));
  alarms.onChange((reason) => {
    amqp.setBlocked(reason);
    kafka.setBlocked(reason);
  });
  core.alarm = alarms;
  alarms.start();
  const alerts = new AlertEngine({
    logger,
    configRules: config.alertRules.map((raw) => {
      try {
        return parseAlertRule(String(raw.name), raw);
      } catch (err) {
        if (err instanceof AlertRuleError) throw new ConfigError(`config file: alert '${String(raw.name)}': ${err.message}`);
        throw err;
      }
    }),
    rulesFile: join(resolve(config.dataDir), 'alert-rules.json'),
    webhookUrl: config.alertWebhook,
    intervalMs: config.alertIntervalMs,
    sample: () => {
      const samples: QueueSample[] = [];
      for (const vhost of core.vhosts.values()) {
        for (const q of vhost.queues.values()) {
          const c = q.counters;
          samples.push({
            vhost: vhost.name,
            name: q.name,
            messages: q.messageCount + q.unackedCount,
            consumers: q.consumers.length,
            deadLettered: c.deadLetteredExpired + c.deadLetteredRejected + c.deadLetteredMaxlen + c.deadLetteredDeliveryLimit,
            oldestReadyPublishedAt: () => q.oldestReadyPublishedAt(),
          });
        }
      }
      return samples;
    },
  });
  alerts.start();
  const http: ManagementServer = new ManagementServer({
    core,
    streams,
    groups,
    alerts,
    logger,
    productName: PRODUCT_NAME,
    version: POSTBOX_VERSION,
    node: `postbox@${hostname()}`,
    diskFreeLimitBytes: config.diskFreeLimitBytes,
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
    alarms.stop();
    alerts.stop();
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
        alarms.stop();
        alerts.stop();
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
