/**
 * A canary: one amqplib connection publishing persistent messages with confirms to a queue of its own while a
 * test attacks the broker on other connections. The attack tests require that it keeps being served: every
 * publish confirmed (acked, never nacked), no connection or channel error. The worst latency it saw is
 * reported (tests state it in a comment or name; speed is not asserted).
 */
import assert from 'node:assert/strict';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';

export interface CanaryReport {
  /** confirmed publishes */
  readonly confirmed: number;
  /** the longest publish → confirm wait, ms */
  readonly worstLatencyMs: number;
}

export interface Canary {
  /** publish one more message and wait for its confirm (throws when it is nacked or the canary broke) */
  check(): Promise<void>;
  /** stop publishing, assert that nothing failed, close the connection, and report */
  stop(): Promise<CanaryReport>;
}

/** Pause between two canary publishes, ms: a steady trickle that shows a stall without loading the broker. */
const CANARY_INTERVAL_MS = 5;

export async function startCanary(url: string, queue = `canary-${process.pid}-${Math.random().toString(36).slice(2)}`): Promise<Canary> {
  const conn: ChannelModel = await amqp.connect(url);
  const ch: ConfirmChannel = await conn.createConfirmChannel();
  let failure: Error | null = null;
  const fail = (err: unknown): void => {
    failure ??= err instanceof Error ? err : new Error(String(err));
  };
  conn.on('error', fail);
  ch.on('error', fail);
  conn.on('close', () => {
    if (!stopping) fail(new Error('canary connection closed by the broker'));
  });
  await ch.assertQueue(queue, { durable: true });
  let confirmed = 0;
  let worst = 0;
  let stopping = false;
  const publishOne = async (): Promise<void> => {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      ch.sendToQueue(queue, Buffer.from(`canary ${confirmed}`), { persistent: true }, (err) => (err ? reject(new Error('canary publish nacked')) : resolve()));
    });
    const took = performance.now() - started;
    if (took > worst) worst = took;
    confirmed++;
  };
  const loop = (async () => {
    while (!stopping && failure === null) {
      try {
        await publishOne();
      } catch (err) {
        fail(err);
        return;
      }
      await new Promise((r) => setTimeout(r, CANARY_INTERVAL_MS));
    }
  })();
  return {
    async check() {
      if (failure !== null) throw failure;
      await publishOne();
    },
    async stop() {
      stopping = true;
      await loop;
      if (failure === null) {
        await ch.purgeQueue(queue).catch(fail);
        await ch.deleteQueue(queue).catch(fail);
      }
      await conn.close().catch(() => {});
      if (failure !== null) throw failure;
      assert.ok(confirmed > 0, 'the canary confirmed nothing');
      return { confirmed, worstLatencyMs: Math.round(worst) };
    },
  };
}

export interface TolerantCanarySettled {
  readonly acked: number;
  readonly nacked: number;
  /** publishes not settled yet */
  readonly open: number;
  readonly worstMs: number;
}

export interface TolerantCanary {
  settled(): TolerantCanarySettled;
  stop(): Promise<void>;
}

/** Pause between two tolerant-canary publishes, ms. */
const TOLERANT_CANARY_INTERVAL_MS = 20;

/**
 * A canary for attacks that legitimately fail storage (a full disk, unopenable files): it publishes like the
 * standard canary but counts nacks instead of failing on them, so a test can assert that every publish was
 * settled (none hangs) and then run the standard canary once storage is back.
 */
export async function startTolerantCanary(url: string, queue = `tolerant-canary-${process.pid}`): Promise<TolerantCanary> {
  const conn: ChannelModel = await amqp.connect(url);
  const ch: ConfirmChannel = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  let acked = 0;
  let nacked = 0;
  let open = 0;
  let worst = 0;
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const started = performance.now();
      open++;
      await new Promise<void>((resolve) => {
        ch.sendToQueue(queue, Buffer.from('canary'), { persistent: true }, (err) => {
          open--;
          if (err) nacked++;
          else acked++;
          worst = Math.max(worst, performance.now() - started);
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, TOLERANT_CANARY_INTERVAL_MS));
    }
  })();
  return {
    settled: () => ({ acked, nacked, open, worstMs: Math.round(worst) }),
    async stop() {
      stopping = true;
      await loop;
      await ch.deleteQueue(queue).catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}
