/**
 * AMQP end-to-end latency at a fixed rate, Postbox vs RabbitMQ, in one run on one machine.
 *
 * One publisher process sends at --rate msg/s for --duration seconds, paced by a coarse 5 ms timer that
 * sends a batch per tick (as many messages as the rate allows since the start). Each 100-byte body carries
 * its send time (performance.timeOrigin + performance.now(), ms) and a sequence number. One consumer process
 * (prefetch, manual acks with multiple=true every --ack-every) records receive time − send time; the driver
 * measures both workers' clock offsets over IPC and corrects for them (typically well under 0.1 ms).
 * Deliveries in the first --warmup seconds are not recorded.
 *
 *   transient   non-durable queue, delivery-mode 1
 *   persistent  durable queue, delivery-mode 2, no publisher confirms
 *   confirms    durable queue, delivery-mode 2, publisher in confirm mode (the pace does not wait for the
 *               confirms): delivered at once, before its fsync, as RabbitMQ's classic queues do; run with
 *               POSTBOX_DELIVER_AFTER_FSYNC=true in the environment (the Postbox child inherits it) to
 *               measure the mode that delivers a confirm-mode message only after the fsync that covers it
 *
 * Each message is stamped just before its batch is written, so the pacing adds no measured latency, but it
 * does make arrivals bursty: about 25 messages every 5 ms at 5,000 msg/s.
 *
 *   node dist/bench/amqp-latency.js [--rate 5000] [--duration 10] [--warmup 1] [--modes transient,persistent,confirms]
 *       [--client amqplib|lean|amqplib,lean] [--only postbox|rabbitmq] [--json out.json]
 *       [--rabbitmq-url amqp://...] [--prefetch 1000] [--ack-every 100] [--body-size 100]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { externalRabbitmq, startPostbox, startRabbitmq, type Broker } from './lib/brokers.js';
import { fmtMs, fmtRatio, intFlag, listFlag, machineInfo, parseArgs, table } from './lib/common.js';
import { BROKERS, CLIENTS, isResult, runPair, type BrokerName, type Row as DriverRow, type RunResult } from './lib/driver.js';

type Mode = 'transient' | 'persistent' | 'confirms';
const MODES: readonly Mode[] = ['transient', 'persistent', 'confirms'];
/** the modes run when --modes is not given (confirms was added later; earlier results have only these) */
const DEFAULT_MODES: readonly Mode[] = ['transient', 'persistent'];

const FLAGS = ['rate', 'duration', 'warmup', 'modes', 'client', 'only', 'json', 'rabbitmq-url', 'prefetch', 'ack-every', 'body-size', 'help'] as const;

