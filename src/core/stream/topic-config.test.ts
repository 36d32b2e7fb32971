import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerError } from '../../errors/errors.js';
import { applyTopicConfigChanges } from './topic-config.js';

const SEGMENT_BYTES = 1 << 20;

function invalidConfig(err: unknown): boolean {
  return err instanceof BrokerError && err.def.code === 'INVALID_CONFIG';
}

test('set and delete change only the named configs, in order, without touching the input', () => {
  const before = { 'retention.ms': '1000', 'segment.bytes': '4096' };
  const after = applyTopicConfigChanges(
    before,
    [
      { name: 'retention.ms', operation: 'set', value: '2000' },
      { name: 'segment.bytes', operation: 'delete', value: null },
      { name: 'retention.bytes', operation: 'set', value: '10' },
      { name: 'retention.bytes', operation: 'delete', value: 'ignored' },
    ],
    SEGMENT_BYTES,
  );
  assert.deepEqual(after, { 'retention.ms': '2000' });
  assert.deepEqual(before, { 'retention.ms': '1000', 'segment.bytes': '4096' });
});

test('append and subtract start from the default of an unset list config and never duplicate an item', () => {
  assert.deepEqual(applyTopicConfigChanges({}, [{ name: 'cleanup.policy', operation: 'append', value: 'compact' }], SEGMENT_BYTES), {
    'cleanup.policy': 'delete,compact',
  });
  assert.deepEqual(
    applyTopicConfigChanges({ 'cleanup.policy': 'compact' }, [{ name: 'cleanup.policy', operation: 'append', value: ' compact , delete' }], SEGMENT_BYTES),
    {
      'cleanup.policy': 'compact,delete',
    },
  );
  assert.deepEqual(applyTopicConfigChanges({}, [{ name: 'cleanup.policy', operation: 'subtract', value: 'delete' }], SEGMENT_BYTES), { 'cleanup.policy': '' });
  assert.deepEqual(applyTopicConfigChanges({}, [{ name: 'leader.replication.throttled.replicas', operation: 'append', value: '0:0' }], SEGMENT_BYTES), {
    'leader.replication.throttled.replicas': '0:0',
  });
});

test('unknown names, missing values and append or subtract on a non-list config are INVALID_CONFIG', () => {
  assert.throws(() => applyTopicConfigChanges({}, [{ name: 'no.such', operation: 'delete', value: null }], SEGMENT_BYTES), invalidConfig);
  assert.throws(() => applyTopicConfigChanges({}, [{ name: 'retention.ms', operation: 'set', value: null }], SEGMENT_BYTES), invalidConfig);
  assert.throws(() => applyTopicConfigChanges({}, [{ name: 'retention.ms', operation: 'append', value: '1' }], SEGMENT_BYTES), invalidConfig);
  assert.throws(() => applyTopicConfigChanges({}, [{ name: 'segment.bytes', operation: 'subtract', value: '1' }], SEGMENT_BYTES), invalidConfig);
});
