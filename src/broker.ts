/** The composition root: builds storage, core and listeners from a frozen Config. No logic of its own. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { buildConfig, ConfigError, type Config } from './config/config.js';
import { DiskAlarm, MemoryAlarm, ResourceAlarms, diskCheckBytes } from './core/alarms.js';
import { BrokerCore } from './core/core.js';
import { checkDataDirFormats } from './storage/format-check.js';
import { createLogger, type Logger } from './log/logger.js';
import { ManagementServer } from './management/http.js';
import { RequestGuard } from './management/request-guard.js';
import { AlertEngine, AlertRuleError, parseAlertRule, type AlertRule, type QueueSample } from './management/alerts.js';
import { KafkaServer } from './protocol/kafka/server.js';
import { StreamStore } from './core/stream/topics.js';
import { GroupCoordinator } from './core/stream/groups.js';
import { AmqpServer } from './protocol/amqp/server.js';
import { lockDataDir, type DataDirLock } from './storage/data-dir-lock.js';
import { reserveListener, type ListenerReservation } from './util/listen.js';
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
  /** close connections (320), flush and fsync, release the data directory (its lock last) */
  close(): Promise<void>;
}

/** Start a broker. Port 0 means an ephemeral port; read the bound one from the result. */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const { logger: givenLogger, ...overrides } = options;
  const config = buildConfig({ overrides });
  return startWithConfig(config, givenLogger);
}

/**
 * Start order, so a broker that cannot run changes nothing on disk: check the configuration, lock the data
 * directory (one broker per directory: storage/data-dir-lock.ts), bind every listener (a port in use is one
 * clear error: util/listen.ts), and only then open storage (recovery, the transient/ wipe). The listeners
 * start serving once everything is open.
 */
export async function startWithConfig(config: Config, givenLogger?: Logger): Promise<RunningBroker> {
  const logger = givenLogger ?? createLogger(config.logLevel);
  if (config.kafkaDefaultPartitions < 1) throw new ConfigError(`--kafka-partitions must be at least 1, got ${config.kafkaDefaultPartitions}`);
  const configRules = config.alertRules.map((raw) => {
    try {
      return parseAlertRule(String(raw.name), raw);
    } catch (err) {
      if (err instanceof AlertRuleError) throw new ConfigError(`config file: alert '${String(raw.name)}': ${err.message}`);
      throw err;
    }
  });
  const lock = await lockDataDir(config.dataDir);
  const reservations: ListenerReservation[] = [];
  try {
    const warn = (line: string): void => logger.warn(line);
    reservations.push(await reserveListener('AMQP', '--amqp-port', config.hosts, config.amqpPort, warn));
    reservations.push(await reserveListener('the management HTTP API', '--http-port', config.hosts, config.httpPort, warn));
    reservations.push(await reserveListener('Kafka', '--kafka-port', config.hosts, config.kafkaPort, warn));
  } catch (err) {
    for (const r of reservations) await r.cancel();
    await lock.release();
    throw err;
  }
  const [amqpAt, httpAt, kafkaAt] = reservations as [ListenerReservation, ListenerReservation, ListenerReservation];
  try {
    lock.writePidFile();
    return await openAndServe(config, logger, configRules, amqpAt, httpAt, kafkaAt, lock);
  } catch (err) {
    for (const r of reservations) await r.cancel();
    await lock.release();
    throw err;
  }
}

async function openAndServe(
  config: Config,
  logger: Logger,
  configRules: AlertRule[],
  amqpAt: ListenerReservation,
  httpAt: ListenerReservation,
  kafkaAt: ListenerReservation,
  lock: DataDirLock,
): Promise<RunningBroker> {
  // before anything in the data directory changes: refuse files written by a newer Postbox
  checkDataDirFormats(lock.dir);
  const core = BrokerCore.open({
    dataDir: lock.dir,
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
  const streams = StreamStore.open({
    dataDir: lock.dir,
    scheduler: core.scheduler,
    files: core.files,
    logger,
    autoCreateTopics: config.kafkaAutoCreateTopics,
    defaultPartitions: config.kafkaDefaultPartitions,
    segmentBytes: config.kafkaSegmentBytes,
    retentionCheckMs: Math.max(1, config.kafkaRetentionCheckMs),
    maxTopics: config.kafkaMaxTopics,
    maxPartitions: config.kafkaMaxPartitions,
    maxPartitionsPerRequest: config.kafkaMaxPartitionsPerRequest,
    maxDecompressedBatchBytes: Math.max(1, config.kafkaMaxDecompressedBatchBytes),
  });
  const groups = GroupCoordinator.open({ dataDir: lock.dir, scheduler: core.scheduler, logger, streams });
  const kafka = new KafkaServer(
    {
      advertisedHost: config.advertisedHost === '' ? null : config.advertisedHost,
      clusterId: 'postbox',
      clients: core.clients,
      fetchMaxBytes: Math.max(1, config.kafkaFetchMaxBytes),
      requestMaxBytes: Math.max(1, config.kafkaSocketRequestMaxBytes),
      queuedMaxRequestBytes: Math.max(1, config.kafkaQueuedMaxRequestBytes),
      kafkaVhost: config.kafkaVhost,
    },
    streams,
    groups,
    logger,
    core.users,
  );
  const alarms = new ResourceAlarms(new DiskAlarm(lock.dir, config.diskFreeLimitBytes, logger), new MemoryAlarm(config.memoryHighWatermarkBytes, logger));
  alarms.onChange((reason) => {
    amqp.setBlocked(reason);
    kafka.setBlocked(reason);
  });
  core.alarm = alarms;
  alarms.start();
  // free space is re-checked by bytes written too (a fast publisher outruns the timer), and at once when
  // a write fails for want of space
  const checkDisk = (): void => alarms.disk.check();
  for (const scheduler of core.schedulers) scheduler.checkEvery(diskCheckBytes(config.diskFreeLimitBytes), checkDisk);
  core.onStorageFailure(checkDisk);
  const alerts = new AlertEngine({
    logger,
    configRules,
    rulesFile: join(lock.dir, 'alert-rules.json'),
    webhookUrl: config.alertWebhook,
    intervalMs: config.alertIntervalMs,
    *sample(): Generator<QueueSample> {
      for (const vhost of core.vhosts.values()) {
        for (const q of vhost.queues.values()) {
          const c = q.counters;
          yield {
            id: q,
            vhost: vhost.name,
            name: q.name,
            messages: q.messageCount + q.unackedCount,
            consumers: q.consumers.length,
            deadLettered: c.deadLetteredExpired + c.deadLetteredRejected + c.deadLetteredMaxlen + c.deadLetteredDeliveryLimit,
            oldestReadyPublishedAt: () => q.oldestReadyPublishedAt(),
          };
        }
      }
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
    guard: new RequestGuard({ allowedHosts: config.httpAllowedHosts.split(',').map((h) => h.trim()), advertisedHost: config.advertisedHost }),
    metricsRequireAuth: config.metricsRequireAuth,
    listeners: () => [
      ...amqpAt.hosts.map((ip_address) => ({ protocol: 'amqp' as const, ip_address, port: amqp.port })),
      ...http.boundHosts.map((ip_address) => ({ protocol: 'http' as const, ip_address, port: http.port })),
      ...kafkaAt.hosts.map((ip_address) => ({ protocol: 'kafka' as const, ip_address, port: kafka.port })),
    ],
  });
  try {
    await amqp.listen(amqpAt);
    await http.listen(httpAt);
    await kafka.listen(kafkaAt);
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
        await lock.release();
      })();
      return closing;
    },
  };
}
