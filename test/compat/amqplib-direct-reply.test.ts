import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectChannelClose, text } from '../helpers/amqplib.js';

const REPLY_TO = 'amq.rabbitmq.reply-to';

describe('amqplib: direct reply-to', () => {
  let broker: TestBroker;
  let serverConn: ChannelModel;
  let clientConn: ChannelModel;

  before(async () => {
    broker = await startTestBroker();
    serverConn = await amqp.connect(broker.url);
    clientConn = await amqp.connect(broker.url);
    // an RPC server: upper-cases the request and replies to its reply-to with its correlation id
    const ch = await serverConn.createChannel();
    await ch.assertQueue('rpc.requests', { durable: false });
    await ch.consume('rpc.requests', (m) => {
      if (m === null) return;
      ch.sendToQueue(m.properties.replyTo, text(m.content.toString().toUpperCase()), { correlationId: m.properties.correlationId });
      ch.ack(m);
    });
  });
  after(async () => {
    await clientConn.close();
    await serverConn.close();
    await broker.stop();
  });

  test('an RPC reply sent to amq.rabbitmq.reply-to reaches the requesting channel with its correlation id', async () => {
    const ch = await clientConn.createChannel();
    const replies = new Map<string, (m: ConsumeMessage) => void>();
    await ch.consume(REPLY_TO, (m) => m && replies.get(m.properties.correlationId)?.(m), { noAck: true });
    const call = (body: string, correlationId: string) =>
      new Promise<ConsumeMessage>((resolve) => {
        replies.set(correlationId, resolve);
        ch.sendToQueue('rpc.requests', text(body), { replyTo: REPLY_TO, correlationId });
      });
    const [a, b] = await Promise.all([call('hello', 'c-1'), call('world', 'c-2')]);
    assert.equal(a.content.toString(), 'HELLO');
    assert.equal(a.properties.correlationId, 'c-1');
    assert.equal(b.content.toString(), 'WORLD');
    assert.equal(b.properties.correlationId, 'c-2');
    assert.equal(a.fields.exchange, '');
    assert.match(a.fields.routingKey, /^amq\.rabbitmq\.reply-to\./);
    await ch.close();
  });

  test('the server sees a reply-to rewritten to a per-channel amq.rabbitmq.reply-to.* name', async () => {
    const ch = await clientConn.createChannel();
    await ch.consume(REPLY_TO, () => {}, { noAck: true });
    const peek = await serverConn.createChannel();
    await peek.assertQueue('rpc.peek', { durable: false });
    ch.sendToQueue('rpc.peek', text('x'), { replyTo: REPLY_TO });
    await ch.checkQueue('rpc.peek');
    const m = await peek.get('rpc.peek', { noAck: true });
    assert.ok(m !== false);
    assert.match(m.properties.replyTo, /^amq\.rabbitmq\.reply-to\.[A-Za-z0-9_.-]+$/);
    await peek.close();
    await ch.close();
  });

  test('consuming amq.rabbitmq.reply-to without noAck closes the channel with 406', async () => {
    const ch = await clientConn.createChannel();
    const message = await expectChannelClose(ch, 406, () => ch.consume(REPLY_TO, () => {}, { noAck: false }));
    assert.match(message, /PRECONDITION.FAILED/);
  });

  test('publishing with reply-to amq.rabbitmq.reply-to without a reply consumer closes the channel with 406', async () => {
    const ch = await clientConn.createChannel();
    await expectChannelClose(ch, 406, async () => {
      ch.sendToQueue('rpc.requests', text('x'), { replyTo: REPLY_TO });
      await ch.checkQueue('rpc.requests');
    });
  });

  test('a reply to a channel that has gone is dropped without error', async () => {
    const ch = await clientConn.createChannel();
    await ch.consume(REPLY_TO, () => {}, { noAck: true });
    const peek = await serverConn.createChannel();
    await peek.assertQueue('rpc.gone', { durable: false });
    ch.sendToQueue('rpc.gone', text('x'), { replyTo: REPLY_TO });
    await ch.checkQueue('rpc.gone');
    const m = await peek.get('rpc.gone', { noAck: true });
    assert.ok(m !== false);
    await ch.close();
    const returned: unknown[] = [];
    peek.on('return', (r) => returned.push(r));
    peek.sendToQueue(m.properties.replyTo, text('late'), { mandatory: true });
    await peek.checkQueue('rpc.gone'); // the channel is still open, and the return came before this reply
    assert.equal(returned.length, 1); // mandatory: returned as unroutable
    await peek.close();
  });
});
