/**
 * The management API's message browser and offset reset under hostile input: limits far past the caps are
 * clamped to them (MAX_BROWSE_RECORDS, MAX_BROWSE_BYTES), offsets out of range give an empty page or a 400,
 * a 50 MB value is previewed in MAX_PREVIEW_BYTES however often it is browsed, and JSON nested 8,000 deep is
 * shown as text rather than pretty-printed into hundreds of MB. An AMQP canary publishes with confirms
 * throughout.
 *
 * Measured here (2 CPUs shared with four other helpers' builds and tests), in-process broker: each browse of
 * the 50 MB record answers about 22 KB, and reads and checks (CRC-32C) the whole 50 MB batch synchronously,
 * so ten concurrent browses held a second canary for 438-504 ms at worst (about 40-50 ms each); RSS 107 MB
 * before the record, 141-150 MB after producing it and browsing it ten times (kafkajs' copies included). The
 * file's canary saw 876-1,683 ms at worst, while the 50 MB produce was written and fsynced. Printed, not asserted.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startCanary, type Canary } from '../helpers/canary.js';
import { api, get } from '../management/helpers.js';
import { MAX_BROWSE_BYTES, MAX_BROWSE_RECORDS, MAX_PREVIEW_BYTES } from '../../src/management/stream-messages.js';

const HUGE_VALUE_BYTES = 50 * 1024 * 1024;

describe('attack: the message browser and offset reset with hostile limits, offsets and values', () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let canary: Canary;

  before(async () => {
    broker = await startTestBroker();
    canary = await startCanary(broker.url);
    kafka = new Kafka({ clientId: 'attack-browse', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, requestTimeout: 60_000 });
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer();
    await producer.connect();
  });
  after(async () => {
    await producer.disconnect();
    await admin.disconnect();
    const report = await canary.stop();
    console.log(`canary: ${report.confirmed} confirmed, worst latency ${report.worstLatencyMs} ms`);
    await broker.stop();
  });

  test('limits far past the caps are clamped, and offsets out of range give an empty page or a 400', async () => {
    await admin.createTopics({ topics: [{ topic: 'attack.browse', numPartitions: 1 }] });
    for (let i = 0; i < 3; i++)
      await producer.send({ topic: 'attack.browse', acks: -1, messages: Array.from({ length: 250 }, (_, j) => ({ value: `record ${i * 250 + j}` })) });
    const huge = await get(broker, '/api/streams/topics/attack.browse/messages?from=earliest&max=1000000000000&max_bytes=1000000000000000');
    assert.equal(huge.max, MAX_BROWSE_RECORDS);
    assert.equal(huge.max_bytes, MAX_BROWSE_BYTES);
    assert.equal(huge.records.length, MAX_BROWSE_RECORDS);
    assert.equal(huge.limited, true);

    const past = await get(broker, '/api/streams/topics/attack.browse/messages?partition=0&from=offset&offset=9223372036854775807');
    assert.deepEqual(past.records, []);
    assert.equal(past.partitions[0].start_offset, 750);
    const future = await get(broker, `/api/streams/topics/attack.browse/messages?from=timestamp&timestamp=${Date.now() + 86_400_000}`);
    assert.deepEqual(future.records, []);
    for (const query of [
      'from=offset&offset=-1',
      'from=offset&offset=1e30',
      'from=offset&offset=99999999999999999999',
      'from=offset',
      'from=sideways',
      'max=-5',
      'from=timestamp&timestamp=yesterday',
    ]) {
      const r = await api(broker, 'GET', `/api/streams/topics/attack.browse/messages?${query}`);
      assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
    }
    assert.equal((await api(broker, 'GET', '/api/streams/topics/attack.browse/messages?partition=4294967296')).status, 404);
    const reset = await api(broker, 'POST', '/api/streams/groups/attackers/reset-offsets', { body: { to: 'offset', offset: '1e30', topic: 'attack.browse' } });
    assert.equal(reset.status, 400);
    await canary.check();
  });

  test('a 50 MB value is previewed in MAX_PREVIEW_BYTES however often it is browsed', async () => {
    await admin.createTopics({
      topics: [{ topic: 'attack.huge', numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(64 * 1024 * 1024) }] }],
    });
    const rssBefore = process.memoryUsage().rss;
    await producer.send({
      topic: 'attack.huge',
      acks: -1,
      messages: [
        { key: 'big', value: Buffer.alloc(HUGE_VALUE_BYTES, 'a') },
        { key: 'small', value: 'after the big one' },
      ],
    });
    // a canary of its own for the browsing alone (the 50 MB produce and its fsync stall everyone for a while)
    const browsing = await startCanary(broker.url);
    const pages = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${broker.httpUrl}/api/streams/topics/attack.huge/messages?from=earliest`, {
          headers: { Authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') },
        }),
      ),
    );
    for (const response of pages) {
      const text = await response.text();
      assert.equal(response.status, 200);
      assert.ok(text.length < 2 * MAX_PREVIEW_BYTES + 8192, `the answer is ${text.length} characters`);
      const body = JSON.parse(text);
      assert.equal(body.records.length, 2);
      const [big, small] = body.records;
      assert.equal(big.value.size, HUGE_VALUE_BYTES);
      assert.equal(big.value.truncated, true);
      assert.equal(big.value.data.length, MAX_PREVIEW_BYTES);
      assert.equal(small.value.data, 'after the big one');
    }
    const quiet = await browsing.stop();
    console.log(`browsing canary: ${quiet.confirmed} confirmed, worst latency ${quiet.worstLatencyMs} ms`);
    console.log(
      `RSS ${Math.round(rssBefore / 1048576)} MB before the 50 MB record, ${Math.round(process.memoryUsage().rss / 1048576)} MB after producing it and browsing it ten times`,
    );
    await canary.check();
  });

  test('JSON nested 8,000 deep is shown as text, not pretty-printed', async () => {
    await admin.createTopics({ topics: [{ topic: 'attack.nesting', numPartitions: 1 }] });
    const nested = '['.repeat(8000) + ']'.repeat(8000);
    await producer.send({ topic: 'attack.nesting', acks: -1, messages: [{ value: nested }, { value: '{"fine": [1, 2]}' }] });
    const page = await get(broker, '/api/streams/topics/attack.nesting/messages?from=earliest');
    assert.equal(page.records[0].value.encoding, 'text');
    assert.equal(page.records[0].value.data, nested);
    assert.equal(page.records[1].value.encoding, 'json');
    await canary.check();
  });
});
