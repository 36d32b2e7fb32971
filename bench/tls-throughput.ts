/**
 * Plain vs TLS throughput of one Postbox, in one run: the same workload over the plain listener and over
 * its TLS twin, with the broker's CPU per message from /proc, so the cost of TLS shows as CPU per message.
 *
 *   amqp   amqplib: one publisher connection (no confirms) and one consumer connection (prefetch 1000,
 *          ack multiple every 100) on a transient queue, --amqp-count messages of --body-size bytes; timed
 *          from the first publish to the last delivery. The client runs in this process (it does its own
 *          TLS too), so the machine's two CPUs are shared by broker and client.
 *   kafka  kcat produces --kafka-count records of --body-size bytes (acks=1) then consumes them from the
 *          beginning, with security.protocol=PLAINTEXT or SSL; each timed from process start to exit. Then
 *          kafkajs (in this process) produces as many again, batches of KAFKAJS_BATCH with
 *          KAFKAJS_IN_FLIGHT requests in flight. The two clients cut their TLS records differently:
 *          librdkafka calls SSL_write once per piece of its request buffer (about 1 KiB records here:
 *          about 155,000 TLS records per 300 MB), kafkajs writes whole requests (16 KiB records), and the
 *          broker's TLS cost is mostly per record (bench/results/2026-12-07-tls.md).
 *
 * The certificate is a self-signed P-256 one made with openssl for the run (ECDHE + AES-GCM, what Node and
 * librdkafka choose by default); `--fsync never` so the figures are about the wire, not the disk.
 * The plain and TLS runs alternate, --rounds times.
 *
 *   node dist/bench/tls-throughput.js [--amqp-count 50000] [--kafka-count 100000] [--body-size 1024]
 *       [--rounds 2] [--only amqp|kafka] [--socket-reads stream]
 *
 * A TLS socket's cleartext arrives as 'data' events (a new buffer per read), while the plain Kafka listener
 * reads into one shared buffer (util/shared-read-buffer.ts); `--socket-reads stream` runs the broker with
 * POSTBOX_SOCKET_READS=stream so the plain Kafka figures use 'data' events too, and the difference left is
 * what TLS itself costs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { compiledRoot, freePort, killChild, onExit } from './lib/brokers.js';
import { cpuSeconds, fmtInt, intFlag, machineInfo, nowMs, parseArgs, sleep, table } from './lib/common.js';
import { runKcat, writeRecordsFile } from './lib/kcat.js';

const FLAGS = ['amqp-count', 'kafka-count', 'body-size', 'rounds', 'only', 'socket-reads', 'help'] as const;
/** Unacked deliveries the consumer allows (basic.qos) and how often it acks (multiple=true). */
const PREFETCH = 1000;
const ACK_EVERY = 100;
/** Messages the publisher writes before it waits for the socket to drain. */
const PUBLISH_BURST = 500;
/** Records per kafkajs send() and sends in flight (acks=1). */
const KAFKAJS_BATCH = 1000;
const KAFKAJS_IN_FLIGHT = 4;

interface Running {
  pid: number;
  amqpPort: number;
  amqpsPort: number;
  kafkaPort: number;
  kafkaTlsPort: number;
  stop(): Promise<void>;
}

interface Figure {
  workload: string;
  transport: 'plain' | 'TLS';
  messages: number;
  seconds: number;
  cpuSeconds: number;
}

function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

