import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  M_BASIC_DELIVER,
  M_CHANNEL_FLOW,
  M_CHANNEL_FLOW_OK,
  M_CONNECTION_UPDATE_SECRET,
  M_CONNECTION_UPDATE_SECRET_OK,
} from '../../src/protocol/amqp/generated/spec.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { AmqpClient } from '../../src/client/amqp/index.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

test('connection.update-secret is answered with update-secret-ok and the connection stays usable', async () => {
  const c = await AmqpClient.open(broker.amqpPort);
  c.send(0, { id: M_CONNECTION_UPDATE_SECRET, args: { newSecret: Buffer.from('new-token'), reason: 'refresh' } });
  const reply = await c.nextMethod();
  assert.equal(reply?.method.id, M_CONNECTION_UPDATE_SECRET_OK);
  await c.openChannel(1);
  await c.declareQueue(1, 'secret-q');
  assert.equal((await c.publishAndConsume(1, 'secret-q', Buffer.from('still here'))).toString(), 'still here');
  await c.close();
});

test('channel.flow(false) pauses deliveries to the channel and flow(true) resumes them', async () => {
  const c = await AmqpClient.open(broker.amqpPort);
  await c.openChannel(1);
  await c.declareQueue(1, 'flow-q');
  await c.consume(1, 'flow-q', 'flow-tag', true);
  c.send(1, { id: M_CHANNEL_FLOW, args: { active: false } });
  const ok = await c.nextMethod();
  assert.equal(ok?.method.id, M_CHANNEL_FLOW_OK);
  assert.equal((ok!.method.args as { active: boolean }).active, false);
  c.publish(1, '', 'flow-q', Buffer.from('held'));
  // the message waits in the queue while flow is off: a broker-side look, no timing involved
  const vhost = broker.core.vhosts.get('/')!;
  const q = vhost.queues.get('flow-q')!;
  while (q.messageCount === 0) await new Promise((r) => setImmediate(r));
  assert.equal(q.messageCount, 1);
  c.send(1, { id: M_CHANNEL_FLOW, args: { active: true } });
  const resumed = await c.nextMethod();
  assert.equal(resumed?.method.id, M_CHANNEL_FLOW_OK);
  const delivery = await c.nextMethod();
  assert.equal(delivery?.method.id, M_BASIC_DELIVER);
  assert.equal((await c.readContent(1)).body.toString(), 'held');
  await c.close();
});
