import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerError } from '../errors/errors.js';
import { PolicyRegistry, validatePolicy, validatePolicyDefinition } from './policy.js';

function policy(name: string, pattern: string, priority: number, definition: Record<string, unknown>, applyTo?: string) {
  return validatePolicy({ vhost: '/', name, pattern, priority, definition, applyTo });
}

test('a pattern matches anywhere in the name unless it anchors itself', () => {
  const r = new PolicyRegistry();
  r.set(policy('loose', 'ord', 0, { 'max-length': 1 }));
  assert.equal(r.forQueue('new-orders')?.name, 'loose');
  r.set(policy('loose', '^ord', 0, { 'max-length': 1 }));
  assert.equal(r.forQueue('new-orders'), null);
  assert.equal(r.forQueue('orders')?.name, 'loose');
});

test('the highest priority wins; on a tie the policy defined or updated last wins', () => {
  const r = new PolicyRegistry();
  r.set(policy('a', '.*', 1, { 'max-length': 1 }));
  r.set(policy('b', '.*', 1, { 'max-length': 2 }));
  assert.equal(r.forQueue('q')?.name, 'b');
  r.set(policy('a', '.*', 1, { 'max-length': 1 }));
  assert.equal(r.forQueue('q')?.name, 'a');
  r.set(policy('c', '.*', 0, { 'max-length': 3 }));
  assert.equal(r.forQueue('q')?.name, 'a');
  r.set(policy('c', '.*', -1 + 3, { 'max-length': 3 }));
  assert.equal(r.forQueue('q')?.name, 'c');
  assert.deepEqual(
    r.list().map((p) => p.name),
    ['b', 'a', 'c'],
  );
});

test('apply-to decides whether a policy is considered for queues, exchanges or both', () => {
  const r = new PolicyRegistry();
  r.set(policy('ex', '.*', 5, { 'alternate-exchange': 'ae' }, 'exchanges'));
  r.set(policy('qs', '.*', 1, { 'max-length': 1 }, 'queues'));
  assert.equal(r.forQueue('x')?.name, 'qs');
  assert.equal(r.forExchange('x')?.name, 'ex');
  r.set(policy('all', '.*', 9, { expires: 10 }));
  assert.equal(r.forQueue('x')?.name, 'all');
  assert.equal(r.forExchange('x')?.name, 'all');
});

test('the applied policy object stays the same until the policy is set again', () => {
  const r = new PolicyRegistry();
  r.set(policy('a', '.*', 0, { 'max-length': 1 }));
  const first = r.forQueue('q');
  assert.equal(r.forQueue('other'), first);
  r.set(policy('a', '.*', 0, { 'max-length': 1 }));
  assert.notEqual(r.forQueue('q'), first);
});

test('unknown keys and wrong values are refused as PRECONDITION_FAILED naming the key; ignored RabbitMQ keys are kept', () => {
  const refused = (definition: unknown, message: RegExp): void => {
    assert.throws(
      () => validatePolicyDefinition(definition),
      (e: unknown) => e instanceof BrokerError && e.def.http === 400 && e.def.amqp === 406 && message.test(e.message),
    );
  };
  refused({ 'x-max-length': 1 }, /unknown policy key 'x-max-length'/);
  refused({ 'max-length': 1.5 }, /'max-length'/);
  refused({ 'retry-backoff': -10 }, /'retry-backoff'/);
  refused({ 'dead-letter-routing-key': true }, /'dead-letter-routing-key'/);
  refused({ 'delivery-limit': '3' }, /'delivery-limit'/);
  refused(null, /JSON object/);
  assert.deepEqual(validatePolicyDefinition({ 'ha-mode': 'exactly', 'ha-params': 2, 'retry-backoff-max': 0 }), {
    'ha-mode': 'exactly',
    'ha-params': 2,
    'retry-backoff-max': 0,
  });
});

test('classic_queues and quorum_queues narrow a policy to one queue type; streams matches no queue; queues and all match both', () => {
  const r = new PolicyRegistry();
  r.set(policy('classic-only', '^q', 3, { 'max-length': 1 }, 'classic_queues'));
  r.set(policy('quorum-only', '^q', 2, { 'max-length': 2 }, 'quorum_queues'));
  r.set(policy('streams', '^q', 9, { 'max-length': 3 }, 'streams'));
  assert.equal(r.forQueue('q1')?.name, 'classic-only');
  assert.equal(r.forQueue('q1', 'classic')?.name, 'classic-only');
  assert.equal(r.forQueue('q1', 'quorum')?.name, 'quorum-only');
  assert.equal(r.forExchange('q1'), null);
  r.set(policy('any-queue', '^q', 5, { 'max-length': 4 }, 'queues'));
  assert.equal(r.forQueue('q1', 'classic')?.name, 'any-queue');
  assert.equal(r.forQueue('q1', 'quorum')?.name, 'any-queue');
  assert.throws(
    () => policy('bad', '^q', 0, { 'max-length': 1 }, 'stream'),
    (e: unknown) => e instanceof BrokerError && /apply-to must be one of/.test(e.message),
  );
});