async function startBroker(dir: string, cert: string, key: string, streamReads: boolean): Promise<Running> {
  const entry = join(compiledRoot(), 'src', 'cli', 'main.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'postbox-bench-tls-'));
  const [amqpPort, amqpsPort, kafkaPort, kafkaTlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const args = [
    'serve',
    '--data-dir',
    dataDir,
    '--host',
    '127.0.0.1',
    '--fsync',
    'never',
    '--log-level',
    'warn',
    '--http-port',
    '0',
    '--https-port',
    '-1',
    '--prometheus-port',
    '-1',
  ];
  args.push(
    '--amqp-port',
    String(amqpPort),
    '--amqps-port',
    String(amqpsPort),
    '--kafka-port',
    String(kafkaPort),
    '--kafka-tls-port',
    String(kafkaTlsPort),
    '--tls-cert',
    cert,
    '--tls-key',
    key,
  );
  const env = streamReads ? { ...process.env, POSTBOX_SOCKET_READS: 'stream' } : process.env;
  const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes(' ready: ')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`postbox exited (${String(code)}):\n${out}`)));
  });
  const deregister = onExit(() => killChild(child));
  void dir;
  return {
    pid: child.pid!,
    amqpPort,
    amqpsPort,
    kafkaPort,
    kafkaTlsPort,
    async stop() {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
      deregister();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function amqpRun(url: string, options: object, count: number, body: Buffer, pid: number): Promise<{ seconds: number; cpuSeconds: number }> {
  const consumerConn = await amqp.connect(url, options);
  const publisherConn = await amqp.connect(url, options);
  const consumer = await consumerConn.createChannel();
  const publisher = await publisherConn.createChannel();
  const queue = `tls-bench-${Date.now().toString(36)}`;
  await consumer.assertQueue(queue, { durable: false, autoDelete: true });
  await consumer.prefetch(PREFETCH);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.consume(queue, (m) => {
      if (m === null) return;
      received++;
      if (received % ACK_EVERY === 0 || received === count) consumer.ack(m, true);
      if (received === count) resolve();
    });
  });
  const cpuStart = cpuSeconds(pid)!;
  const start = nowMs();
  for (let sent = 0; sent < count;) {
    let ok = true;
    for (let i = 0; i < PUBLISH_BURST && sent < count; i++, sent++) ok = publisher.sendToQueue(queue, body);
    if (!ok) await new Promise<void>((r) => publisher.once('drain', () => r()));
    else await new Promise<void>((r) => setImmediate(r));
  }
  await done;
  const seconds = (nowMs() - start) / 1000;
  const cpu = cpuSeconds(pid)! - cpuStart;
  await publisherConn.close();
  await consumerConn.close();
  return { seconds, cpuSeconds: cpu };
}

