/** Test helpers: a real broker on an ephemeral loopback port with its own temporary data directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../src/broker.js';
import { createLogger } from '../../src/log/logger.js';

export interface TestBroker extends RunningBroker {
  readonly url: string;
  /** the management API's base URL, e.g. http://127.0.0.1:34567 */
  readonly httpUrl: string;
  readonly dataDir: string;
  /** close the broker and delete its data directory */
  stop(): Promise<void>;
}

export function tempDataDir(prefix = 'postbox-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const dataDir = options.dataDir ?? tempDataDir();
  const logLevel = (process.env.POSTBOX_TEST_LOG as BrokerOptions['logLevel']) ?? 'silent';
  const broker = await startBroker({
    hosts: ['127.0.0.1'],
    amqpPort: 0,
    httpPort: 0,
    kafkaPort: 0,
    prometheusPort: -1,
    logger: createLogger(logLevel ?? 'silent'),
    ...options,
    dataDir,
  });
  return {
    ...broker,
    url: `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`,
    httpUrl: `http://127.0.0.1:${broker.httpPort}`,
    dataDir,
    async stop() {
      await broker.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** resolve when `predicate` is true, polling; rejects after `timeoutMs` (a guard, not a timing assertion) */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
