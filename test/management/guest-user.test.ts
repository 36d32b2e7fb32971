/**
 * The built-in guest user cannot be changed through the API; the refusal says why and how to change it,
 * while a guest that a config file defines is refused as a config-file user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UserConfig } from '../../src/config/config.js';
import { startTestBroker } from '../helpers/broker.js';
import { api } from './helpers.js';

test('PUT and DELETE /api/users/guest on the built-in guest answer 405 saying how to change or remove it', async () => {
  const broker = await startTestBroker();
  try {
    for (const [method, body] of [
      ['PUT', { password: 'new-pw', tags: 'administrator' }],
      ['DELETE', undefined],
    ] as const) {
      const r = await api(broker, method, '/api/users/guest', body === undefined ? {} : { body });
      assert.equal(r.status, 405, method);
      assert.equal(
        r.body.reason,
        "user 'guest' is the built-in default user and cannot be changed through the API: to change its password or tags, " +
          'define a user named \'guest\' under "users" in a config file (postbox serve --config <file>); to remove it, set "defaultGuest": false there ' +
          '(see docs/configuration.md); other users can be created through the API',
        method,
      );
    }
  } finally {
    await broker.stop();
  }
});

test('a guest defined by the config file is refused as a config-file user', async () => {
  const guest: UserConfig = { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] };
  const broker = await startTestBroker({ users: [guest] });
  try {
    const r = await api(broker, 'DELETE', '/api/users/guest');
    assert.equal(r.status, 405);
    assert.equal(r.body.reason, "user 'guest' is defined in the config file and cannot be changed through the API; edit the config file");
  } finally {
    await broker.stop();
  }
});
