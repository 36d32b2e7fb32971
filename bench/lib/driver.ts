/**
 * The driver side of a run: fork one consumer and one publisher worker, measure their clock offsets, set
 * up the consumer then the publisher, say go, and wait for both to finish, with a stall detector and a hard
 * time limit. Workers are killed however the run ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killChild, onExit, type Broker } from './brokers.js';
import { nowMs, ProcessSampler, withTimeout, type WorkerMessage, type WorkerResult } from './common.js';
import type { WorkerConfig } from '../workers/ipc.js';

export type ClientKind = 'amqplib' | 'lean';
export const CLIENTS: readonly ClientKind[] = ['amqplib', 'lean'];

export type BrokerName = 'postbox' | 'rabbitmq';
export const BROKERS: readonly BrokerName[] = ['postbox', 'rabbitmq'];

/** one table row of a bench: a client and a mode, with each broker's result (or why it failed) */
export interface Row<Mode extends string> {
  client: ClientKind;
  mode: Mode;
  results: Partial<Record<BrokerName, RunResult | { error: string }>>;
}

export function isResult(r: RunResult | { error: string } | undefined): r is RunResult {
  return r !== undefined && !('error' in r);
}

/** A worker's setup (connect, declare, consume) must finish within this, ms. */
const SETUP_TIMEOUT_MS = 30_000;
/** A run fails when no message is consumed for this long, ms. */
const STALL_TIMEOUT_MS = 30_000;
/** Round trips used to estimate a worker's clock offset; the one with the shortest round trip wins. */
const CLOCK_PINGS = 25;

export interface RunResult {
  broker: string;
  server: string;
  published: number;
  consumed: number;
  /** first publish to last delivery, ms, in the driver's clock */
  elapsedMs: number;
  /** consumed / elapsed */
  msgsPerSec: number;
  /** first publish to last publish written (or last confirm), msg/s */
  publishRate: number;
  latency?: WorkerResult['latency'];
  /** broker process over the run */
  brokerPeakRssMiB?: number;
  brokerCpuSeconds?: number;
  /** publisher clock minus consumer clock, ms, as measured */
  skewMs: number;
}

class Worker {
  readonly child: ChildProcess;
  private readonly listeners = new Set<(m: WorkerMessage) => void>();
  exitInfo: string | undefined;
  private readonly deregister: () => void;

  constructor(
    readonly label: string,
    script: string,
  ) {
    this.child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.deregister = onExit(() => killChild(this.child));
    this.child.on('message', (m: WorkerMessage) => {
      for (const l of [...this.listeners]) l(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exitInfo = `${label} exited (${code ?? signal})`;
      for (const l of [...this.listeners]) l({ type: 'error', message: this.exitInfo });
    });
  }

  post(message: unknown): void {
    if (this.child.connected) this.child.send(message as never);
  }

  /** Resolves with the first message `pick` accepts; rejects on an error message or exit. */
  waitFor<T>(pick: (m: WorkerMessage) => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const listener = (m: WorkerMessage): void => {
        if (m.type === 'error') {
          this.listeners.delete(listener);
          reject(new Error(`${this.label}: ${m.message}`));
          return;
        }
        const v = pick(m);
        if (v !== undefined) {
          this.listeners.delete(listener);
          resolve(v);
        }
      };
      if (this.exitInfo) reject(new Error(this.exitInfo));
      else this.listeners.add(listener);
    });
  }

  onMessage(l: (m: WorkerMessage) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Worker clock minus driver clock, ms, from the ping with the shortest round trip. */
  async clockOffset(): Promise<number> {
    let best = { rtt: Infinity, offset: 0 };
    for (let seq = 0; seq < CLOCK_PINGS; seq++) {
      const sentAt = nowMs();
      const pong = this.waitFor((m) => (m.type === 'clock-pong' && m.seq === seq ? m : undefined));
      this.post({ type: 'clock-ping', seq });
      const p = await withTimeout(pong, SETUP_TIMEOUT_MS, `${this.label} clock ping`);
      const backAt = nowMs();
      if (backAt - sentAt < best.rtt) best = { rtt: backAt - sentAt, offset: p.at - (sentAt + backAt) / 2 };
    }
    return best.offset;
  }

  /** Waits briefly for a worker that has finished to exit; kills it at once when the run failed. */
  async stop(failed: boolean): Promise<void> {
    if (failed) killChild(this.child);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      const timer = setTimeout(() => killChild(this.child), 3000);
      await exited;
      clearTimeout(timer);
    }
    this.deregister();
  }
}

