/** The composition root: builds storage, core and listeners from a frozen Config. No logic of its own. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { buildConfig, ConfigError, PORT_OFF, type Config } from './config/config.js';
import { DiskAlarm, MemoryAlarm, ResourceAlarms, diskCheckBytes } from './core/alarms.js';
import { BrokerCore } from './core/core.js';
import { FileStorageEngine } from './storage/file-engine.js';
import { checkDataDirFormats } from './storage/format-check.js';
import { writeFileAtomic } from './storage/files.js';
import { createLogger, type Logger } from './log/logger.js';
import { ManagementServer, PROMETHEUS_ROUTES } from './management/http.js';
import type { ManagementContext } from './management/router.js';
import { clusterPermanentId } from './management/metrics-rabbitmq.js';
import { RequestGuard } from './management/request-guard.js';
import { AlertEngine, AlertRuleError, MAX_ALERT_RULES, parseAlertRule, type AlertRule, type GroupSample, type QueueSample } from './management/alerts.js';
import { KafkaServer } from './protocol/kafka/server.js';
import { StreamStore } from './core/stream/topics.js';
import { GroupCoordinator } from './core/stream/groups.js';
import { AmqpServer } from './protocol/amqp/server.js';
import { lockDataDir, type DataDirLock } from './storage/data-dir-lock.js';
import { reserveListener, type ListenerReservation } from './util/listen.js';
import { TlsCertificates, type TlsFiles } from './util/tls.js';
import { POSTBOX_VERSION, PRODUCT_NAME } from './version.js';

export interface BrokerOptions extends Partial<Config> {
  /** a ready-made logger (tests pass a quiet one) */
  readonly logger?: Logger;
}

export interface RunningBroker {
  readonly config: Config;
  /** the AMQP listener's port (-1: turned off) */
  readonly amqpPort: number;
  /** the management HTTP API's port (-1: turned off) */
  readonly httpPort: number;
  /** the Prometheus listener's port (-1: turned off) */
  readonly prometheusPort: number;
  /** the Kafka listener's port (-1: turned off) */
  readonly kafkaPort: number;
  /** the AMQP-over-TLS listener's port (-1: no certificate given, or turned off) */
  readonly amqpsPort: number;
  /** the management API over TLS (-1: no certificate given, or turned off) */
  readonly httpsPort: number;
  /** the Kafka-over-TLS listener's port (-1: no certificate given, or turned off) */
  readonly kafkaTlsPort: number;
  /** the TLS certificates (null: no --tls-cert) */
  readonly tls: TlsCertificates | null;
  /** read the TLS certificate files again (SIGHUP); false when there is no TLS or the files are unusable (logged) */
  reloadTls(reason: string): boolean;
  readonly core: BrokerCore;
  /** Kafka-model topics */
  readonly streams: StreamStore;
  readonly groups: GroupCoordinator;
  /** close connections (320), flush and fsync, release the data directory (its lock last) */
  close(): Promise<void>;
}

function listed<P extends string>(protocol: P, at: ListenerReservation | null): { protocol: P; ip_address: string; port: number }[] {
  return at === null ? [] : at.hosts.map((ip_address) => ({ protocol, ip_address, port: at.port }));
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
  if (configRules.length > MAX_ALERT_RULES)
    throw new ConfigError(`config file: ${configRules.length} alerts, at most ${MAX_ALERT_RULES} (every rule is evaluated against every queue)`);
  // the certificate files are read before anything else is touched: a bad one stops the start in one line
  const tls = config.tlsCert === '' ? null : new TlsCertificates(tlsFiles(config), logger);
  const lock = await lockDataDir(config.dataDir);
  const reservations: ListenerReservation[] = [];
  const warn = (line: string): void => logger.warn(line);
  const reserve = async (label: string, flag: string, port: number, on = true): Promise<ListenerReservation | null> => {
    if (!on || port === PORT_OFF) return null;
    const r = await reserveListener(label, flag, config.hosts, port, warn);
    reservations.push(r);
    return r;
  };
  let listeners: Listeners;
  try {
    listeners = {
      amqp: await reserve('AMQP', '--amqp-port', config.amqpPort),
      http: await reserve('the management HTTP API', '--http-port', config.httpPort),
      prometheus: await reserve('the Prometheus metrics', '--prometheus-port', config.prometheusPort),
      kafka: await reserve('Kafka', '--kafka-port', config.kafkaPort),
      amqps: await reserve('AMQP over TLS', '--amqps-port', config.amqpsPort, tls !== null),
      https: await reserve('the management HTTP API over TLS', '--https-port', config.httpsPort, tls !== null),
      kafkaTls: await reserve('Kafka over TLS', '--kafka-tls-port', config.kafkaTlsPort, tls !== null),
    };
  } catch (err) {
    for (const r of reservations) await r.cancel();
    await lock.release();
    throw err;
  }
  try {
    lock.writePidFile();
    return await openAndServe(config, logger, configRules, listeners, tls, lock);
  } catch (err) {
    for (const r of reservations) await r.cancel();
    tls?.close();
    await lock.release();
    throw err;
  }
}

/** The reserved listeners; null: turned off (port -1), or a TLS listener without a certificate. */
interface Listeners {
  readonly amqp: ListenerReservation | null;
  readonly http: ListenerReservation | null;
  readonly prometheus: ListenerReservation | null;
  readonly kafka: ListenerReservation | null;
  readonly amqps: ListenerReservation | null;
  readonly https: ListenerReservation | null;
  readonly kafkaTls: ListenerReservation | null;
}

function tlsFiles(config: Config): TlsFiles {
  return { cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa, verifyPeer: config.tlsVerifyPeer, handshakeTimeoutMs: config.tlsHandshakeTimeoutMs };
}

