/**
 * TCP fuzzing of the AMQP listener. Seeded and bounded: each fuzz connection completes (or, sometimes, only
 * starts) the handshake, then sends valid frames with random mutations (bit flips, truncations, random
 * length fields, frame types, channel numbers and method ids, inserted bytes, garbage), in random chunks.
 *
 * Every connection then ends in one of three ways, all deterministic:
 *   - we send connection.close and then FILLER: zero bytes longer than any frame, so whatever frame the
 *     broker was assembling completes and the next one has frame type 0, a frame error. Either way the
 *     broker must close the socket;
 *   - we send FILLER alone;
 *   - we destroy the socket ourselves (a client that vanishes).
 * A socket the broker has not closed within the guard counts as hanging and fails the test.
 *
 * Afterwards the broker must still serve a fresh connection and a bystander that was open all along, and
 * no connection may have been closed with 541 INTERNAL_ERROR (an exception the broker did not expect).
 *
 * Reproduce a run with POSTBOX_FUZZ_SEED=<seed>; POSTBOX_FUZZ_ITERATIONS changes the number of connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeTable, type FieldTable } from '../../src/core/field-table.js';
import { PROTOCOL_HEADER } from '../../src/protocol/amqp/frame-parser.js';
import {
  FRAME_BODY,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  M_BASIC_ACK,
  M_BASIC_CANCEL,
  M_BASIC_CONSUME,
  M_BASIC_GET,
  M_BASIC_NACK,
  M_BASIC_PUBLISH,
  M_BASIC_QOS,
  M_BASIC_RECOVER,
  M_BASIC_REJECT,
  M_CHANNEL_CLOSE,
  M_CHANNEL_CLOSE_OK,
  M_CHANNEL_FLOW,
  M_CHANNEL_OPEN,
  M_CONFIRM_SELECT,
  M_CONNECTION_CLOSE,
  M_CONNECTION_OPEN,
  M_CONNECTION_START_OK,
  M_CONNECTION_TUNE_OK,
  M_CONNECTION_UPDATE_SECRET,
  M_EXCHANGE_BIND,
  M_EXCHANGE_DECLARE,
  M_EXCHANGE_DELETE,
  M_QUEUE_BIND,
  M_QUEUE_DECLARE,
  M_QUEUE_DELETE,
  M_QUEUE_PURGE,
  M_QUEUE_UNBIND,
  M_TX_COMMIT,
  M_TX_ROLLBACK,
  M_TX_SELECT,
  decodeMethod,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
  type AmqpMethod,
  type BasicProperties,
} from '../../src/protocol/amqp/generated/spec.js';
import { startTestBroker } from '../helpers/broker.js';
import { CLIENT_PROPERTIES, AmqpClient, plainResponse, rawFrame } from '../../src/client/amqp/index.js';
import { seededRandom as prng } from '../../src/util/seeded-random.js';

/** Fuzz connections per run (each is a whole TCP connection). */
const ITERATIONS = Number(process.env.POSTBOX_FUZZ_ITERATIONS ?? 300);
/** Connections fuzzing at once: enough to overlap, few enough for a 2-core machine. */
const CONCURRENCY = 8;
/** No new fuzz connection starts after this much time, ms: bounds the run on a slow machine. */
const TIME_BUDGET_MS = 90_000;
/** A broker that has not closed a fuzz connection within this long is hanging, ms (a guard). */
const CLOSE_GUARD_MS = 10_000;
/** Largest frame the broker accepts by default (its frame-max), bytes. */
const BROKER_FRAME_MAX = 131_072;
/** Zero bytes that complete any frame in progress and then make a frame error: frame-max plus a header. */
const FILLER = Buffer.alloc(BROKER_FRAME_MAX + 16);

