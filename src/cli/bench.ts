/**
 * `postbox bench`: a quick AMQP throughput check against a running broker. It declares a temporary queue
 * (exclusive, auto-delete), publishes --messages messages of --size bytes with publisher confirms, keeping
 * at most MAX_UNCONFIRMED in flight, then consumes them all with explicit acks, and prints a table of the
 * two phases. It is a smoke test of a deployment, not a benchmark suite: bench/ compares against RabbitMQ.
 *
 * The AMQP port: --amqp-port, else POSTBOX_AMQP_PORT, else the broker's AMQP listener as the management
 * API's overview lists it; when the overview cannot be read, the bench stops with the reason.
 */
import { once } from 'node:events';
import { AmqpClient, CLIENT_PROPERTIES, contentBodySize, deliverTagOf, encodePublish } from '../client/amqp/index.js';
import { DEFAULT_AMQP_PORT } from '../config/config.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  M_BASIC_ACK,
  M_BASIC_DELIVER,
  M_BASIC_NACK,
  M_BASIC_QOS,
  M_BASIC_QOS_OK,
  M_CONFIRM_SELECT,
  M_CONFIRM_SELECT_OK,
  decodeMethod,
} from '../protocol/amqp/generated/spec.js';
import {
  CommandFailure,
  DEFAULT_CLI_VHOST,
  EXIT_OK,
  integerFlag,
  JSON_FLAG,
  jsonText,
  stringFlag,
  VHOST_FLAG,
  type CliCommand,
  type CommandRun,
} from './command.js';
import { ClientError, clientOptions, renderTable, UsageError } from './http-client.js';
import { ProgressBar } from './progress.js';

export const DEFAULT_BENCH_MESSAGES = 10_000;
export const DEFAULT_BENCH_MESSAGE_BYTES = 1024;
/** Upper bounds of the flags: enough for a long run, small enough that a typo does not exhaust memory. */
export const MAX_BENCH_MESSAGES = 100_000_000;
export const MAX_BENCH_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Published but not yet confirmed messages at most: keeps the broker's and the socket's buffers bounded. */
export const MAX_UNCONFIRMED = 5_000;
/** Pre-encoded publishes written to the socket in one write, by bytes: about one output chunk. */
const PUBLISH_BATCH_BYTES = 128 * 1024;
/** The consumer's prefetch (basic.qos), and how often it acks (one multiple-ack per ACK_EVERY deliveries). */
export const BENCH_PREFETCH = 1_000;
const ACK_EVERY = 100;
const MS_PER_SECOND = 1000;
const BYTES_PER_MIB = 1024 * 1024;
/** basic properties delivery-mode of a transient message (the queue is temporary anyway). */
const TRANSIENT_DELIVERY_MODE = 1;
/** The one channel the bench uses. */
const BENCH_CHANNEL = 1;
/** Largest frame the bench asks for, bytes; the broker's offer wins when smaller. */
const BENCH_FRAME_MAX = 128 * 1024;
/** How long connecting, logging in and each setup step may take before the bench gives up, ms. */
const AMQP_CONNECT_TIMEOUT_MS = 10_000;

interface PhaseResult {
  messages: number;
  elapsed_ms: number;
  messages_per_second: number;
  mib_per_second: number;
}

export interface BenchResult {
  host: string;
  amqp_port: number;
  messages: number;
  size_bytes: number;
  publish: PhaseResult;
  consume: PhaseResult;
  elapsed_ms: number;
}

function phase(messages: number, sizeBytes: number, elapsedMs: number): PhaseResult {
  const seconds = elapsedMs / MS_PER_SECOND;
  return {
    messages,
    elapsed_ms: Math.round(elapsedMs * 1000) / 1000,
    messages_per_second: seconds > 0 ? Math.round(messages / seconds) : 0,
    mib_per_second: seconds > 0 ? Math.round(((messages * sizeBytes) / BYTES_PER_MIB / seconds) * 10) / 10 : 0,
  };
}

/**
 * The AMQP port: flag, env, else the overview's amqp listener. A failed overview (unreachable, refused,
 * not HTTP) stops the bench with its reason: guessing a port could benchmark whatever else listens there.
 */
async function amqpPort(run: CommandRun): Promise<number> {
  const explicit = typeof run.flags['amqp-port'] === 'string' ? run.flags['amqp-port'] : run.env.POSTBOX_AMQP_PORT;
  if (explicit !== undefined && explicit !== '') {
    const port = Number(explicit);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--amqp-port must be a port 1..65535, got '${explicit}'`);
    return port;
  }
  let body: unknown;
  try {
    ({ body } = await run.client().request('GET', ['api', 'overview']));
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    throw new ClientError(`cannot find the broker's AMQP port (give --amqp-port to skip this): ${err.message}`, err.status);
  }
  const listeners = (body as { listeners?: { protocol?: string; port?: number }[] } | undefined)?.listeners ?? [];
  const amqp = listeners.find((l) => l.protocol === 'amqp' && typeof l.port === 'number');
  if (amqp === undefined) throw new CommandFailure(`the broker at ${run.client().baseUrl} lists no AMQP listener (is AMQP off?); give --amqp-port`);
  return amqp.port!;
}