type Row = DriverRow<Mode>;

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2), FLAGS);
  if (flags.has('help')) {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
    return;
  }
  const rate = intFlag(flags, 'rate', 5000);
  const durationSeconds = intFlag(flags, 'duration', 10);
  const warmupSeconds = flags.get('warmup') === '0' ? 0 : intFlag(flags, 'warmup', 1);
  const modes = listFlag(flags, 'modes', MODES, DEFAULT_MODES);
  const clients = listFlag(flags, 'client', CLIENTS, ['amqplib']);
  const brokers = listFlag(flags, 'only', BROKERS, BROKERS);
  const prefetch = intFlag(flags, 'prefetch', 1000);
  const ackEvery = intFlag(flags, 'ack-every', 100);
  const bodySize = intFlag(flags, 'body-size', 100);
  const count = rate * durationSeconds;
  const warmupCount = rate * warmupSeconds;
  if (warmupCount >= count) throw new Error('--warmup must be shorter than --duration');
  const runTimeoutMs = durationSeconds * 1000 + 60_000;

  const log = (line: string): void => void process.stderr.write(line + '\n');
  log(`machine: ${machineInfo()}`);
  log(
    `rate ${rate} msg/s for ${durationSeconds} s (first ${warmupSeconds} s not recorded), body ${bodySize} B, prefetch ${prefetch}, ack multiple every ${ackEvery}`,
  );

  const running: Partial<Record<BrokerName, Broker>> = {};
  try {
    if (brokers.includes('postbox')) running.postbox = await startPostbox();
    if (brokers.includes('rabbitmq')) {
      const url = flags.get('rabbitmq-url');
      running.rabbitmq = url ? externalRabbitmq(url) : await startRabbitmq();
    }
    const rows: Row[] = [];
    const servers: Partial<Record<BrokerName, string>> = {};
    for (const client of clients) {
      for (const mode of modes) {
        const row: Row = { client, mode, results: {} };
        rows.push(row);
        for (const name of brokers) {
          const queue = `bench-latency-${mode}-${client}-${Date.now().toString(36)}`;
          try {
            const r = await runPair({
              broker: running[name]!,
              client,
              runTimeoutMs,
              log,
              config: {
                queue,
                durable: mode !== 'transient',
                deliveryMode: mode !== 'transient' ? 2 : 1,
                confirms: mode === 'confirms',
                confirmWindow: 0, // the latency pace never waits for confirms
                count,
                bodySize,
                prefetch,
                ackEvery,
                latency: true,
                rate,
                warmupCount,
              },
            });
            row.results[name] = r;
            servers[name] = r.server;
            const l = r.latency!;
            log(
              `${client.padEnd(7)} ${mode.padEnd(10)} ${name.padEnd(8)} p50 ${fmtMs(l.p50)} ms, p99 ${fmtMs(l.p99)} ms, ` +
                `p99.9 ${fmtMs(l.p999)} ms, max ${fmtMs(l.max)} ms (${l.samples} samples, achieved ${Math.round(r.publishRate)} msg/s, clock skew ${r.skewMs.toFixed(3)} ms)`,
            );
          } catch (err) {
            row.results[name] = { error: (err as Error).message };
            log(`${client.padEnd(7)} ${mode.padEnd(10)} ${name.padEnd(8)} FAILED: ${(err as Error).message}`);
          }
        }
      }
    }

    const out: string[] = [];
    const ms = (r: RunResult | { error: string } | undefined, pick: (l: NonNullable<RunResult['latency']>) => number): string =>
      r === undefined ? '-' : isResult(r) ? fmtMs(pick(r.latency!)) : 'error';
    for (const client of clients) {
      out.push(`\n### client: ${client} (${rate} msg/s for ${durationSeconds} s, ${bodySize} B; latency in ms; ratio = Postbox p99 / RabbitMQ p99)\n`);
      out.push(
        table(
          ['mode', 'broker', 'p50', 'p99', 'p99.9', 'max', 'samples'],
          rows
            .filter((r) => r.client === client)
            .flatMap((r) =>
              brokers.map((name) => {
                const res = r.results[name];
                return [
                  r.mode,
                  name,
                  ms(res, (l) => l.p50),
                  ms(res, (l) => l.p99),
                  ms(res, (l) => l.p999),
                  ms(res, (l) => l.max),
                  isResult(res) ? String(res.latency!.samples) : '-',
                ];
              }),
            ),
        ),
      );
      out.push('');
      out.push(
        table(
          ['mode', 'Postbox p99 ms', 'RabbitMQ p99 ms', 'p99 ratio'],
          rows
            .filter((r) => r.client === client)
            .map((r) => {
              const p = r.results.postbox;
              const q = r.results.rabbitmq;
              return [r.mode, ms(p, (l) => l.p99), ms(q, (l) => l.p99), isResult(p) && isResult(q) ? fmtRatio(p.latency!.p99, q.latency!.p99) : '-'];
            }),
        ),
      );
      for (const r of rows.filter((x) => x.client === client)) {
        for (const name of brokers) {
          const res = r.results[name];
          if (res && !isResult(res)) out.push(`\n${r.mode} on ${name} failed: ${res.error}`);
        }
      }
    }
    process.stdout.write(
      `servers: ${Object.entries(servers)
        .map(([k, v]) => `${k} = ${v}`)
        .join(', ')}\n${out.join('\n')}\n`,
    );

    const jsonPath = flags.get('json');
    if (jsonPath) {
      const doc = {
        bench: 'amqp-latency',
        date: new Date().toISOString(),
        machine: machineInfo(),
        servers,
        command: process.argv.slice(1).join(' '),
        settings: { rate, durationSeconds, warmupSeconds, bodySize, prefetch, ackEvery },
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

main().catch((err) => {
  process.stderr.write(`amqp-latency: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