const SEED = Number(process.env.POSTBOX_FUZZ_SEED ?? 0x5eed_f00d) >>> 0;

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  float(): number {
    return this.next();
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---------------------------------------------------------------- valid frames to start from

const QUEUES = ['fz-a', 'fz-b', 'fz-c', '', 'amq.fz'];
const EXCHANGES = ['', 'amq.direct', 'amq.topic', 'amq.fanout', 'fz-x', 'fz-y', 'missing-x'];
const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers', 'x-nonsense'];

function randomTable(r: Rng): FieldTable {
  const t: FieldTable = {};
  const n = r.int(4);
  for (let i = 0; i < n; i++) {
    const key = r.pick(['x-message-ttl', 'x-max-length', 'x-dead-letter-exchange', 'x-match', 'x-queue-type', 'k']);
    t[key] = r.pick<FieldTable[string]>([r.int(100_000), 'all', 'any', 'classic', true, -1, { nested: r.int(10) }, ['a', 1]]);
  }
  return t;
}

function randomProperties(r: Rng): BasicProperties {
  const p: BasicProperties = {};
  if (r.chance(0.5)) p.contentType = 'text/plain';
  if (r.chance(0.3)) p.headers = randomTable(r);
  if (r.chance(0.5)) p.deliveryMode = r.pick([1, 2, 0, 9]);
  if (r.chance(0.2)) p.priority = r.int(256);
  if (r.chance(0.2)) p.expiration = r.pick(['0', '1000', '-5', 'soon']);
  if (r.chance(0.2)) p.replyTo = r.pick(['amq.rabbitmq.reply-to', 'someone']);
  if (r.chance(0.2)) p.userId = r.pick(['guest', 'mallory']);
  if (r.chance(0.2)) p.messageId = `id-${r.int(1000)}`;
  if (r.chance(0.1)) p.timestamp = r.int(2_000_000_000);
  return p;
}

function randomMethod(r: Rng): AmqpMethod {
  const queue = r.pick(QUEUES);
  const exchange = r.pick(EXCHANGES);
  const key = r.pick(['', 'fz-a', 'k.#', '*.x', 'key']);
  const tag = r.pick(['', 't1', 't2']);
  const deliveryTag = r.pick([0, 1, 2, 3, r.int(1_000_000)]);
  const methods: Array<() => AmqpMethod> = [
    () => ({
      id: M_QUEUE_DECLARE,
      args: {
        ticket: 0,
        queue,
        passive: r.chance(0.2),
        durable: r.chance(0.3),
        exclusive: r.chance(0.3),
        autoDelete: r.chance(0.3),
        nowait: r.chance(0.2),
        arguments: randomTable(r),
      },
    }),
    () => ({ id: M_QUEUE_BIND, args: { ticket: 0, queue, exchange, routingKey: key, nowait: r.chance(0.2), arguments: randomTable(r) } }),
    () => ({ id: M_QUEUE_UNBIND, args: { ticket: 0, queue, exchange, routingKey: key, arguments: {} } }),
    () => ({ id: M_QUEUE_PURGE, args: { ticket: 0, queue, nowait: r.chance(0.2) } }),
    () => ({ id: M_QUEUE_DELETE, args: { ticket: 0, queue, ifUnused: r.chance(0.3), ifEmpty: r.chance(0.3), nowait: r.chance(0.2) } }),
    () => ({
      id: M_EXCHANGE_DECLARE,
      args: {
        ticket: 0,
        exchange,
        type: r.pick(EXCHANGE_TYPES),
        passive: r.chance(0.2),
        durable: r.chance(0.3),
        autoDelete: r.chance(0.3),
        internal: r.chance(0.2),
        nowait: r.chance(0.2),
        arguments: randomTable(r),
      },
    }),
    () => ({ id: M_EXCHANGE_DELETE, args: { ticket: 0, exchange, ifUnused: r.chance(0.3), nowait: r.chance(0.2) } }),
    () => ({
      id: M_EXCHANGE_BIND,
      args: { ticket: 0, destination: r.pick(EXCHANGES), source: exchange, routingKey: key, nowait: r.chance(0.2), arguments: randomTable(r) },
    }),
    () => ({ id: M_BASIC_QOS, args: { prefetchSize: r.chance(0.1) ? 1 : 0, prefetchCount: r.int(5), global: r.chance(0.5) } }),
    () => ({
      id: M_BASIC_CONSUME,
      args: { ticket: 0, queue, consumerTag: tag, noLocal: false, noAck: r.chance(0.5), exclusive: r.chance(0.2), nowait: r.chance(0.2), arguments: {} },
    }),
    () => ({ id: M_BASIC_CANCEL, args: { consumerTag: tag, nowait: r.chance(0.3) } }),
    () => ({ id: M_BASIC_GET, args: { ticket: 0, queue, noAck: r.chance(0.5) } }),
    () => ({ id: M_BASIC_ACK, args: { deliveryTag, multiple: r.chance(0.3) } }),
    () => ({ id: M_BASIC_NACK, args: { deliveryTag, multiple: r.chance(0.3), requeue: r.chance(0.5) } }),
    () => ({ id: M_BASIC_REJECT, args: { deliveryTag, requeue: r.chance(0.5) } }),
    () => ({ id: M_BASIC_RECOVER, args: { requeue: r.chance(0.8) } }),
    () => ({ id: M_CHANNEL_FLOW, args: { active: r.chance(0.5) } }),
    () => ({ id: M_CHANNEL_CLOSE, args: { replyCode: 200, replyText: '', classId: 0, methodId: 0 } }),
    () => ({ id: M_CHANNEL_CLOSE_OK, args: {} }),
    () => ({ id: M_CHANNEL_OPEN, args: { outOfBand: '' } }),
    () => ({ id: M_CONFIRM_SELECT, args: { nowait: r.chance(0.3) } }),
    () => ({ id: M_TX_SELECT, args: {} }),
    () => ({ id: M_TX_COMMIT, args: {} }),
    () => ({ id: M_TX_ROLLBACK, args: {} }),
  ];
  return r.pick(methods)();
}

/** one valid unit of traffic: a method frame, a whole publish, a heartbeat, or a channel-0 method */
function validUnit(r: Rng): Buffer[] {
  const channel = r.chance(0.8) ? 1 : r.int(4);
  const roll = r.float();
  if (roll < 0.3) {
    const body = r.bytes(r.pick([0, 1, 10, 300, 5000]));
    const frames = [
      encodeMethodFrame(channel, {
        id: M_BASIC_PUBLISH,
        args: { ticket: 0, exchange: r.pick(EXCHANGES), routingKey: r.pick(QUEUES), mandatory: r.chance(0.3), immediate: r.chance(0.05) },
      }),
      encodeBasicHeaderFrame(channel, body.length, randomProperties(r)),
    ];
    for (let o = 0; o < body.length; o += 4000) frames.push(rawFrame(FRAME_BODY, channel, body.subarray(o, Math.min(body.length, o + 4000))));
    return frames;
  }
  if (roll < 0.35) return [rawFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0))];
  if (roll < 0.4) {
    return [
      encodeMethodFrame(
        0,
        r.pick<AmqpMethod>([
          { id: M_CONNECTION_UPDATE_SECRET, args: { newSecret: Buffer.from('s'), reason: 'r' } },
          { id: M_CONNECTION_TUNE_OK, args: { channelMax: 0, frameMax: 0, heartbeat: 0 } },
          { id: M_CONNECTION_OPEN, args: { virtualHost: '/', capabilities: '', insist: false } },
        ]),
      ),
    ];
  }
  return [encodeMethodFrame(channel, randomMethod(r))];
}

