/**
 * The worker side of the driver ↔ worker protocol (fork IPC). Every worker:
 *   1. answers clock pings (the driver estimates each worker's clock offset from them),
 *   2. on `setup` connects and declares, then says `ready`,
 *   3. on `go` (publishers) runs; consumers run as soon as they are set up,
 *   4. says `done` with its result, or `error`, and exits.
 * A worker whose driver goes away exits too, so no worker outlives a crashed bench.
 */
import { nowMs, type WorkerMessage, type WorkerResult } from '../lib/common.js';

export interface WorkerConfig {
  url: string;
  queue: string;
  durable: boolean;
  /** 1 transient, 2 persistent */
  deliveryMode: number;
  confirms: boolean;
  /** most unconfirmed publishes outstanding (confirms only) */
  confirmWindow: number;
  /** messages to publish / to consume before reporting done */
  count: number;
  bodySize: number;
  prefetch: number;
  /** the consumer acks with multiple=true every this many deliveries */
  ackEvery: number;
  /** latency mode: publish at `rate` msg/s, stamping each body; the consumer records latencies */
  latency: boolean;
  rate: number;
  /** latency mode: deliveries with a sequence number below this are warm-up and not recorded */
  warmupCount: number;
  /** latency mode: publisher clock minus consumer clock, ms, as the driver measured it */
  skewMs: number;
}

/** Body layout in latency mode: | f64 send time, ms, publisher clock | u32 sequence | zero padding | */
export const BODY_TIME_OFFSET = 0;
export const BODY_SEQ_OFFSET = 8;
/** How often a worker reports progress to the driver, ms (the driver's stall detector feeds on it). */
export const PROGRESS_INTERVAL_MS = 500;

type DriverMessage = { type: 'clock-ping'; seq: number } | { type: 'setup'; config: WorkerConfig } | { type: 'go' };

export function send(message: WorkerMessage): void {
  if (process.send && process.connected) process.send(message);
}

export function fail(err: unknown): never {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  send({ type: 'error', message });
  // give the IPC message a moment to leave before exiting
  setTimeout(() => process.exit(1), 100);
  throw err instanceof Error ? err : new Error(message);
}

export function finish(result: WorkerResult): void {
  send({ type: 'done', result });
  setTimeout(() => process.exit(0), 100);
}

/**
 * Runs a worker: `setup` connects and returns the function that does the work (started on `go` for a
 * publisher, at once for a consumer).
 */
export function runWorker(role: 'publisher' | 'consumer', setup: (config: WorkerConfig) => Promise<{ server: string; run: () => void }>): void {
  if (!process.send) {
    process.stderr.write('this is a bench worker: the drivers (amqp-throughput, amqp-latency) fork it\n');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit(3));
  process.on('uncaughtException', (err) => fail(err));
  process.on('unhandledRejection', (err) => fail(err));
  let run: (() => void) | undefined;
  process.on('message', (raw: DriverMessage) => {
    switch (raw.type) {
      case 'clock-ping':
        send({ type: 'clock-pong', seq: raw.seq, at: nowMs() });
        break;
      case 'setup':
        setup(raw.config).then((s) => {
          run = s.run;
          send({ type: 'ready', server: s.server });
          if (role === 'consumer') run();
        }, fail);
        break;
      case 'go':
        if (!run) fail(new Error('go before setup finished'));
        else run();
        break;
    }
  });
}

/** Calls `tick` every PROGRESS_INTERVAL_MS with the current count, until the returned stop is called. */
export function reportProgress(count: () => number): () => void {
  const timer = setInterval(() => send({ type: 'progress', count: count() }), PROGRESS_INTERVAL_MS);
  return () => clearInterval(timer);
}

/** A body of `size` bytes (at least 12), zero-filled: latency mode stamps time and sequence into it. */
export function makeBody(size: number): Buffer {
  return Buffer.alloc(Math.max(size, 12));
}

/**
 * Paces a latency-mode publisher: every `tickMs`, `sendBatch(n)` is asked for as many messages as the rate
 * allows since the start (so timer jitter does not change the average rate), until `total` are sent.
 */
export function pace(rate: number, total: number, tickMs: number, sendBatch: (n: number, sentSoFar: number) => void, done: () => void): void {
  const start = nowMs();
  let sent = 0;
  const tick = (): void => {
    const due = Math.min(total, Math.floor(((nowMs() - start) * rate) / 1000) + 1);
    if (due > sent) {
      sendBatch(due - sent, sent);
      sent = due;
    }
    if (sent >= total) {
      clearInterval(timer);
      done();
    }
  };
  const timer = setInterval(tick, tickMs);
  tick();
}
