/** POST /api/streams/groups/{id}/reset-offsets: who may call it, and what it refuses. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { UserConfig } from '../../src/config/config.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { api } from './helpers.js';

const GUEST: UserConfig = { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] };
const VIEWER: UserConfig = { name: 'viewer', password: 'viewer-pw', vhosts: ['/'], loopbackOnly: false, tags: ['management'] };

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker({ users: [GUEST, VIEWER] });
  broker.streams.createTopic('go-topic', 2, {});
});
after(async () => {
  await broker.stop();
});

const route = '/api/streams/groups/go-group/reset-offsets';

test('resetting offsets needs the administrator tag', async () => {
  const r = await api(broker, 'POST', route, { body: { to: 'earliest', topics: [{ topic: 'go-topic' }], execute: true }, auth: ['viewer', 'viewer-pw'] });
  assert.equal(r.status, 403);
  assert.equal(broker.groups.committedOffsets('go-group').length, 0);
});

test('a reset names its target, its topics and existing partitions, or is refused with 400 or 404', async () => {
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ to: 'yesterday', topics: [{ topic: 'go-topic' }] }, 400, /'to' must be one of earliest, latest, offset, datetime/],
    [{ to: 'earliest' }, 400, /has no committed offsets: say which topics/],
    [{ to: 'offset', topics: [{ topic: 'go-topic' }] }, 400, /needs an 'offset'/],
    [{ to: 'datetime', timestamp: 'soon', topics: [{ topic: 'go-topic' }] }, 400, /needs a 'timestamp'/],
    [{ to: 'earliest', topics: [{ topic: 'go-absent' }] }, 404, /no topic 'go-absent'/],
    [{ to: 'earliest', topics: [{ topic: 'go-topic', partitions: [5] }] }, 404, /topic 'go-topic' has no partition 5 \(it has 2\)/],
  ];
  for (const [body, status, reason] of cases) {
    const r = await api(broker, 'POST', route, { body: { ...body, execute: true } });
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match(r.body.reason, reason);
  }
  assert.equal(broker.groups.committedOffsets('go-group').length, 0, 'nothing was committed');
  const ok = await api(broker, 'POST', route, { body: { to: 'latest', topics: [{ topic: 'go-topic', partitions: [1] }], execute: true } });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, { group_id: 'go-group', executed: true, offsets: [{ topic: 'go-topic', partition: 1, current_offset: null, new_offset: 0 }] });
  assert.deepEqual(broker.groups.committedOffsets('go-group').map((o) => [o.topic, o.partition, o.committedOffset]), [['go-topic', 1, 0n]]);
});
