/**
 * Unbounded listings: `GET /api/channels` over 100,000 channels built a 50 MB string in one piece (2.35 s)
 * and stalled every AMQP client meanwhile. Listings now build, filter and sort in 2 ms slices and write an
 * unpaged answer as chunked JSON; `page`/`page_size` answer one page in RabbitMQ's shape. Here 20,000
 * channels over 10 connections and 1,000 queues, with a canary publishing with confirms on its own
 * connection. The broker is a child process. Worst canary latency in this test ~340 ms on 2 shared CPUs, most
 * of it this process's own JSON.parse of the 10 MB answers (the canary lives in this process); with curl
 * doing five /api/channels listings and the canary alone in its process: 63 ms (251 ms before the change).
 */
import { get as httpGet, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tempDataDir, type TestBroker } from '../helpers/broker.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { startCanary, type Canary } from '../helpers/canary.js';
import { AmqpClient } from '../../src/client/amqp/index.js';
import { api } from '../management/helpers.js';
import { M_CHANNEL_OPEN, M_CHANNEL_OPEN_OK, M_QUEUE_DECLARE, M_QUEUE_DECLARE_OK, encodeMethodFrame } from '../../src/protocol/amqp/generated/spec.js';

const CONNECTIONS = 10;
const CHANNELS_PER_CONNECTION = 2_000;
const QUEUES = 1_000;
const PAGE_KEYS = ['filtered_count', 'item_count', 'items', 'page', 'page_count', 'page_size', 'total_count'];

