/**
 * A flood of durable declarations: how long the broker's event loop is held while one client declares
 * N durable queues over several channels (amqplib, in a separate process so the client's own work does
 * not count), and the declaration rate. The broker runs in this process (fsync 'always', a temporary data
 * directory) so its event-loop delay can be sampled with perf_hooks.monitorEventLoopDelay at 1 ms
 * resolution; the fsync rounds and the fdatasyncs they issued are read from the scheduler's counters.
 * Postbox only: the question is whether one client's declarations stall everyone else.
 *
 *   node dist/bench/declaration-flood.js [--queues 3000] [--channels 8] [--json out.json]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { startBroker } from '../src/broker.js';
import { createLogger } from '../src/log/logger.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

/** The declaring client (run as a child of this script): N durable queues over C channels, then exit. */
async function client(url: string, queues: number, channels: number): Promise<void> {
  const conn = await amqp.connect(url);
  let next = 0;
  await Promise.all(
    Array.from({ length: channels }, async () => {
      const ch = await conn.createChannel();
      for (let i = next++; i < queues; i = next++) await ch.assertQueue(`flood-${i}`, { durable: true });
      await ch.close();
    }),
  );
  await conn.close();
}

async function main(): Promise<void> {
  const queues = Number(arg('queues', '3000'));
  const channels = Number(arg('channels', '8'));
  if (process.argv.includes('--client')) return client(arg('url', ''), queues, channels);
  const json = arg('json', '');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-flood-'));
  const broker = await startBroker({ dataDir, hosts: ['127.0.0.1'], amqpPort: 0, httpPort: 0, kafkaPort: 0, prometheusPort: -1, logger: createLogger('warn') });
  try {
    const scheduler = broker.core.scheduler;
    const roundsBefore = scheduler.durations.count;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    const self = fileURLToPath(import.meta.url);
    const child = spawn(
      process.execPath,
      [self, '--client', '--url', `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`, '--queues', String(queues), '--channels', String(channels)],
      { stdio: 'inherit' },
    );
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const ms = performance.now() - started;
    delay.disable();
    if (code !== 0) throw new Error(`the declaring client exited with ${code}`);
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      queues,
      channels,
      declareMs: Math.round(ms),
      declarationsPerSecond: Math.round((queues / ms) * 1000),
      syncRounds: scheduler.durations.count - roundsBefore,
      eventLoopDelayMs: {
        mean: Number((delay.mean / 1e6).toFixed(2)),
        p99: Number((delay.percentile(99) / 1e6).toFixed(1)),
        max: Number((delay.max / 1e6).toFixed(1)),
      },
    };
    console.log(JSON.stringify(result, null, 2));
    if (json !== '') fs.writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
  } finally {
    await broker.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