/** Wakes the bench loop when a confirm, a delivery or a failure arrives; no promise per message. */
class Signal {
  private waiter: (() => void) | null = null;

  wait(): Promise<void> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

/** Counts confirms, whether they come one by one or as `multiple` up to a tag. */
class ConfirmTracker {
  private readonly confirmed: Uint8Array;
  /** every tag below this is confirmed */
  private floor = 1;
  count = 0;
  nacked = 0;

  constructor(total: number) {
    this.confirmed = new Uint8Array(total + 1);
  }

  confirm(tag: number, multiple: boolean, ok: boolean): void {
    const from = multiple ? this.floor : tag;
    for (let t = from; t <= tag && t < this.confirmed.length; t++) {
      if (this.confirmed[t] === 0) {
        this.confirmed[t] = 1;
        this.count++;
        if (!ok) this.nacked++;
      }
    }
    while (this.floor < this.confirmed.length && this.confirmed[this.floor] === 1) this.floor++;
  }
}

/**
 * Counts deliveries as their last body frame arrives and acks every ACK_EVERY-th (multiple), on the socket's
 * data event: no promise or closure per message.
 */
class DeliveryCounter {
  received = 0;
  private deliveryTag = 0;
  private bodyRemaining = 0;

  constructor(
    private readonly client: AmqpClient,
    private readonly total: number,
    private readonly onProgress: (received: number) => void,
  ) {}

  /** a FrameHandler's share: returns false for what it does not take */
  onFrame(type: number, payload: Buffer): boolean {
    if (type === FRAME_METHOD) {
      if (payload.readUInt32BE(0) !== M_BASIC_DELIVER) return false;
      this.deliveryTag = deliverTagOf(payload);
    } else if (type === FRAME_HEADER) {
      this.bodyRemaining = contentBodySize(payload);
      if (this.bodyRemaining === 0) this.delivered();
    } else if (type === FRAME_BODY) {
      this.bodyRemaining -= payload.length;
      if (this.bodyRemaining <= 0) this.delivered();
    } else {
      return false;
    }
    return true;
  }

