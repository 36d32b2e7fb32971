/**
 * The Kafka tools of the management API, driven by real clients: records produced with kafkajs (plain and
 * gzip batches, keys, headers) are read back through the message browser by offset, newest N and time; a
 * record produced through the API is consumed by kcat; produce and consume rates per topic and partition;
 * effective retention and cleanup configs; a consumer group's offsets reset (refused while it has members)
 * and a kafkajs consumer resuming from the new position; permissions in the Kafka vhost.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CompressionTypes, Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { delay, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { requireCommand, run } from '../helpers/external.js';
import { api, get } from './helpers.js';

/** quick heartbeats and fetches so a group settles fast (kafkajs' minimum session timeout is 6 s) */
const CONSUMER_SETTINGS = { sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 100, maxWaitTimeInMs: 100 };
/** rates are sampled this often here, ms (the default is 5 s) */
const STATS_INTERVAL_MS = 200;
const GUARD_MS = 20_000;

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

describe('management API: browsing, producing, rates and offset resets on Kafka topics', () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let producer: Producer;
  let admin: Admin;
  const consumers: Consumer[] = [];

  before(async () => {
    broker = await startTestBroker({ statsIntervalMs: STATS_INTERVAL_MS });
    kafka = new Kafka({ clientId: 'mgmt-browse', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    await producer.connect();
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    await producer.disconnect();
    await admin.disconnect();
    await broker.stop();
  });

  test('records produced with kafkajs are browsed from an offset with keys, headers and values decoded as text, JSON or base64', async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.mixed', numPartitions: 1 }] });
    await producer.send({
      topic: 'browse.mixed',
      acks: -1,
      messages: [
        { key: 'order-1', value: 'plain text value', headers: { source: 'web', trace: Buffer.from([0xff, 0x00, 0x01]) } },
        { key: 'order-2', value: JSON.stringify({ id: 2, items: [1, 2] }) },
        { key: null, value: Buffer.from([0x00, 0x9f, 0x92, 0x96, 0xff]) },
        { key: 'order-4', value: null },
      ],
    });
    const page = await get(broker, '/api/streams/topics/browse.mixed/messages?partition=0&from=offset&offset=0');
    assert.equal(page.records.length, 4);
    const [text, json, binary, tombstone] = page.records;
    assert.deepEqual([text.offset, json.offset, binary.offset, tombstone.offset], [0, 1, 2, 3]);
    assert.deepEqual(text.key, { encoding: 'text', data: 'order-1', size: 7, truncated: false });
    assert.deepEqual(text.value, { encoding: 'text', data: 'plain text value', size: 16, truncated: false });
    assert.deepEqual(text.headers, [
      { key: 'source', value: { encoding: 'text', data: 'web', size: 3, truncated: false } },
      { key: 'trace', value: { encoding: 'base64', data: Buffer.from([0xff, 0x00, 0x01]).toString('base64'), size: 3, truncated: false } },
    ]);
    assert.equal(json.value.encoding, 'json');
    assert.equal(json.value.data, JSON.stringify({ id: 2, items: [1, 2] }, null, 2));
    assert.equal(binary.key, null);
    assert.deepEqual(binary.value, { encoding: 'base64', data: Buffer.from([0x00, 0x9f, 0x92, 0x96, 0xff]).toString('base64'), size: 5, truncated: false });
    assert.equal(tombstone.value, null);
    assert.equal(text.timestamp_type, 'CreateTime');
    assert.ok(Math.abs(text.timestamp - Date.now()) < 60_000, `timestamp ${text.timestamp} is about now`);

    const from2 = await get(broker, '/api/streams/topics/browse.mixed/messages?partition=0&from=offset&offset=2');
    assert.deepEqual(
      from2.records.map((r: any) => r.offset),
      [2, 3],
    );
    assert.equal(from2.partitions[0].next_offset, 4);
  });

  test('the newest N records, and records from a time, are browsed over every partition', async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.time', numPartitions: 2 }] });
    const before = Date.now();
    await producer.send({
      topic: 'browse.time',
      acks: -1,
      messages: Array.from({ length: 6 }, (_, i) => ({ partition: i % 2, value: `old ${i}`, timestamp: String(before - 3_600_000 + i) })),
    });
    const boundary = before - 1_800_000;
    await producer.send({
      topic: 'browse.time',
      acks: -1,
      messages: Array.from({ length: 4 }, (_, i) => ({ partition: i % 2, value: `new ${i}`, timestamp: String(before + i) })),
    });

    const newest = await get(broker, '/api/streams/topics/browse.time/messages?from=newest&max=3');
    assert.equal(newest.records.length, 3);
    assert.deepEqual(
      newest.records.map((r: any) => r.value.data),
      ['new 1', 'new 2', 'new 3'],
    );
    const newestOfOne = await get(broker, '/api/streams/topics/browse.time/messages?partition=1&from=newest&max=2');
    assert.deepEqual(
      newestOfOne.records.map((r: any) => r.value.data),
      ['new 1', 'new 3'],
    );

    const fromTime = await get(broker, `/api/streams/topics/browse.time/messages?from=timestamp&timestamp=${boundary}`);
    assert.deepEqual(
      fromTime.records.map((r: any) => r.value.data),
      ['new 0', 'new 1', 'new 2', 'new 3'],
    );
    const iso = await get(
      broker,
      `/api/streams/topics/browse.time/messages?partition=0&from=timestamp&timestamp=${encodeURIComponent(new Date(boundary).toISOString())}`,
    );
    assert.deepEqual(
      iso.records.map((r: any) => r.value.data),
      ['new 0', 'new 2'],
    );
    // the newest that fit when N do not: 1,000-byte values in 2,500 bytes of previews
    await producer.send({ topic: 'browse.time', acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `${i}`.repeat(1000) })) });
    const fitting = await get(broker, '/api/streams/topics/browse.time/messages?partition=0&from=newest&max=5&max_bytes=2500');
    assert.deepEqual(
      fitting.records.map((r: any) => r.value.data[0]),
      ['3', '4'],
    );
    assert.equal(fitting.limited, true);
    const earliest = await get(broker, '/api/streams/topics/browse.time/messages?partition=0&from=earliest&max=2');
    assert.deepEqual(
      earliest.records.map((r: any) => r.value.data),
      ['old 0', 'old 2'],
    );
    assert.equal(earliest.limited, true);
  });

  test('a gzip batch from kafkajs is browsed record by record', async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.gzip', numPartitions: 1 }] });
    const values = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `compressed record ${i} `.repeat(20), headers: { n: String(i) } }));
    await producer.send({ topic: 'browse.gzip', acks: -1, compression: CompressionTypes.GZIP, messages: values });
    const page = await get(broker, '/api/streams/topics/browse.gzip/messages?partition=0&from=offset&offset=10&max=5');
    assert.deepEqual(
      page.records.map((r: any) => r.offset),
      [10, 11, 12, 13, 14],
    );
    assert.equal(page.records[0].key.data, 'k10');
    assert.equal(page.records[0].value.data, 'compressed record 10 '.repeat(20));
    assert.deepEqual(page.records[4].headers, [{ key: 'n', value: { encoding: 'text', data: '14', size: 2, truncated: false } }]);
    assert.equal(page.limited, true);
    assert.equal(page.partitions[0].next_offset, 15);
  });

  test('a record produced through the API is consumed by kcat with its key, headers and value', async () => {
    const kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
    await admin.createTopics({ topics: [{ topic: 'browse.produced', numPartitions: 3 }] });
    const r = await api(broker, 'POST', '/api/streams/topics/browse.produced/messages', {
      body: { key: 'customer-7', value: '{"total": 42}', headers: { origin: 'dashboard' }, partition: 2 },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { topic: 'browse.produced', partition: 2, offset: 0 });
    const consumed = await run(kcat, [
      '-b',
      `127.0.0.1:${broker.kafkaPort}`,
      '-C',
      '-t',
      'browse.produced',
      '-p',
      '2',
      '-o',
      'beginning',
      '-e',
      '-q',
      '-f',
      '%k|%h|%s\\n',
    ]);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.equal(consumed.stdout.trim(), 'customer-7|origin=dashboard|{"total": 42}');

    // without a partition the key picks one as a Java producer's default partitioner would: the same one each time
    const a = await api(broker, 'POST', '/api/streams/topics/browse.produced/messages', { body: { key: 'same-key', value: 'one' } });
    const b = await api(broker, 'POST', '/api/streams/topics/browse.produced/messages', { body: { key: 'same-key', value: 'two' } });
    assert.equal(a.body.partition, b.body.partition);
    assert.equal(b.body.offset, a.body.offset + 1);
    // base64 values, and the refusals
    const raw = await api(broker, 'POST', '/api/streams/topics/browse.produced/messages', {
      body: { value: Buffer.from([1, 2, 3]).toString('base64'), value_encoding: 'base64', partition: 0 },
    });
    assert.equal(raw.status, 200);
    const back = await get(broker, `/api/streams/topics/browse.produced/messages?partition=0&from=offset&offset=${raw.body.offset}`);
    assert.equal(back.records[0].value.data, Buffer.from([1, 2, 3]).toString('base64'));
    assert.equal((await api(broker, 'POST', '/api/streams/topics/browse.produced/messages', { body: { value: 'x', partition: 9 } })).status, 404);
    assert.equal((await api(broker, 'POST', '/api/streams/topics/no.such.topic/messages', { body: { value: 'x' } })).status, 404);
    // a form from another site is refused before it is read (request-guard.ts), as every state-changing route
    const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
    const form = await fetch(`${broker.httpUrl}/api/streams/topics/browse.produced/messages`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'text/plain' },
      body: 'value=x',
    });
    assert.equal(form.status, 415);
    const crossSite = await fetch(`${broker.httpUrl}/api/streams/topics/browse.produced/messages`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
      body: JSON.stringify({ value: 'x' }),
    });
    assert.equal(crossSite.status, 403);
    assert.equal((await get(broker, '/api/streams/topics/browse.produced')).messages, 4, 'the refused requests wrote nothing');
  });

  test('produce and consume rates per topic and partition: counters and *_details.rate in the topic API', async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.rates', numPartitions: 2 }] });
    const consumer = kafka.consumer({ groupId: 'rates-reader', ...CONSUMER_SETTINGS });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: 'browse.rates', fromBeginning: true });
    let seen = 0;
    await consumer.run({ eachMessage: async () => void seen++ });
    const rated = until('non-zero produce and consume rates', async () => {
      await producer.send({
        topic: 'browse.rates',
        acks: -1,
        messages: [
          { partition: 0, value: 'x'.repeat(100) },
          { partition: 0, value: 'y'.repeat(100) },
          { partition: 1, value: 'z' },
        ],
      });
      const t = await get(broker, '/api/streams/topics/browse.rates');
      const s = t.message_stats;
      return s.records_in_details.rate > 0 && s.bytes_in_details.rate > 0 && s.records_out_details.rate > 0 && s.bytes_out_details.rate > 0 ? t : undefined;
    });
    const t = await rated;
    const p0 = t.partition_details[0].message_stats;
    const p1 = t.partition_details[1].message_stats;
    // partition 0 gets two records per send, partition 1 one: its counters are exact
    assert.equal(p0.records_in, 2 * p1.records_in);
    assert.equal(t.message_stats.records_in, p0.records_in + p1.records_in);
    assert.ok(p0.bytes_in > 200, `partition 0 took its 100-byte values: ${p0.bytes_in} bytes in`);
    assert.ok(t.message_stats.records_out > 0 && seen > 0);
    await consumer.stop();
  });

  test('retention and cleanup show their effective values and where each comes from', async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.configs', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    const t = await get(broker, '/api/streams/topics/browse.configs');
    assert.deepEqual(t.effective_configs['retention.ms'], { value: '3600000', source: 'topic' });
    assert.deepEqual(t.effective_configs['cleanup.policy'], { value: 'delete', source: 'default' });
    assert.deepEqual(t.effective_configs['retention.bytes'], { value: '-1', source: 'default' });
    assert.equal(t.effective_configs['segment.bytes'].source, 'default');
    assert.deepEqual(t.configs, { 'retention.ms': '3600000' });
  });

  test("resetting a group's offsets is refused while it has members, and a consumer then resumes from the new position", async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.reset', numPartitions: 1 }] });
    await producer.send({
      topic: 'browse.reset',
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}`, timestamp: String(Date.now() - (10 - i) * 60_000) })),
    });
    const first = kafka.consumer({ groupId: 'resetters', ...CONSUMER_SETTINGS });
    consumers.push(first);
    await first.connect();
    await first.subscribe({ topic: 'browse.reset', fromBeginning: true });
    let consumed = 0;
    await first.run({ autoCommitInterval: 50, eachMessage: async () => void consumed++ });
    await until('the group to commit offset 10', async () => {
      const g = (await api(broker, 'GET', '/api/streams/groups/resetters')).body;
      return consumed === 10 && g?.offsets?.[0]?.committed_offset === 10 ? g : undefined;
    });

    const busy = await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', { body: { to: 'earliest', topic: 'browse.reset' } });
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error, 'conflict');
    assert.match(busy.body.reason, /can only be reset if the group 'resetters' is inactive, but the current state is Stable/);
    await first.disconnect();
    await until('the group to empty', async () => ((await get(broker, '/api/streams/groups/resetters')).members.length === 0 ? true : undefined));

    const dry = await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', { body: { to: 'earliest', dry_run: true } });
    assert.equal(dry.status, 200);
    assert.deepEqual(dry.body.offsets, [{ topic: 'browse.reset', partition: 0, previous_offset: 10, offset: 0 }]);
    assert.equal((await get(broker, '/api/streams/groups/resetters')).offsets[0].committed_offset, 10);

    // out of range: clamped into the log, as kafka-consumer-groups does
    const past = await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', { body: { to: 'offset', offset: 1_000_000, dry_run: true } });
    assert.equal(past.body.offsets[0].offset, 10);
    const byTime = await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', {
      body: { to: 'timestamp', timestamp: Date.now() - 4.5 * 60_000, dry_run: true },
    });
    assert.equal(byTime.body.offsets[0].offset, 6);

    const reset = await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', { body: { to: 'offset', offset: 7, topic: 'browse.reset' } });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    assert.deepEqual(reset.body.offsets, [{ topic: 'browse.reset', partition: 0, previous_offset: 10, offset: 7 }]);
    const g = await get(broker, '/api/streams/groups/resetters');
    assert.equal(g.offsets[0].committed_offset, 7);
    assert.equal(g.total_lag, 3);

    const second = kafka.consumer({ groupId: 'resetters', ...CONSUMER_SETTINGS });
    consumers.push(second);
    await second.connect();
    await second.subscribe({ topic: 'browse.reset', fromBeginning: true });
    const offsets: string[] = [];
    await second.run({ eachMessage: async ({ message }) => void offsets.push(message.offset) });
    await until('the consumer to read on from offset 7', async () => (offsets.length >= 3 ? true : undefined));
    assert.deepEqual(offsets.slice(0, 3), ['7', '8', '9']);
    await second.stop();

    assert.equal((await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', { body: { to: 'sideways' } })).status, 400);
    assert.equal((await api(broker, 'POST', '/api/streams/groups/nobody/reset-offsets', { body: { to: 'latest' } })).status, 400);
  });

  test('browsing needs read and producing write on the topic in the Kafka vhost', async () => {
    await admin.createTopics({ topics: [{ topic: 'browse.private', numPartitions: 1 }] });
    await producer.send({ topic: 'browse.private', acks: -1, messages: [{ value: 'secret' }] });
    assert.equal((await api(broker, 'PUT', '/api/users/reader', { body: { password: 'pw', tags: 'management' } })).status, 201);
    assert.equal((await api(broker, 'PUT', '/api/permissions/%2F/reader', { body: { configure: '', write: '', read: '^browse\\.private$' } })).status, 201);
    const reader = ['reader', 'pw'] as const;
    const read = await api(broker, 'GET', '/api/streams/topics/browse.private/messages?from=earliest', { auth: reader });
    assert.equal(read.status, 200);
    assert.equal(read.body.records[0].value.data, 'secret');
    const write = await api(broker, 'POST', '/api/streams/topics/browse.private/messages', { auth: reader, body: { value: 'x' } });
    assert.equal(write.status, 403);
    assert.match(write.body.reason, /no write permission on topic 'browse.private'/);
    assert.equal((await api(broker, 'GET', '/api/streams/topics/browse.mixed/messages', { auth: reader })).status, 403);
    assert.equal((await api(broker, 'POST', '/api/streams/groups/resetters/reset-offsets', { auth: reader, body: { to: 'latest' } })).status, 403);
  });
});
