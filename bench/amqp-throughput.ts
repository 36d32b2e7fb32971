/**
 * AMQP throughput, Postbox vs RabbitMQ, in one run on one machine.
 *
 * For each client (amqplib, lean) and each mode, runs Postbox then RabbitMQ with one publisher process and
 * one consumer process on a fresh queue, and measures end-to-end msg/s: first publish to last delivery.
 *
 *   transient   non-durable queue, delivery-mode 1
 *   persistent  durable queue, delivery-mode 2, no publisher confirms
 *   confirms    durable queue, delivery-mode 2, publisher confirms, at most --confirm-window unconfirmed
 *
 * The consumer uses basic.qos(--prefetch) and manual acks, one basic.ack with multiple=true every
 * --ack-every deliveries.
 *
 *   node dist/bench/amqp-throughput.js [--count 200000] [--modes transient,persistent,confirms]
 *       [--client amqplib|lean|amqplib,lean] [--only postbox|rabbitmq] [--json out.json]
 *       [--rabbitmq-url amqp://guest:guest@127.0.0.1:5672] [--prefetch 1000] [--ack-every 100]
 *       [--confirm-window 1000] [--body-size 100]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { externalRabbitmq, startPostbox, startRabbitmq, type Broker } from './lib/brokers.js';
import { fmtInt, fmtRatio, intFlag, listFlag, machineInfo, parseArgs, table } from './lib/common.js';
import { BROKERS, CLIENTS, isResult, runPair, type BrokerName, type Row as DriverRow, type RunResult } from './lib/driver.js';

type Mode = 'transient' | 'persistent' | 'confirms';
const MODES: readonly Mode[] = ['transient', 'persistent', 'confirms'];

const FLAGS = ['count', 'modes', 'client', 'only', 'json', 'rabbitmq-url', 'prefetch', 'ack-every', 'confirm-window', 'body-size', 'help'] as const;

type Row = DriverRow<Mode>;

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2), FLAGS);
  if (flags.has('help')) {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
    return;
  }
  const count = intFlag(flags, 'count', 200_000);
  const modes = listFlag(flags, 'modes', MODES, MODES);
  const clients = listFlag(flags, 'client', CLIENTS, ['amqplib']);
  const brokers = listFlag(flags, 'only', BROKERS, BROKERS);
  const prefetch = intFlag(flags, 'prefetch', 1000);
  const ackEvery = intFlag(flags, 'ack-every', 100);
  const confirmWindow = intFlag(flags, 'confirm-window', 1000);
  const bodySize = intFlag(flags, 'body-size', 100);
  // generous: a broker doing 1,000 msg/s still finishes; a stall is caught sooner by the stall detector
  const runTimeoutMs = Math.max(120_000, count);

  const log = (line: string): void => void process.stderr.write(line + '\n');
  log(`machine: ${machineInfo()}`);
  log(`count ${count}, body ${bodySize} B, prefetch ${prefetch}, ack multiple every ${ackEvery}, confirm window ${confirmWindow}`);

  const running: Partial<Record<BrokerName, Broker>> = {};
  try {
    if (brokers.includes('postbox')) {
      running.postbox = await startPostbox();
      log(`postbox: listening on ${running.postbox.port} (pid ${running.postbox.pid})`);
    }
    if (brokers.includes('rabbitmq')) {
      const url = flags.get('rabbitmq-url');
      running.rabbitmq = url ? externalRabbitmq(url) : await startRabbitmq();
      log(`rabbitmq: listening on ${running.rabbitmq.port}${running.rabbitmq.pid ? ` (pid ${running.rabbitmq.pid})` : ' (external)'}`);
    }

    const rows: Row[] = [];
    let serverNames: Partial<Record<BrokerName, string>> = {};
    for (const client of clients) {
      for (const mode of modes) {
        const row: Row = { client, mode, results: {} };
        rows.push(row);
        for (const name of brokers) {
          const broker = running[name]!;
          const queue = `bench-${mode}-${client}-${Date.now().toString(36)}`;
          try {
            const r = await runPair({
              broker,
              client,
              runTimeoutMs,
              log,
              config: {
                queue,
                durable: mode !== 'transient',
                deliveryMode: mode === 'transient' ? 1 : 2,
                confirms: mode === 'confirms',
                confirmWindow,
                count,
                bodySize,
                prefetch,
                ackEvery,
                latency: false,
                rate: 0,
                warmupCount: 0,
              },
            });
            row.results[name] = r;
            serverNames = { ...serverNames, [name]: r.server };
            log(
              `${client.padEnd(7)} ${mode.padEnd(10)} ${name.padEnd(8)} ${fmtInt(r.msgsPerSec).padStart(9)} msg/s end-to-end, ` +
                `publish ${fmtInt(r.publishRate)} msg/s, ${(r.elapsedMs / 1000).toFixed(2)} s` +
                (r.brokerPeakRssMiB !== undefined ? `, broker peak RSS ${r.brokerPeakRssMiB.toFixed(0)} MiB, CPU ${r.brokerCpuSeconds?.toFixed(1)} s` : ''),
            );
          } catch (err) {
            row.results[name] = { error: (err as Error).message };
            log(`${client.padEnd(7)} ${mode.padEnd(10)} ${name.padEnd(8)} FAILED: ${(err as Error).message}`);
          }
        }
      }
    }

    const out: string[] = [];
    for (const client of clients) {
      const clientRows = rows.filter((r) => r.client === client);
      out.push(`\n### client: ${client} (${count.toLocaleString('en-US')} messages of ${bodySize} B per run; ratio = Postbox / RabbitMQ)\n`);
      out.push(
        table(
          ['mode', 'Postbox msg/s', 'RabbitMQ msg/s', 'ratio'],
          clientRows.map((r) => {
            const p = r.results.postbox;
            const q = r.results.rabbitmq;
            return [r.mode, cell(p), cell(q), isResult(p) && isResult(q) ? fmtRatio(p.msgsPerSec, q.msgsPerSec) : '-'];
          }),
        ),
      );
      out.push('');
      out.push(
        table(
          ['mode', 'Postbox publish msg/s', 'RabbitMQ publish msg/s', 'Postbox peak RSS MiB', 'RabbitMQ peak RSS MiB', 'Postbox CPU s', 'RabbitMQ CPU s'],
          clientRows.map((r) => {
            const p = r.results.postbox;
            const q = r.results.rabbitmq;
            return [
              r.mode,
              isResult(p) ? fmtInt(p.publishRate) : '-',
              isResult(q) ? fmtInt(q.publishRate) : '-',
              isResult(p) ? fmtInt(p.brokerPeakRssMiB) : '-',
              isResult(q) ? fmtInt(q.brokerPeakRssMiB) : '-',
              isResult(p) && p.brokerCpuSeconds !== undefined ? p.brokerCpuSeconds.toFixed(1) : '-',
              isResult(q) && q.brokerCpuSeconds !== undefined ? q.brokerCpuSeconds.toFixed(1) : '-',
            ];
          }),
        ),
      );
      for (const r of clientRows) {
        for (const name of brokers) {
          const res = r.results[name];
          if (res && !isResult(res)) out.push(`\n${r.mode} on ${name} failed: ${res.error}`);
        }
      }
    }
    process.stdout.write(
      `servers: ${Object.entries(serverNames)
        .map(([k, v]) => `${k} = ${v}`)
        .join(', ')}\n${out.join('\n')}\n`,
    );

    const jsonPath = flags.get('json');
    if (jsonPath) {
      const doc = {
        bench: 'amqp-throughput',
        date: new Date().toISOString(),
        machine: machineInfo(),
        servers: serverNames,
        command: process.argv.slice(1).join(' '),
        settings: { count, bodySize, prefetch, ackEvery, confirmWindow },
        rows,
      };
      writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');
      log(`wrote ${jsonPath}`);
    }
    if (rows.some((r) => Object.values(r.results).some((x) => !isResult(x)))) process.exitCode = 1;
  } finally {
    await running.postbox?.stop();
    await running.rabbitmq?.stop();
  }
}

function cell(r: RunResult | { error: string } | undefined): string {
  if (r === undefined) return '-';
  return isResult(r) ? fmtInt(r.msgsPerSec) : 'error';
}

main().catch((err) => {
  process.stderr.write(`amqp-throughput: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