// ---------------------------------------------------------------- mutations

type Mutation = (r: Rng, frame: Buffer) => Buffer;

const MUTATIONS: ReadonlyArray<readonly [string, Mutation]> = [
  ['none', (_r, f) => f],
  [
    'bit flips',
    (r, f) => {
      const out = Buffer.from(f);
      const flips = 1 + r.int(4);
      for (let i = 0; i < flips; i++) {
        const at = r.int(out.length);
        out[at] = out[at]! ^ (1 << r.int(8));
      }
      return out;
    },
  ],
  ['truncation', (r, f) => f.subarray(0, r.int(f.length))],
  [
    'random length field',
    (r, f) => {
      if (f.length < 7) return f;
      const out = Buffer.from(f);
      const size = out.readUInt32BE(3);
      out.writeUInt32BE(r.pick([0, 1, size - 1, size + 1, r.int(BROKER_FRAME_MAX), r.int(0x1_0000_0000)]) >>> 0, 3);
      return out;
    },
  ],
  [
    'random frame type',
    (r, f) => {
      const out = Buffer.from(f);
      out[0] = r.chance(0.5) ? r.pick([FRAME_METHOD, 2, FRAME_BODY, FRAME_HEARTBEAT]) : r.int(256);
      return out;
    },
  ],
  [
    'random channel',
    (r, f) => {
      if (f.length < 3) return f;
      const out = Buffer.from(f);
      out.writeUInt16BE(r.pick([0, 1, 2, 3, 2047, 2048, 65535, r.int(65536)]), 1);
      return out;
    },
  ],
  [
    'random method id',
    (r, f) => {
      if (f.length < 11) return f;
      const out = Buffer.from(f);
      out.writeUInt16BE(r.pick([10, 20, 30, 40, 50, 60, 85, 90, r.int(65536)]), 7);
      out.writeUInt16BE(r.chance(0.7) ? r.pick([10, 11, 20, 21, 30, 31, 40, 41, 50, 60, 70, 80, 90, 100, 110, 120]) : r.int(65536), 9);
      return out;
    },
  ],
  [
    'inserted bytes',
    (r, f) => {
      const at = r.int(f.length + 1);
      return Buffer.concat([f.subarray(0, at), r.bytes(1 + r.int(16)), f.subarray(at)]);
    },
  ],
  ['garbage', (r) => r.bytes(r.int(200))],
  [
    'field table garbage',
    (r, f) => {
      // a valid-looking table whose inside is random: lengths, type tags, nesting
      if (f.length < 12) return f;
      const table = encodeTable({ k: r.bytes(8).toString('latin1') });
      const junk = Buffer.concat([table.subarray(0, 4), r.bytes(table.length - 4)]);
      return Buffer.concat([f.subarray(0, f.length - 1 - Math.min(f.length - 12, junk.length)), junk, f.subarray(f.length - 1)]);
    },
  ],
];

