import { test, describe, before, after } from 'node:test';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel } from 'amqplib';
import { delay, type TestBroker } from '../helpers/broker.js';
import { closeAmqplib, collect, drainBodies, openAmqplib, text } from '../helpers/amqplib.js';

describe('amqplib: connections', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => ({ broker, conn } = await openAmqplib()));
  after(() => closeAmqplib(conn, broker));

  const base = () => `amqp://127.0.0.1:${broker.amqpPort}`;

  test('a wrong password is refused with 403 ACCESS_REFUSED', async () => {
    await assert.rejects(amqp.connect(`amqp://guest:wrong@127.0.0.1:${broker.amqpPort}`), (err: Error) => {
      assert.match(err.message, /403 \(ACCESS-REFUSED\)/);
      return true;
    });
  });

  test('an unknown user is refused with 403 ACCESS_REFUSED', async () => {
    await assert.rejects(amqp.connect(`amqp://nobody:guest@127.0.0.1:${broker.amqpPort}`), /403 \(ACCESS-REFUSED\)/);
  });

  test('the AMQPLAIN mechanism authenticates too', async () => {
    const c = await amqp.connect(`${base()}`, { credentials: amqp.credentials.amqplain('guest', 'guest') });
    const ch = await c.createChannel();
    await ch.checkExchange('amq.direct');
    await c.close();
    await assert.rejects(amqp.connect(`${base()}`, { credentials: amqp.credentials.amqplain('guest', 'nope') }), /403 \(ACCESS-REFUSED\)/);
  });

  test('opening an unknown vhost fails with 530 NOT_ALLOWED', async () => {
    // amqplib reports only "got <ConnectionClose>" here, so a recording proxy reads the reply code off the wire
    const proxy = await recordingProxy(broker.amqpPort);
    try {
      await assert.rejects(amqp.connect(`amqp://guest:guest@127.0.0.1:${proxy.port}/no-such-vhost`), /ConnectionClose/);
      const close = findConnectionClose(Buffer.concat(proxy.fromServer));
      assert.ok(close !== undefined, 'no connection.close from the server');
      assert.equal(close.replyCode, 530);
      assert.match(close.replyText, /NOT_ALLOWED - vhost no-such-vhost not found/);
    } finally {
      proxy.close();
    }
  });

  test('the server announces itself and its capabilities', async () => {
    const props = conn.connection.serverProperties as unknown as Record<string, unknown> & { capabilities: Record<string, unknown> };
    assert.equal(props.product, 'Postbox');
    for (const cap of ['publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify', 'direct_reply_to']) {
      assert.equal(props.capabilities[cap], true, cap);
    }
  });

  test('a 1-second heartbeat keeps an idle connection alive past several intervals', async () => {
    const c = await amqp.connect(`${broker.url}?heartbeat=1`);
    assert.equal((c.connection as unknown as { heartbeat: number }).heartbeat, 1);
    let failure: Error | undefined;
    let closed = false;
    c.on('error', (err: Error) => (failure = err));
    c.on('close', () => (closed = true));
    await delay(3500); // idle: only heartbeats flow both ways; either side would drop the peer after two silent intervals
    assert.equal(failure, undefined);
    assert.equal(closed, false);
    const ch = await c.createChannel();
    await ch.checkExchange('amq.direct');
    await c.close();
  });

  test('the client may turn heartbeats off', async () => {
    const c = await amqp.connect(`${broker.url}?heartbeat=0`);
    assert.equal((c.connection as unknown as { heartbeat: number }).heartbeat, 0);
    const ch = await c.createChannel();
    await ch.checkExchange('amq.direct');
    await c.close();
  });

  test('conn.close() closes cleanly: close event without error, and the broker forgets the connection', async () => {
    const c = await amqp.connect(broker.url);
    const ch = await c.createChannel();
    await ch.assertQueue('conn.close.exclusive', { exclusive: true });
    const closeArg = new Promise<unknown>((resolve) => c.once('close', resolve));
    let errored = false;
    c.on('error', () => (errored = true));
    await c.close();
    assert.equal(await closeArg, undefined);
    assert.equal(errored, false);
    const check = await conn.createChannel();
    check.on('error', () => {});
    await assert.rejects(check.checkQueue('conn.close.exclusive'), /404/);
  });

  test('a channel used after its connection closed fails on the client side', async () => {
    const c = await amqp.connect(broker.url);
    const ch = await c.createChannel();
    await c.close();
    assert.throws(() => ch.publish('amq.direct', 'k', text('x')), /closed/i);
  });

  test('many channels on one connection work independently', async () => {
    const c = await amqp.connect(broker.url);
    const channels = await Promise.all(Array.from({ length: 200 }, () => c.createChannel()));
    await Promise.all(
      channels.map(async (ch, i) => {
        const q = `conn.many.${i}`;
        await ch.assertQueue(q, { durable: false, autoDelete: false });
        ch.sendToQueue(q, text(`payload-${i}`));
      }),
    );
    const results = await Promise.all(channels.map((ch, i) => drainBodies(ch, `conn.many.${i}`)));
    results.forEach((bodies, i) => assert.deepEqual(bodies, [`payload-${i}`]));
    // closing some channels leaves the others usable
    await Promise.all(channels.slice(0, 100).map((ch) => ch.close()));
    await channels[150]!.checkQueue('conn.many.150');
    for (let i = 0; i < 200; i++) await channels[150]!.deleteQueue(`conn.many.${i}`);
    await c.close();
  });

  test('a channel closed by an error leaves the other channels of the connection open', async () => {
    const c = await amqp.connect(broker.url);
    const good = await c.createChannel();
    const bad = await c.createChannel();
    bad.on('error', () => {});
    await assert.rejects(bad.checkQueue('conn.no-such-queue'), /404/);
    await good.checkExchange('amq.direct');
    const again = await c.createChannel();
    await again.checkExchange('amq.fanout');
    await c.close();
  });

  test('closing a channel with unacked messages requeues them for a consumer elsewhere', async () => {
    const setup = await conn.createChannel();
    await setup.assertQueue('conn.unacked', { durable: false });
    for (let i = 0; i < 3; i++) setup.sendToQueue('conn.unacked', text(`m${i}`));
    const holder = await amqp.connect(broker.url);
    const hch = await holder.createChannel();
    const held = collect(hch, 'conn.unacked', 3);
    await held.done;
    const other = await conn.createChannel();
    const later = collect(other, 'conn.unacked', 3);
    await later.consumerTag;
    assert.equal(later.messages.length, 0);
    await hch.close();
    const again = await later.done;
    assert.deepEqual(
      again.map((m) => m.content.toString()),
      ['m0', 'm1', 'm2'],
    );
    assert.ok(again.every((m) => m.fields.redelivered));
    await holder.close();
    await other.close();
    await setup.close();
  });

  test('a connection dropped without closing requeues its unacked messages', async () => {
    const setup = await conn.createChannel();
    await setup.assertQueue('conn.dropped', { durable: false });
    setup.sendToQueue('conn.dropped', text('held'));
    const holder = await amqp.connect(broker.url);
    const hch = await holder.createChannel();
    await collect(hch, 'conn.dropped', 1).done;
    holder.on('error', () => {});
    const socket = (holder.connection as unknown as { stream: { destroy(err?: Error): void } }).stream;
    const waiter = await conn.createChannel();
    const back = collect(waiter, 'conn.dropped', 1);
    await back.consumerTag;
    socket.destroy(new Error('simulated network failure')); // with an error, so amqplib stops its heartbeat timer
    const [m] = await back.done;
    assert.equal(m!.content.toString(), 'held');
    assert.equal(m!.fields.redelivered, true);
    await waiter.close();
    await setup.close();
  });
});

/** a loopback TCP proxy to `port` that keeps every byte the server sent */
async function recordingProxy(port: number): Promise<{ port: number; fromServer: Buffer[]; close(): void }> {
  const fromServer: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1');
    sockets.push(client, upstream);
    upstream.on('data', (chunk: Buffer) => fromServer.push(chunk));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    fromServer,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** the first connection.close method frame in a server byte stream (frames after the 8-byte protocol header) */
function findConnectionClose(bytes: Buffer): { replyCode: number; replyText: string } | undefined {
  let at = 0;
  while (at + 7 <= bytes.length) {
    const type = bytes.readUInt8(at);
    const size = bytes.readUInt32BE(at + 3);
    const payload = bytes.subarray(at + 7, at + 7 + size);
    // method frame, class 10 (connection), method 50 (close): reply-code short, reply-text shortstr
    if (type === 1 && payload.readUInt16BE(0) === 10 && payload.readUInt16BE(2) === 50) {
      const replyCode = payload.readUInt16BE(4);
      const textLength = payload.readUInt8(6);
      return { replyCode, replyText: payload.subarray(7, 7 + textLength).toString('utf8') };
    }
    at += 7 + size + 1;
  }
  return undefined;
}