function workerScript(client: ClientKind, role: 'publisher' | 'consumer'): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'workers', `${client}-${role}.js`);
}

export interface RunOptions {
  broker: Broker;
  client: ClientKind;
  config: Omit<WorkerConfig, 'url' | 'skewMs'>;
  /** hard limit for the publish/consume phase, ms */
  runTimeoutMs: number;
  /** called with progress lines while running */
  log: (line: string) => void;
}

export async function runPair(options: RunOptions): Promise<RunResult> {
  const { broker, client, config } = options;
  const consumer = new Worker(`${client} consumer`, workerScript(client, 'consumer'));
  const publisher = new Worker(`${client} publisher`, workerScript(client, 'publisher'));
  const sampler = new ProcessSampler(broker.pid);
  let failed = true;
  try {
    const consumerOffset = await consumer.clockOffset();
    const publisherOffset = await publisher.clockOffset();
    const skewMs = publisherOffset - consumerOffset;
    const base = { ...config, url: broker.url, skewMs };

    const consumerReady = consumer.waitFor((m) => (m.type === 'ready' ? m : undefined));
    consumer.post({ type: 'setup', config: base });
    const ready = await withTimeout(consumerReady, SETUP_TIMEOUT_MS, `${consumer.label} setup on ${broker.name}`);
    const publisherReady = publisher.waitFor((m) => (m.type === 'ready' ? m : undefined));
    publisher.post({ type: 'setup', config: base });
    await withTimeout(publisherReady, SETUP_TIMEOUT_MS, `${publisher.label} setup on ${broker.name}`);

    const consumerDone = consumer.waitFor((m) => (m.type === 'done' ? m.result : undefined));
    const publisherDone = publisher.waitFor((m) => (m.type === 'done' ? m.result : undefined));
    // a failure of either side must not leave the other promise unobserved
    consumerDone.catch(() => {});
    publisherDone.catch(() => {});

    let lastCount = 0;
    let published = 0;
    let lastProgressAt = Date.now();
    const stopPublisherProgress = publisher.onMessage((m) => {
      if (m.type === 'progress') published = m.count;
    });
    const stopConsumerProgress = consumer.onMessage((m) => {
      if (m.type === 'progress' && m.count !== lastCount) {
        lastCount = m.count;
        lastProgressAt = Date.now();
      }
    });
    const stalled = new Promise<never>((_, reject) => {
      const timer = setInterval(() => {
        if (Date.now() - lastProgressAt > STALL_TIMEOUT_MS) {
          clearInterval(timer);
          reject(
            new Error(
              `stalled on ${broker.name}: no delivery for ${STALL_TIMEOUT_MS / 1000} s at ${lastCount}/${config.count} consumed, ${published} published`,
            ),
          );
        }
      }, 1000);
      consumerDone.finally(() => clearInterval(timer)).catch(() => {});
    });
    stalled.catch(() => {});

    sampler.start();
    publisher.post({ type: 'go' });
    const both = Promise.all([publisherDone, consumerDone]);
    const [pub, con] = await withTimeout(
      Promise.race([both, stalled]),
      options.runTimeoutMs,
      `${client} run on ${broker.name} (${lastCount}/${config.count} consumed)`,
    );
    sampler.stop();
    stopPublisherProgress();
    stopConsumerProgress();

    // into the driver's clock: subtract each worker's offset
    const firstPublish = pub.firstAt - publisherOffset;
    const lastDelivery = con.lastAt - consumerOffset;
    const publishEnd = (pub.confirmedAt ?? pub.lastAt) - publisherOffset;
    const elapsedMs = lastDelivery - firstPublish;
    failed = false;
    return {
      broker: broker.name,
      server: ready.server,
      published: pub.count,
      consumed: con.count,
      elapsedMs,
      msgsPerSec: (con.count * 1000) / elapsedMs,
      publishRate: (pub.count * 1000) / (publishEnd - firstPublish),
      latency: con.latency,
      brokerPeakRssMiB: broker.pid !== undefined ? sampler.peakRss / 2 ** 20 : undefined,
      brokerCpuSeconds: sampler.cpuUsed,
      skewMs,
    };
  } finally {
    sampler.stop();
    await Promise.all([consumer.stop(failed), publisher.stop(failed)]);
  }
}