// ---------------------------------------------------------------- one fuzz connection

type Ending = 'close then filler' | 'filler' | 'destroy';

interface Outcome {
  readonly mutations: string[];
  readonly ending: Ending;
  /** reply code of the connection.close the broker sent, if any */
  readonly replyCode: number | null;
  readonly closedBy: 'broker' | 'us';
}

async function writeInChunks(r: Rng, client: AmqpClient, bytes: Buffer): Promise<void> {
  if (r.chance(0.5)) {
    client.write(bytes);
    return;
  }
  let o = 0;
  while (o < bytes.length) {
    const n = 1 + r.int(r.chance(0.3) ? 8 : 2000);
    client.write(bytes.subarray(o, o + n));
    o += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** the reply code of the connection.close among the frames the broker sent, if any */
async function brokerCloseCode(client: AmqpClient): Promise<number | null> {
  for (;;) {
    const frame = await client.nextFrame(CLOSE_GUARD_MS);
    if (frame === null) return null;
    if (frame.type !== FRAME_METHOD || frame.channel !== 0) continue;
    try {
      const m = decodeMethod(frame.payload, 0, frame.payload.length);
      if (m.id === M_CONNECTION_CLOSE) return m.args.replyCode;
    } catch {
      // the broker's own frames always decode; a failure here would show as a missing code
    }
  }
}

async function fuzzOne(port: number, seed: number): Promise<Outcome> {
  const r = new Rng(seed);
  const client = await AmqpClient.connect(port);
  const mutations: string[] = [];
  const units: Buffer[] = [];
  const fuzzHandshake = r.chance(0.1);
  if (fuzzHandshake) {
    // fuzz the handshake itself: start-ok / tune-ok / open, mutated, right after the protocol header
    units.push(PROTOCOL_HEADER);
    for (const m of [
      {
        id: M_CONNECTION_START_OK,
        args: {
          clientProperties: CLIENT_PROPERTIES,
          mechanism: r.pick(['PLAIN', 'AMQPLAIN', 'EXTERNAL']),
          response: plainResponse('guest', 'guest'),
          locale: 'en_US',
        },
      },
      {
        id: M_CONNECTION_TUNE_OK,
        args: { channelMax: r.pick([0, 10, 2047, 65535]), frameMax: r.pick([0, 4096, 131072, 4095, 1 << 20]), heartbeat: r.pick([0, 0, 60]) },
      },
      { id: M_CONNECTION_OPEN, args: { virtualHost: r.pick(['/', '/', 'nope']), capabilities: '', insist: false } },
    ] satisfies AmqpMethod[]) {
      const [name, mutate] = r.chance(0.4) ? r.pick(MUTATIONS) : MUTATIONS[0]!;
      mutations.push(name);
      units.push(mutate(r, encodeMethodFrame(0, m)));
    }
  } else {
    await client.handshake();
    await client.openChannel(1);
  }
  const count = 1 + r.int(12);
  for (let i = 0; i < count; i++) {
    for (const frame of validUnit(r)) {
      const [name, mutate] = r.chance(0.35) ? r.pick(MUTATIONS) : MUTATIONS[0]!;
      if (name !== 'none') mutations.push(name);
      units.push(mutate(r, frame));
    }
  }
  await writeInChunks(r, client, Buffer.concat(units));
  const ending: Ending = r.pick<Ending>(['close then filler', 'close then filler', 'filler', 'destroy']);
  if (ending === 'destroy') {
    client.destroy();
    await client.waitForEnd(CLOSE_GUARD_MS);
    return { mutations, ending, replyCode: null, closedBy: 'us' };
  }
  if (ending === 'close then filler') {
    client.send(0, { id: M_CONNECTION_CLOSE, args: { replyCode: 200, replyText: 'fuzz done', classId: 0, methodId: 0 } });
  }
  client.write(FILLER);
  const replyCode = await brokerCloseCode(client);
  try {
    await client.waitForEnd(CLOSE_GUARD_MS);
  } catch (err) {
    client.destroy();
    throw new Error(`fuzz connection (seed ${seed}) was not closed by the broker: ${(err as Error).message}; mutations: ${mutations.join(', ')}`);
  }
  return { mutations, ending, replyCode, closedBy: 'broker' };
}

// ---------------------------------------------------------------- the run

test('the broker survives fuzzed AMQP traffic, closes every fuzzed connection and keeps serving others', async (t) => {
  const broker = await startTestBroker();
  try {
    const bystander = await AmqpClient.open(broker.amqpPort);
    await bystander.openChannel(1);
    const outcomes: Outcome[] = [];
    const failures: string[] = [];
    const master = new Rng(SEED);
    const seeds = Array.from({ length: ITERATIONS }, () => master.int(0x1_0000_0000));
    const started = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < seeds.length && Date.now() - started < TIME_BUDGET_MS) {
        const seed = seeds[next++]!;
        try {
          outcomes.push(await fuzzOne(broker.amqpPort, seed));
        } catch (err) {
          failures.push(`seed ${seed}: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const codes = new Map<string, number>();
    for (const o of outcomes) {
      const k = o.closedBy === 'us' ? 'destroyed by us' : String(o.replyCode ?? 'socket ended without close');
      codes.set(k, (codes.get(k) ?? 0) + 1);
    }
    t.diagnostic(`seed ${SEED}: ${outcomes.length + failures.length} connections; outcomes ${JSON.stringify(Object.fromEntries(codes))}`);

    assert.deepEqual(failures, [], `fuzz connections that failed (run seed ${SEED})`);
    assert.ok(outcomes.length > 0);
    const internal = outcomes.filter((o) => o.replyCode === 541);
    assert.equal(
      internal.length,
      0,
      `connections closed with 541 INTERNAL_ERROR (run seed ${SEED}); mutations: ${internal.map((o) => o.mutations.join('+')).join(' | ')}`,
    );

    // the broker still serves a connection that was open all along, and a fresh one
    const before = await bystander.publishAndConsume(1, 'fuzz-bystander', Buffer.from('still here'));
    assert.equal(before.toString(), 'still here');
    const fresh = await AmqpClient.open(broker.amqpPort);
    await fresh.openChannel(1);
    const body = await fresh.publishAndConsume(1, 'after-fuzz', Buffer.from('round trip after fuzzing'));
    assert.equal(body.toString(), 'round trip after fuzzing');
    await fresh.close();
    await bystander.close();
  } finally {
    await broker.stop();
  }
});
