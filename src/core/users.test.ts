import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FULL_ACCESS, NO_ACCESS, ResourceAccess, UserStore } from './users.js';

test('permission expressions match unanchored, as RabbitMQ does; the empty one matches nothing', () => {
  const access = new ResourceAccess('^app\\.', 'orders', '');
  assert.ok(access.allows('configure', 'app.q'));
  assert.ok(!access.allows('configure', 'my.app.q'));
  assert.ok(access.allows('write', 'orders'));
  assert.ok(access.allows('write', 'old-orders-2'), 'unanchored: a match anywhere in the name');
  assert.ok(!access.allows('read', ''));
  assert.ok(!access.allows('read', 'anything'));
  assert.ok(FULL_ACCESS.allows('read', '') && FULL_ACCESS.allows('configure', 'x'));
  assert.ok(!NO_ACCESS.allows('write', 'x'));
});

test('config users get full access to their vhosts; managed users their compiled grants, which follow every change', () => {
  const vhosts = ['/', 'other'];
  const store = new UserStore([{ name: 'ops', password: 'pw', vhosts: ['/'], loopbackOnly: false, tags: ['administrator'] }], () => vhosts);
  assert.equal(store.access('ops', '/'), FULL_ACCESS);
  assert.equal(store.access('ops', 'other'), NO_ACCESS);
  store.put('bob', { password: 'x', tags: [] });
  assert.equal(store.access('bob', '/'), NO_ACCESS);
  const before = store.generation;
  store.setPermission({ user: 'bob', vhost: '/', configure: '^bob', write: '.*', read: '' });
  assert.ok(store.generation > before);
  assert.ok(store.access('bob', '/').allows('configure', 'bob.q'));
  assert.ok(!store.access('bob', '/').allows('read', 'bob.q'));
  store.clearPermission('bob', '/');
  assert.equal(store.access('bob', '/'), NO_ACCESS);
  store.setPermission({ user: 'bob', vhost: 'other', configure: '.*', write: '.*', read: '.*' });
  store.vhostDeleted('other');
  assert.equal(store.access('bob', 'other'), NO_ACCESS);
  store.setPermission({ user: 'bob', vhost: '/', configure: '.*', write: '.*', read: '.*' });
  store.delete('bob');
  assert.equal(store.access('bob', '/'), NO_ACCESS);
});