describe('unbounded listings', () => {
  let child: BrokerProcess;
  let dataDir: string;
  /** what the HTTP helpers need of a broker: its URLs */
  let broker: TestBroker;
  let canary: Canary;
  const clients: AmqpClient[] = [];
  const ports = new Set<number>();

  before(async () => {
    dataDir = tempDataDir();
    child = await spawnBroker(dataDir);
    broker = { amqpPort: child.amqpPort, url: `amqp://guest:guest@127.0.0.1:${child.amqpPort}`, httpUrl: `http://127.0.0.1:${child.httpPort}` } as TestBroker;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const client = await AmqpClient.open(broker.amqpPort);
        clients.push(client);
        ports.add(client.socket.localPort!);
        const frames: Buffer[] = [];
        for (let ch = 1; ch <= CHANNELS_PER_CONNECTION; ch++) frames.push(encodeMethodFrame(ch, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } }));
        client.write(Buffer.concat(frames));
        for (let i = 0; i < CHANNELS_PER_CONNECTION; i++) await client.expect(M_CHANNEL_OPEN_OK);
      }),
    );
    const declares: Buffer[] = [];
    for (let i = 0; i < QUEUES; i++) {
      const queue = `listed.${String(i).padStart(5, '0')}`;
      declares.push(
        encodeMethodFrame(1, {
          id: M_QUEUE_DECLARE,
          args: { ticket: 0, queue, passive: false, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: {} },
        }),
      );
    }
    clients[0]!.write(Buffer.concat(declares));
    for (let i = 0; i < QUEUES; i++) await clients[0]!.expect(M_QUEUE_DECLARE_OK, 1);
    // the canary starts once the crowd is in place: it measures the listings, not the setup
    canary = await startCanary(broker.url);
  });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    const r = await canary.stop();
    process.stderr.write(`listings: canary confirmed ${r.confirmed}, worst latency ${r.worstLatencyMs} ms\n`);
    child.child.kill('SIGTERM');
    await child.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** GET `path` (guest); returns the status, headers and parsed body */
  async function getJson(path: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: any }> {
    const res = await new Promise<IncomingMessage>((resolve, reject) => httpGet(broker.httpUrl + path, { auth: 'guest:guest' }, resolve).on('error', reject));
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return { status: res.statusCode!, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  }

  test('GET /api/channels lists every one of 20,000 channels, streamed in chunks, sorted, while the canary is served', async () => {
    const r = await getJson('/api/channels');
    assert.equal(r.status, 200);
    // written in pieces (chunked), not as one string with a length
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    const ours = r.body.filter((c: any) => ports.has(c.connection_details.peer_port));
    assert.equal(ours.length, CONNECTIONS * CHANNELS_PER_CONNECTION);
    assert.equal(new Set(ours.map((c: any) => c.name)).size, ours.length);
    for (let i = 1; i < r.body.length; i++) assert.ok(r.body[i - 1].name <= r.body[i].name, `sorted by name at ${i}`);
    await canary.check();
  });

  test("paged channels come in RabbitMQ's page shape, and the pages together are the whole listing", async () => {
    const whole = (await getJson('/api/channels?columns=name')).body.map((c: any) => c.name);
    const seen: string[] = [];
    const first = await getJson('/api/channels?page=1&page_size=500&columns=name,number');
    assert.deepEqual(Object.keys(first.body).sort(), PAGE_KEYS);
    assert.equal(first.body.page_size, 500);
    assert.equal(first.body.total_count, whole.length);
    assert.equal(first.body.filtered_count, whole.length);
    assert.equal(first.body.page_count, Math.ceil(whole.length / 500));
    assert.deepEqual(Object.keys(first.body.items[0]).sort(), ['name', 'number']);
    for (let page = 1; page <= first.body.page_count; page++) {
      const r = page === 1 ? first : await getJson(`/api/channels?page=${page}&page_size=500&columns=name,number`);
      assert.equal(r.body.page, page);
      assert.equal(r.body.item_count, r.body.items.length);
      seen.push(...r.body.items.map((c: any) => c.name));
      if (page % 10 === 0) await canary.check();
    }
    assert.deepEqual(seen, whole);
    const tooBig = await api(broker, 'GET', '/api/channels?page=1&page_size=501');
    assert.equal(tooBig.status, 400);
  });

  test('paging with a regex name filter counts total and filtered rows as RabbitMQ does', async () => {
    const r = await getJson(`/api/queues/%2F?page=2&page_size=100&use_regex=true&name=${encodeURIComponent('^listed\\.00[0-4]')}&sort=name&sort_reverse=true`);
    assert.equal(r.status, 200);
    assert.equal(r.body.filtered_count, 500);
    assert.ok(r.body.total_count >= QUEUES);
    assert.equal(r.body.page_count, 5);
    assert.equal(r.body.items[0].name, 'listed.00399');
    assert.equal(r.body.items[99].name, 'listed.00300');
  });

  test('queues, exchanges, bindings, consumers, connections and the definitions export are complete', async () => {
    const queues = (await getJson('/api/queues')).body.filter((q: any) => q.name.startsWith('listed.'));
    assert.equal(queues.length, QUEUES);
    assert.deepEqual(
      queues.map((q: any) => q.name),
      Array.from({ length: QUEUES }, (_, i) => `listed.${String(i).padStart(5, '0')}`),
    );
    const bindings = (await getJson('/api/bindings/%2F')).body.filter((b: any) => b.destination.startsWith('listed.'));
    assert.equal(bindings.length, QUEUES);
    const connections = (await getJson('/api/connections')).body.filter((c: any) => ports.has(c.peer_port));
    assert.equal(connections.length, CONNECTIONS);
    const exchanges = await getJson('/api/exchanges');
    assert.ok(exchanges.body.some((e: any) => e.name === 'amq.topic'));
    assert.ok(Array.isArray((await getJson('/api/consumers')).body));
    const definitions = await getJson('/api/definitions');
    assert.equal(definitions.headers['transfer-encoding'], 'chunked');
    assert.equal(definitions.body.queues.filter((q: any) => q.name.startsWith('listed.')).length, QUEUES);
    assert.ok(Array.isArray(definitions.body.bindings) && Array.isArray(definitions.body.users));
    await canary.check();
  });
});
