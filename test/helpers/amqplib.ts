/**
 * Small helpers for the amqplib compat tests: waiting for channel and connection errors, collecting
 * deliveries, and syncing with the broker through a round-trip on the same channel (frames on one channel
 * are handled in order, so an RPC reply means every earlier publish has been routed).
 */
import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage, type GetMessage } from 'amqplib';
import type { BrokerOptions } from '../../src/broker.js';
import { startTestBroker, type TestBroker } from './broker.js';

/** A test broker and one amqplib connection to it (the usual before() of a compat test file). */
export async function openAmqplib(options: BrokerOptions = {}): Promise<{ broker: TestBroker; conn: ChannelModel }> {
  const broker = await startTestBroker(options);
  return { broker, conn: await amqp.connect(broker.url) };
}

/** openAmqplib() plus a channel on the connection. */
export async function openAmqplibChannel(options: BrokerOptions = {}): Promise<{ broker: TestBroker; conn: ChannelModel; ch: Channel }> {
  const opened = await openAmqplib(options);
  return { ...opened, ch: await opened.conn.createChannel() };
}

/** The usual after(): closes the connection, then stops the broker. */
export async function closeAmqplib(conn: ChannelModel, broker: TestBroker): Promise<void> {
  await conn.close();
  await broker.stop();
}

/** An Error as amqplib raises it for a server-side close: it carries the reply code. */
export interface AmqpError extends Error {
  code?: number;
  classId?: number;
  methodId?: number;
}

/** resolve with the error the channel emits when the server closes it (never rejects) */
export function channelError(ch: Channel): Promise<AmqpError> {
  return new Promise((resolve) => ch.once('error', (err: AmqpError) => resolve(err)));
}

/** resolve with the error the connection emits when the server closes it */
export function connectionError(conn: ChannelModel): Promise<AmqpError> {
  return new Promise((resolve) => conn.once('error', (err: AmqpError) => resolve(err)));
}

/**
 * Run `operation` on a channel and assert the server closes the channel with `code` (a soft error): the
 * operation rejects, the channel emits an error with that code and then closes. Returns the error text.
 */
export async function expectChannelClose(ch: Channel, code: number, operation: () => Promise<unknown> | unknown): Promise<string> {
  const emitted = channelError(ch);
  const closed = new Promise<void>((resolve) => ch.once('close', () => resolve()));
  let rejection: AmqpError | undefined;
  try {
    await operation();
  } catch (err) {
    rejection = err as AmqpError;
  }
  const err = await emitted;
  await closed;
  assert.equal(err.code, code, `expected channel close ${code}, got ${err.code}: ${err.message}`);
  if (rejection !== undefined) assert.match(rejection.message, new RegExp(`\\b${code}\\b`));
  return err.message;
}

/** Run `operation` and assert the server closes the whole connection with `code` (a hard error). */
export async function expectConnectionClose(conn: ChannelModel, code: number, operation: () => Promise<unknown> | unknown): Promise<string> {
  const emitted = connectionError(conn);
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  try {
    await operation();
  } catch {
    // the pending RPC is rejected with "channel ended"; the connection error carries the code
  }
  const err = await emitted;
  await closed;
  assert.equal(err.code, code, `expected connection close ${code}, got ${err.code}: ${err.message}`);
  return err.message;
}

/** Consume `queue` until `count` messages arrived; resolves with them (the consumer stays subscribed). */
export function collect(
  ch: Channel,
  queue: string,
  count: number,
  options: { noAck?: boolean; consumerTag?: string } = {},
): { messages: ConsumeMessage[]; done: Promise<ConsumeMessage[]>; consumerTag: Promise<string> } {
  const messages: ConsumeMessage[] = [];
  let finish!: (m: ConsumeMessage[]) => void;
  const done = new Promise<ConsumeMessage[]>((resolve) => (finish = resolve));
  if (count === 0) finish(messages);
  const consumerTag = ch
    .consume(
      queue,
      (m) => {
        if (m === null) return;
        messages.push(m);
        if (messages.length === count) finish(messages);
      },
      options,
    )
    .then((ok) => ok.consumerTag);
  return { messages, done, consumerTag };
}

/** take every ready message from `queue` with basic.get (no-ack) and return their bodies as text */
export async function drainBodies(ch: Channel, queue: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const m: GetMessage | false = await ch.get(queue, { noAck: true });
    if (m === false) return bodies;
    bodies.push(m.content.toString());
  }
}

/** ready-message count of a queue, read after a round-trip on `ch` (so earlier publishes are routed) */
export async function readyCount(ch: Channel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

export function text(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}