async function kafkajsProduce(
  port: number,
  ca: Buffer | null,
  topic: string,
  count: number,
  body: Buffer,
  pid: number,
): Promise<{ seconds: number; cpuSeconds: number }> {
  const ssl = ca === null ? false : { ca: [ca], servername: 'localhost' };
  const producer = new Kafka({ brokers: [`127.0.0.1:${port}`], ssl, logLevel: logLevel.NOTHING, clientId: 'tls-bench' }).producer();
  await producer.connect();
  const messages = Array.from({ length: KAFKAJS_BATCH }, () => ({ value: body }));
  // the topic is made (and the connection warmed) outside the timed part
  await producer.send({ topic, acks: 1, messages: messages.slice(0, 1) });
  const cpuStart = cpuSeconds(pid)!;
  const start = nowMs();
  const inFlight: Promise<unknown>[] = [];
  for (let sent = 0; sent < count; sent += KAFKAJS_BATCH) {
    inFlight.push(producer.send({ topic, acks: 1, messages: messages.slice(0, Math.min(KAFKAJS_BATCH, count - sent)) }));
    if (inFlight.length >= KAFKAJS_IN_FLIGHT) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const seconds = (nowMs() - start) / 1000;
  const cpu = cpuSeconds(pid)! - cpuStart;
  await producer.disconnect();
  return { seconds, cpuSeconds: cpu };
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2), FLAGS);
  if (flags.has('help')) {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
    return;
  }
  const amqpCount = intFlag(flags, 'amqp-count', 50_000);
  const kafkaCount = intFlag(flags, 'kafka-count', 100_000);
  const bodySize = intFlag(flags, 'body-size', 1024);
  const rounds = intFlag(flags, 'rounds', 2);
  const only = flags.get('only');
  const log = (line: string): void => void process.stderr.write(line + '\n');
  log(`machine: ${machineInfo()}`);
  const dir = mkdtempSync(join(tmpdir(), 'postbox-bench-certs-'));
  const { cert, key } = makeCertificate(dir);
  const streamReads = flags.get('socket-reads') === 'stream';
  if (streamReads) log('broker: POSTBOX_SOCKET_READS=stream');
  const broker = await startBroker(dir, cert, key, streamReads);
  const figures: Figure[] = [];
  try {
    const body = Buffer.alloc(bodySize, 'x');
    const ca = readFileSync(cert);
    const records = join(dir, 'records.txt');
    if (only !== 'amqp') writeRecordsFile(records, bodySize, kafkaCount);
    for (let round = 0; round < rounds; round++) {
      if (only !== 'kafka') {
        for (const transport of ['plain', 'TLS'] as const) {
          const url = transport === 'plain' ? `amqp://guest:guest@127.0.0.1:${broker.amqpPort}` : `amqps://guest:guest@localhost:${broker.amqpsPort}`;
          const r = await amqpRun(url, transport === 'plain' ? {} : { ca: [ca] }, amqpCount, body, broker.pid);
          figures.push({ workload: 'AMQP publish+consume', transport, messages: amqpCount, ...r });
          log(`round ${round + 1} AMQP ${transport}: ${fmtInt(amqpCount / r.seconds)} msg/s`);
          await sleep(500);
        }
      }
      if (only !== 'amqp') {
        for (const transport of ['plain', 'TLS'] as const) {
          const topic = `tls-bench-${transport === 'TLS' ? 'ssl' : 'plain'}-${round}`;
          const connection =
            transport === 'plain'
              ? ['-b', `127.0.0.1:${broker.kafkaPort}`]
              : ['-b', `127.0.0.1:${broker.kafkaTlsPort}`, '-X', 'security.protocol=SSL', '-X', `ssl.ca.location=${cert}`];
          const produce = await runKcat(
            [...connection, '-P', '-t', topic, '-l', records, '-X', 'acks=1', '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000'],
            broker.pid,
          );
          figures.push({
            workload: 'Kafka produce (kcat)',
            transport,
            messages: kafkaCount,
            seconds: produce.seconds,
            cpuSeconds: produce.brokerCpuSeconds ?? NaN,
          });
          const consume = await runKcat([...connection, '-C', '-t', topic, '-o', 'beginning', '-c', String(kafkaCount), '-q', '-f', ''], broker.pid);
          figures.push({
            workload: 'Kafka consume (kcat)',
            transport,
            messages: kafkaCount,
            seconds: consume.seconds,
            cpuSeconds: consume.brokerCpuSeconds ?? NaN,
          });
          const kjs = await kafkajsProduce(
            transport === 'plain' ? broker.kafkaPort : broker.kafkaTlsPort,
            transport === 'plain' ? null : ca,
            `${topic}-kafkajs`,
            kafkaCount,
            body,
            broker.pid,
          );
          figures.push({ workload: 'Kafka produce (kafkajs)', transport, messages: kafkaCount, ...kjs });
          log(
            `round ${round + 1} Kafka ${transport}: kcat produce ${fmtInt(kafkaCount / produce.seconds)} rec/s, consume ${fmtInt(kafkaCount / consume.seconds)} rec/s; kafkajs produce ${fmtInt(kafkaCount / kjs.seconds)} rec/s`,
          );
        }
      }
    }
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = figures.map((f) => [
    f.workload,
    f.transport,
    fmtInt(f.messages),
    fmtInt(f.messages / f.seconds),
    ((f.messages * bodySize) / f.seconds / 2 ** 20).toFixed(1),
    ((f.cpuSeconds / f.messages) * 1e6).toFixed(2),
  ]);
  process.stdout.write(
    `body ${bodySize} B${streamReads ? ', broker with POSTBOX_SOCKET_READS=stream' : ''}\n` +
      table(['workload', 'transport', 'messages', 'msg/s', 'MiB/s', 'broker CPU µs/msg'], rows) +
      '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
