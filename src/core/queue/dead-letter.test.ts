import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FieldTable } from '../field-table.js';
import { Message } from '../message.js';
import { editProperties } from '../properties.js';
import { deadLetter, isDeathCycle } from './dead-letter.js';

function death(queue: string, reason: string): FieldTable {
  return { count: 1n, reason, queue, time: new Date(0), exchange: '', 'routing-keys': [queue] };
}

test("a cycle is dropped only when no death from the newest back to the target queue's latest death was a rejection", () => {
  // newest first, as x-death is written
  assert.equal(isDeathCycle([death('b', 'expired'), death('a', 'expired')], 'a'), true, 'a TTL loop a -> b -> a');
  assert.equal(
    isDeathCycle([death('b', 'expired'), death('a', 'expired'), death('c', 'rejected')], 'a'),
    true,
    'a rejection before the loop does not break it',
  );
  assert.equal(isDeathCycle([death('b', 'rejected'), death('a', 'expired')], 'a'), false, 'a rejection inside the loop breaks it');
  assert.equal(isDeathCycle([death('a', 'rejected')], 'a'), false, "the target's own death was a rejection");
  assert.equal(isDeathCycle([death('b', 'expired'), death('c', 'expired')], 'a'), false, 'never died in the target');
});

function message(headers: FieldTable): Message {
  return new Message('orders.x', 'eu', editProperties(Buffer.alloc(2), headers, false), Buffer.from('body'), true);
}

test('x-death counts are longs, routing-keys include the CC keys, and a dead-letter routing key drops the CC header', () => {
  const now = new Date(1_700_000_000_000);
  const first = deadLetter(message({ CC: ['us', 'asia'] }), 'work', 'rejected', 'dlx', null, now);
  const entry = first.deaths[0]!;
  assert.equal(entry.count, 1n, 'a bigint is encoded with the long tag, as RabbitMQ writes count');
  assert.deepEqual(entry['routing-keys'], ['eu', 'us', 'asia']);
  assert.deepEqual(first.message.headers()?.CC, ['us', 'asia'], 'without a dead-letter routing key the copy keeps CC');
  assert.equal(first.message.routingKey, 'eu');

  const again = deadLetter(first.message, 'work', 'rejected', 'dlx', 'parking', now);
  assert.equal(again.deaths.length, 1);
  assert.equal(again.deaths[0]!.count, 2n);
  assert.equal(again.message.headers()?.CC, undefined, 'a dead-letter routing key replaces every routing key');
  assert.equal(again.message.routingKey, 'parking');
});
