/**
 * The lean workers' connection: the project's AMQP client (src/client/amqp) opened from the run's URL with
 * one channel, no heartbeats, and every close from the broker fatal to the worker. The workers then read
 * with a frame handler and write pre-encoded batches, so that the client is not the bottleneck.
 */
import { AmqpClient, CLIENT_PROPERTIES } from '../../src/client/amqp/index.js';

/** The one channel a lean worker uses. */
export const LEAN_CHANNEL = 1;
/** frame-max we ask for; the broker may offer less (then we take its value) */
const LEAN_FRAME_MAX = 131072;
/** how long a setup step (handshake, declare, consume) may take, ms */
const SETUP_STEP_TIMEOUT_MS = 15_000;

/** Opens `url` and channel LEAN_CHANNEL; a failure after setup goes to `onFailure` (the worker's fail). */
export async function openLean(url: string, onFailure: (error: Error) => void): Promise<AmqpClient> {
  const c = await AmqpClient.openUrl(url, {
    frameMaxLimit: LEAN_FRAME_MAX,
    guardMs: SETUP_STEP_TIMEOUT_MS,
    clientProperties: { ...CLIENT_PROPERTIES, product: 'postbox-bench-lean' },
    onFailure,
  });
  await c.openChannel(LEAN_CHANNEL);
  return c;
}

/** 'product version' as the broker named itself in connection.start. */
export function serverProduct(c: AmqpClient): string {
  return `${String(c.serverProperties['product'] ?? '?')} ${String(c.serverProperties['version'] ?? '?')}`;
}
