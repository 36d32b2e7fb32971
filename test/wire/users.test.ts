import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.js';

test('guest may log in from loopback only, like RabbitMQ; a configured user from anywhere', async () => {
  const broker = await startTestBroker({
    users: [
      { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: [] },
      { name: 'app', password: 'pw', vhosts: ['/'], loopbackOnly: false, tags: [] },
    ],
  });
  try {
    assert.equal(broker.core.authenticate('guest', 'guest', true)?.name, 'guest');
    assert.equal(broker.core.authenticate('guest', 'guest', false), undefined);
    assert.equal(broker.core.authenticate('app', 'pw', false)?.name, 'app');
    assert.equal(broker.core.authenticate('app', 'wrong', true), undefined);
    assert.equal(broker.core.authenticate('nobody', 'pw', true), undefined);
  } finally {
    await broker.stop();
  }
});