async function openAndServe(
  config: Config,
  logger: Logger,
  configRules: AlertRule[],
  at: Listeners,
  tls: TlsCertificates | null,
  lock: DataDirLock,
): Promise<RunningBroker> {
  // before anything in the data directory changes: refuse files written by a newer Postbox
  checkDataDirFormats(lock.dir);
  const engine = new FileStorageEngine({
    fsync: config.fsync,
    openFiles: config.storageOpenFiles,
    logger,
    dataDir: lock.dir,
    queueSegmentBytes: config.segmentBytes,
  });
  const core = BrokerCore.open({
    engine,
    users: config.users,
    vhosts: config.vhosts,
    logger,
    statsIntervalMs: config.statsIntervalMs,
    maxQueues: config.maxQueues,
    maxQueuesPerVhost: config.maxQueuesPerVhost,
    allowMd5PasswordHashes: config.allowMd5PasswordHashes,
    deliverAfterFsync: config.deliverAfterFsync,
  });
  const amqp = new AmqpServer(core, config, logger);
  const streams = StreamStore.open({
    engine,
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
  // the partitions' produce and consume rates come from the same sampler as the queues'
  core.stats.samplePartitions(() => streams.allPartitions());
  const groups = GroupCoordinator.open({ offsets: engine.meta.openGroupOffsets(), logger, streams });
  const kafka = new KafkaServer(
    {
      advertisedHost: config.advertisedHost === '' ? null : config.advertisedHost,
      clusterId: 'postbox',
      clients: core.clients,
      fetchMaxBytes: Math.max(1, config.kafkaFetchMaxBytes),
      requestMaxBytes: Math.max(1, config.kafkaSocketRequestMaxBytes),
      queuedMaxRequestBytes: Math.max(1, config.kafkaQueuedMaxRequestBytes),
      fetchMemoryBytes: Math.max(1, config.kafkaFetchMemoryBytes),
      kafkaVhost: config.kafkaVhost,
      logins: core.logins,
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
  engine.checkEvery(diskCheckBytes(config.diskFreeLimitBytes), checkDisk);
  core.onStorageFailure(checkDisk);
  const alerts = new AlertEngine({
    logger,
    configRules,
    rulesFile: join(lock.dir, 'alert-rules.json'),
    writeRulesFile: writeFileAtomic,
    webhookUrl: config.alertWebhook,
    intervalMs: config.alertIntervalMs,
    defaultRules: config.alertDefaultRules,
    kafkaVhost: config.kafkaVhost,
    alarms: () => alarms.active(),
    *groups(): Generator<GroupSample> {
      for (const g of groups.listGroups()) {
        let lag = 0;
        for (const o of groups.committedOffsets(g.groupId)) if (o.lag !== null) lag += Number(o.lag);
        yield { groupId: g.groupId, lag };
      }
    },
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
  const node = `postbox@${hostname()}`;
  const managementContext: ManagementContext = {
    core,
    streams,
    groups,
    alerts,
    logger,
    kafkaVhost: config.kafkaVhost,
    productName: PRODUCT_NAME,
    version: POSTBOX_VERSION,
    node,
    clusterPermanentId: clusterPermanentId(node, lock.dir),
    diskFreeLimitBytes: config.diskFreeLimitBytes,
    guard: new RequestGuard({ allowedHosts: config.httpAllowedHosts.split(',').map((h) => h.trim()), advertisedHost: config.advertisedHost }),
    metricsRequireAuth: config.metricsRequireAuth,
    // as RabbitMQ names them: amqp, amqp/ssl, http, https (and kafka, kafka/ssl)
    listeners: () => [
      ...listed('amqp' as const, at.amqp),
      ...listed('amqp/ssl' as const, at.amqps),
      ...listed('http' as const, at.http),
      ...listed('http/prometheus' as const, at.prometheus),
      ...listed('https' as const, at.https),
      ...listed('kafka' as const, at.kafka),
      ...listed('kafka/ssl' as const, at.kafkaTls),
    ],
  };
  const http = new ManagementServer(managementContext);
  // the metrics alone, on their own port (RabbitMQ's 15692), under the same --metrics-require-auth rule
  const prometheus = new ManagementServer(managementContext, PROMETHEUS_ROUTES);
  try {
    if (at.amqp !== null) await amqp.listen(at.amqp);
    if (at.http !== null) await http.listen(at.http);
    if (at.prometheus !== null) await prometheus.listen(at.prometheus);
    if (at.kafka !== null) await kafka.listen(at.kafka);
    if (tls !== null) {
      if (at.amqps !== null) await amqp.listenTls(at.amqps, tls);
      if (at.https !== null) await http.listenTls(at.https, tls);
      if (at.kafkaTls !== null) await kafka.listenTls(at.kafkaTls, tls);
      tls.watch();
    }
  } catch (err) {
    alarms.stop();
    alerts.stop();
    await kafka.close();
    await prometheus.close();
    await http.close();
    await amqp.close();
    await groups.close();
    await streams.close();
    await core.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  const portOf = (r: ListenerReservation | null): number => (r === null ? PORT_OFF : r.port);
  return {
    config,
    amqpPort: portOf(at.amqp),
    httpPort: portOf(at.http),
    prometheusPort: portOf(at.prometheus),
    kafkaPort: portOf(at.kafka),
    amqpsPort: portOf(at.amqps),
    httpsPort: portOf(at.https),
    kafkaTlsPort: portOf(at.kafkaTls),
    tls,
    reloadTls(reason: string): boolean {
      return tls?.reload(reason) ?? false;
    },
    core,
    streams,
    groups,
    close() {
      closing ??= (async () => {
        alarms.stop();
        alerts.stop();
        tls?.close();
        await kafka.close();
        await prometheus.close();
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