  private delivered(): void {
    this.received++;
    if (this.received % ACK_EVERY === 0 || this.received === this.total) this.client.ack(BENCH_CHANNEL, this.deliveryTag, true);
    this.onProgress(this.received);
  }
}

export async function runBench(run: CommandRun, messages: number, sizeBytes: number): Promise<BenchResult> {
  const { host, user, password } = clientOptions(run.flags, run.env);
  const port = await amqpPort(run);
  const vhost = stringFlag(run.flags, 'vhost', DEFAULT_CLI_VHOST);
  const signal = new Signal();
  const confirms = new ConfirmTracker(messages);
  let failure: Error | null = null;
  const publishBar = new ProgressBar(run.stderr, messages, 'published and confirmed');
  const consumeBar = new ProgressBar(run.stderr, messages, 'consumed');
  const client = await AmqpClient.open(port, {
    host,
    username: user,
    password,
    vhost,
    frameMaxLimit: BENCH_FRAME_MAX,
    clientProperties: { ...CLIENT_PROPERTIES, product: 'postbox bench' },
    guardMs: AMQP_CONNECT_TIMEOUT_MS,
    onFailure(error) {
      failure = error;
      signal.wake();
    },
  }).catch((err: Error) => {
    throw new CommandFailure(`cannot run the bench over AMQP at ${host}:${port}: ${err.message}`);
  });
  const deliveries = new DeliveryCounter(client, messages, (received) => {
    consumeBar.update(received);
    if (received === messages) signal.wake();
  });
  client.handler = (type, _channel, payload) => {
    if (type === FRAME_METHOD) {
      const id = payload.readUInt32BE(0);
      if (id === M_BASIC_ACK || id === M_BASIC_NACK) {
        const m = decodeMethod(payload, 0, payload.length);
        if (m.id === M_BASIC_ACK || m.id === M_BASIC_NACK) confirms.confirm(m.args.deliveryTag, m.args.multiple, m.id === M_BASIC_ACK);
        publishBar.update(confirms.count);
        signal.wake();
        return true;
      }
    }
    return deliveries.onFrame(type, payload);
  };
  const check = (): void => {
    if (failure !== null) throw new CommandFailure(`the bench failed: ${(failure as Error).message}`);
  };
  try {
    await client.openChannel(BENCH_CHANNEL);
    const queue = (await client.declareQueue(BENCH_CHANNEL, '', { exclusive: true, autoDelete: true })).queue;
    await client.call(BENCH_CHANNEL, { id: M_CONFIRM_SELECT, args: { nowait: false } }, M_CONFIRM_SELECT_OK);
    const frame = encodePublish(BENCH_CHANNEL, '', queue, Buffer.alloc(sizeBytes, 'x'), { deliveryMode: TRANSIENT_DELIVERY_MODE }, client.frameMax).bytes;
    const perBatch = Math.max(1, Math.floor(PUBLISH_BATCH_BYTES / frame.length));
    const batch = Buffer.concat(new Array<Buffer>(perBatch).fill(frame));

    const publishStart = performance.now();
    let published = 0;
    while (published < messages) {
      check();
      if (published - confirms.count >= MAX_UNCONFIRMED) {
        await signal.wait();
        continue;
      }
      const n = Math.min(perBatch, messages - published, MAX_UNCONFIRMED - (published - confirms.count));
      const flowing = client.socket.write(n === perBatch ? batch : batch.subarray(0, n * frame.length));
      published += n;
      if (!flowing) await once(client.socket, 'drain');
    }
    while (confirms.count < messages) {
      check();
      await signal.wait();
    }
    const publishMs = performance.now() - publishStart;
    publishBar.finish();
    if (confirms.nacked > 0) throw new CommandFailure(`the broker refused ${confirms.nacked} of ${messages} messages (basic.nack)`);

    const consumeStart = performance.now();
    await client.call(BENCH_CHANNEL, { id: M_BASIC_QOS, args: { prefetchSize: 0, prefetchCount: BENCH_PREFETCH, global: false } }, M_BASIC_QOS_OK);
    await client.consume(BENCH_CHANNEL, queue);
    while (deliveries.received < messages) {
      check();
      await signal.wait();
    }
    const consumeMs = performance.now() - consumeStart;
    consumeBar.finish();
    return {
      host,
      amqp_port: port,
      messages,
      size_bytes: sizeBytes,
      publish: phase(messages, sizeBytes, publishMs),
      consume: phase(messages, sizeBytes, consumeMs),
      elapsed_ms: Math.round((publishMs + consumeMs) * 1000) / 1000,
    };
  } catch (err) {
    // a step the bench was waiting for rejects with the client's failure (a close, the end of the socket)
    if (err instanceof CommandFailure || !(err instanceof Error)) throw err;
    throw new CommandFailure(`the bench failed: ${err.message}`);
  } finally {
    publishBar.finish();
    consumeBar.finish();
    await client.close().catch(() => client.destroy());
  }
}

function seconds(ms: number): string {
  return `${(ms / MS_PER_SECOND).toFixed(3)} s`;
}

export function benchTable(r: BenchResult): string {
  const row = (name: string, p: PhaseResult): string[] => [
    name,
    String(p.messages),
    seconds(p.elapsed_ms),
    String(p.messages_per_second),
    p.mib_per_second.toFixed(1),
  ];
  return (
    `bench: ${r.messages} messages of ${r.size_bytes} bytes over AMQP at ${r.host}:${r.amqp_port}, publisher confirms on\n` +
    renderTable(
      ['phase', 'messages', 'elapsed', 'msg/s', 'MiB/s'],
      [row('publish', r.publish), row('consume', r.consume), ['total', String(r.messages), seconds(r.elapsed_ms), '', '']],
    )
  );
}

const bench: CliCommand = {
  name: 'bench',
  summary: 'a quick AMQP publish/consume throughput test against a running broker',
  usage: ['postbox bench [--messages <n>] [--size <bytes>] [--amqp-port <port>] [--vhost <vhost>] [--json]'],
  description: `Publishes --messages messages of --size bytes to a temporary queue with publisher confirms (at most
${MAX_UNCONFIRMED} unconfirmed), then consumes them with acks (prefetch ${BENCH_PREFETCH}), and prints messages per
second and MiB per second of each phase. The AMQP port is --amqp-port, else POSTBOX_AMQP_PORT, else the AMQP
listener the management API reports (when the API cannot be asked, the bench stops with the reason rather
than guess ${DEFAULT_AMQP_PORT}). --user and --password log in over AMQP too.`,
  flags: [
    { name: 'messages', type: 'string', value: '<n>', doc: `messages to publish and consume (default ${DEFAULT_BENCH_MESSAGES})` },
    { name: 'size', type: 'string', value: '<bytes>', doc: `body size of each message (default ${DEFAULT_BENCH_MESSAGE_BYTES})` },
    { name: 'amqp-port', type: 'string', value: '<port>', doc: "the broker's AMQP port (env POSTBOX_AMQP_PORT)" },
    VHOST_FLAG,
    JSON_FLAG,
  ],
  async run(run) {
    const messages = integerFlag(run.flags, 'messages', DEFAULT_BENCH_MESSAGES, 1, MAX_BENCH_MESSAGES);
    const size = integerFlag(run.flags, 'size', DEFAULT_BENCH_MESSAGE_BYTES, 0, MAX_BENCH_MESSAGE_BYTES);
    const result = await runBench(run, messages, size);
    run.stdout.write(run.json ? jsonText(result) : benchTable(result));
    return EXIT_OK;
  },
};

export const BENCH_COMMANDS: readonly CliCommand[] = [bench];
