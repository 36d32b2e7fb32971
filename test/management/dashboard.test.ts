/**
 * The web dashboard end to end, in real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * a real broker with AMQP traffic (amqplib) and a Kafka topic (kafkajs), and a user who logs in and reads and
 * acts through the pages. Waits are guards on what the page shows, never timing assertions. A screenshot of
 * the overview is saved to test-artifacts/dashboard.png.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { delay, startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';

const CHROMIUM = '/usr/bin/chromium';
const INSTALL_HINT = `no Chromium at ${CHROMIUM}: install it with 'apt-get install -y chromium' (Debian; .ci/run does this)`;
/** the longest any wait for the page may take before the test fails (a guard, not a timing assertion), ms */
const GUARD_MS = 20_000;
const ARTIFACTS = join(process.cwd(), 'test-artifacts');

const QUEUE = 'dashboard.orders';
const TOPIC = 'dashboard-events';
const TOPIC_PARTITIONS = 3;
const RECORDS_PER_PARTITION = 2;
const GROUP = 'dashboard-billing';
const ALERTING_QUEUE = 'dashboard.alerting';
const CLIENT_ID = 'dashboard-test';
const BOUND_EXCHANGE = 'dashboard.routing';
const BOUND_KEY = 'orders.gold';

/** the cells of one row of a page table (by its aria-label), keyed by column header */
type Row = Record<string, string>;

/** the first row of the table labelled `label` whose cells include `match` (by column header), or null (runs in the page) */
function findRow({ label, match }: { label: string; match: Row }): Row | null {
  const table = document.querySelector(`table[aria-label="${CSS.escape(label)}"]`);
  if (table === null) return null;
  const headers = [...table.querySelectorAll('thead th')].map((th) => th.textContent?.trim() ?? '');
  for (const tr of table.querySelectorAll('tbody tr')) {
    const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '');
    const row: Record<string, string> = {};
    headers.forEach((header, i) => (row[header] = cells[i] ?? ''));
    if (Object.entries(match).every(([k, v]) => row[k] === v)) return row;
  }
  return null;
}

/**
 * Wait until the table labelled `label` has a row matching `match` whose other cells are `expected` (pages
 * refresh on their own every few seconds); fails with the row as last seen.
 */
async function waitForRow(page: Page, label: string, match: Row, expected: Row = {}): Promise<Row> {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const row = await page.evaluate(findRow, { label, match });
    if (row !== null && Object.entries(expected).every(([k, v]) => row[k] === v)) return row;
    if (Date.now() > deadline)
      assert.fail(`table '${label}': expected a row ${JSON.stringify(match)} with ${JSON.stringify(expected)}, saw ${JSON.stringify(row)}`);
    await delay(100);
  }
}

/** the text of the card labelled `label` once it is `expected` (or as soon as the card shows, when omitted) */
async function cardValue(page: Page, label: string, expected?: string): Promise<string> {
  const read = () => page.evaluate((label) => document.querySelector(`.card[aria-label="${label}"] .card-value`)?.textContent ?? null, label);
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const value = await read();
    if (value !== null && (expected === undefined || value === expected)) return value;
    if (Date.now() > deadline) assert.fail(`card '${label}': expected ${expected ?? 'a value'}, saw ${value ?? 'no such card'}`);
    await delay(100);
  }
}

async function openSection(page: Page, name: string, heading: string | RegExp): Promise<void> {
  // the Alerts link may carry a count of firing alerts after its label
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: new RegExp(`^${name}( \\d+.*)?$`) })
    .click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: GUARD_MS });
}

describe('web dashboard in headless Chromium', () => {
  let broker: TestBroker;
  let connection: ChannelModel;
  let channel: Channel;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let consumer: Consumer | undefined;
  let browser: Browser;
  let page: Page;
  /** console errors and uncaught exceptions, from the first page load on */
  const pageProblems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(INSTALL_HINT);
    broker = await startTestBroker();

    connection = await amqp.connect(broker.url);
    channel = await connection.createChannel();
    await channel.assertQueue(QUEUE, { durable: true });
    for (let i = 1; i <= 3; i++) channel.sendToQueue(QUEUE, Buffer.from(`order ${i}`), { persistent: true });
    // a round-trip on the same channel: every publish before it has been routed
    assert.equal((await channel.checkQueue(QUEUE)).messageCount, 3);

    kafka = new Kafka({ clientId: CLIENT_ID, brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: TOPIC_PARTITIONS }] });
    producer = kafka.producer();
    await producer.connect();
    const messages = [];
    for (let partition = 0; partition < TOPIC_PARTITIONS; partition++) {
      for (let i = 0; i < RECORDS_PER_PARTITION; i++) messages.push({ partition, value: `event ${partition}.${i}` });
    }
    await producer.send({ topic: TOPIC, acks: -1, messages });

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console error: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (err) => pageProblems.push(`uncaught: ${err.message}`));
  });

  after(async () => {
    await browser?.close();
    await consumer?.disconnect();
    await producer?.disconnect();
    await admin?.disconnect();
    await connection?.close().catch(() => {});
    await broker?.stop();
  });

  test('the page and its files are served without credentials, and no file outside the dashboard is', async () => {
    const index = await fetch(`${broker.httpUrl}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await index.text(), /<script type="module" src="\/ui\/app\.js">/);
    for (const [file, type] of [
      ['app.js', /^text\/javascript/],
      ['style.css', /^text\/css/],
      ['favicon.svg', /^image\/svg\+xml/],
    ] as const) {
      const res = await fetch(`${broker.httpUrl}/ui/${file}`);
      assert.equal(res.status, 200, file);
      assert.match(res.headers.get('content-type') ?? '', type, file);
    }
    for (const path of ['/ui/..%2Fui.ts', '/ui/..%2F..%2F..%2Fpackage.json', '/ui/.hidden.js', '/ui/no-such-file.js', '/ui/index.ts']) {
      const res = await fetch(broker.httpUrl + path);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: string }).error, 'not_found', path);
    }
    // the API itself still wants credentials
    assert.equal((await fetch(`${broker.httpUrl}/ui/api-routes`)).status, 401);
    assert.equal((await fetch(`${broker.httpUrl}/api/overview`)).status, 401);
  });

  test('a user logs in with the form (guest/guest prefilled) and lands on the overview', async () => {
    await page.goto(`${broker.httpUrl}/`);
    const form = page.getByRole('form', { name: 'Log in' });
    await form.waitFor({ timeout: GUARD_MS });
    assert.equal(await page.getByLabel('Username').inputValue(), 'guest');
    await page.getByLabel('Password').fill('guest');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: GUARD_MS });
    assert.equal(await page.locator('header .who').textContent(), 'guest');
    // a reload keeps the session (credentials live in sessionStorage)
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: GUARD_MS });
  });

  test('the overview shows object and message counts and live charts of message rates and queue depths', async () => {
    assert.ok(Number(await cardValue(page, 'Queues', '1')) >= 1);
    await cardValue(page, 'Ready', '3');
    assert.ok(Number(await cardValue(page, 'Connections')) >= 1, 'the AMQP connection is counted');
    // the rate chart has gathered at least two samples and its legend shows a rate for each series
    await page.waitForFunction(() => Number(document.querySelector('canvas[aria-label^="Message rates"]')?.getAttribute('data-points')) >= 2, undefined, {
      timeout: GUARD_MS,
    });
    const legend = page.getByRole('list', { name: 'Message rates legend' });
    for (const series of ['publish', 'deliver', 'ack']) {
      assert.match((await legend.locator(`li[data-series="${series}"] strong`).textContent()) ?? '', /^\d[\d,]*\.\d\/s$/, `${series} rate`);
    }
    // the depth chart draws one bar for the queue, 3 ready and 0 unacked
    const depths = page.locator('canvas[aria-label^="Queue depths"]');
    await page.waitForFunction(
      () => document.querySelector('canvas[aria-label^="Queue depths"]')?.getAttribute('aria-label')?.includes('dashboard.orders 3 Ready 0 Unacked'),
      undefined,
      { timeout: GUARD_MS },
    );
    assert.equal(await depths.getAttribute('data-bars'), '1');
    // and the canvases really have ink on them
    const painted = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLCanvasElement>('canvas.chart')].map((canvas) => {
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) inked++;
        return { label: canvas.getAttribute('aria-label')?.split(':')[0], width: canvas.width, inked };
      }),
    );
    assert.equal(painted.length, 3, JSON.stringify(painted));
    for (const chart of painted) assert.ok(chart.width > 100 && chart.inked > 500, `chart drawn: ${JSON.stringify(chart)}`);
  });

  test('the queues list shows the declared queue with its depth', async () => {
    await openSection(page, 'Queues', 'Queues');
    const row = await waitForRow(page, 'Queues', { Name: QUEUE }, { Ready: '3', Unacked: '0', Total: '3' });
    assert.equal(row['Virtual host'], '/');
    assert.equal(row.Features, 'D');
  });

  test('on the queue page a user publishes a message and gets it back with its payload, leaving it queued', async () => {
    await page.getByRole('link', { name: QUEUE, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Queue ${QUEUE}` }).waitFor({ timeout: GUARD_MS });
    assert.match(page.url(), /#\/queues\/%2F\/dashboard\.orders$/);
    await cardValue(page, 'Ready', '3');

    const publish = page.getByRole('form', { name: 'Publish message' });
    assert.equal(await publish.getByLabel('Routing key').inputValue(), QUEUE);
    await publish.getByLabel('Payload').fill('hello from the dashboard');
    await publish.getByRole('button', { name: 'Publish message' }).click();
    await publish.getByText('Message published.', { exact: true }).waitFor({ timeout: GUARD_MS });
    await cardValue(page, 'Ready', '4');

    const get = page.getByRole('form', { name: 'Get messages' });
    assert.equal(await get.getByLabel('Ack mode').inputValue(), 'ack_requeue_true');
    await get.getByLabel('Messages', { exact: true }).fill('4');
    await get.getByRole('button', { name: 'Get messages' }).click();
    await get.getByText('4 messages.', { exact: true }).waitFor({ timeout: GUARD_MS });
    const payloads = await get.locator('pre.payload').allTextContents();
    assert.deepEqual(payloads, ['order 1', 'order 2', 'order 3', 'hello from the dashboard']);
    const last = get.getByRole('article', { name: 'Message 4' });
    assert.match((await last.textContent()) ?? '', /Routing key\s*dashboard\.orders/);
    // requeued: the queue still holds all four
    await cardValue(page, 'Ready', '4');
    assert.equal((await channel.checkQueue(QUEUE)).messageCount, 4);
  });

  test('purging the queue from its page, after confirming, empties it', async () => {
    await page.getByRole('button', { name: 'Purge messages' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await channel.checkQueue(QUEUE)).messageCount, 4, 'cancel purges nothing');
    await page.getByRole('button', { name: 'Purge messages' }).click();
    await page.getByRole('button', { name: 'Yes, purge' }).click();
    await page.getByText('Queue purged.', { exact: true }).waitFor({ timeout: GUARD_MS });
    await cardValue(page, 'Ready', '0');
    assert.equal((await channel.checkQueue(QUEUE)).messageCount, 0);
  });

  test('the topics page lists a Kafka topic with its partitions, and its page shows each partition', async () => {
    await openSection(page, 'Topics', 'Topics');
    await waitForRow(page, 'Topics', { Name: TOPIC }, { Partitions: String(TOPIC_PARTITIONS), Messages: String(TOPIC_PARTITIONS * RECORDS_PER_PARTITION) });
    await page.getByRole('link', { name: TOPIC, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Topic ${TOPIC}` }).waitFor({ timeout: GUARD_MS });
    for (let partition = 0; partition < TOPIC_PARTITIONS; partition++) {
      await waitForRow(page, 'Partitions', { Partition: String(partition) }, { 'Log start offset': '0', 'High watermark': String(RECORDS_PER_PARTITION) });
    }
  });

  test('the exchanges page lists the standard exchanges, and an exchange page shows its type', async () => {
    await openSection(page, 'Exchanges', 'Exchanges');
    await waitForRow(page, 'Exchanges', { Name: 'amq.default' }, { Type: 'direct' });
    await waitForRow(page, 'Exchanges', { Name: 'amq.topic' }, { Type: 'topic' });
    await page.getByRole('link', { name: 'amq.topic', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Exchange amq.topic' }).waitFor({ timeout: GUARD_MS });
    await page.locator('table.facts').getByText('topic', { exact: true }).waitFor({ timeout: GUARD_MS });
  });

  test("the bindings page lists the queue's binding from the default exchange", async () => {
    await openSection(page, 'Bindings', 'Bindings');
    await waitForRow(page, 'Bindings', { Destination: QUEUE }, { Source: '(default exchange)', Type: 'queue', 'Routing key': QUEUE });
    // its routing key leads to its page, which explains why it cannot be unbound
    const row = page.locator('table[aria-label="Bindings"] tbody tr', { hasText: '(default exchange)' }).filter({ hasText: QUEUE });
    await row.locator('td').nth(4).getByRole('link', { name: QUEUE, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Binding amq.default → ${QUEUE}` }).waitFor({ timeout: GUARD_MS });
    await page.getByText('that binding cannot be removed').waitFor({ timeout: GUARD_MS });
    assert.equal(await page.getByRole('button', { name: 'Unbind', exact: true }).count(), 0);
  });

  test("a binding's page shows its ends, routing key and arguments, and unbinding it there removes it from the broker", async () => {
    await channel.assertExchange(BOUND_EXCHANGE, 'direct', { durable: false });
    await channel.bindQueue(QUEUE, BOUND_EXCHANGE, BOUND_KEY, { tier: 'gold' });
    await openSection(page, 'Bindings', 'Bindings');
    await waitForRow(page, 'Bindings', { Source: BOUND_EXCHANGE }, { Destination: QUEUE, 'Routing key': BOUND_KEY, Arguments: 'tier: gold' });
    await page.getByRole('link', { name: BOUND_KEY, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Binding ${BOUND_EXCHANGE} → ${QUEUE}` }).waitFor({ timeout: GUARD_MS });
    const facts = page.locator('table.facts');
    await facts.getByText(BOUND_KEY, { exact: true }).waitFor({ timeout: GUARD_MS });
    await facts.getByText('tier: gold', { exact: true }).waitFor({ timeout: GUARD_MS });
    await page.getByRole('button', { name: 'Unbind', exact: true }).click();
    await page.getByRole('button', { name: 'Yes, unbind' }).click();
    await page.getByRole('heading', { level: 1, name: 'Bindings' }).waitFor({ timeout: GUARD_MS });
    const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
    const left = await fetch(`${broker.httpUrl}/api/bindings/%2F/e/${BOUND_EXCHANGE}/q/${QUEUE}`, { headers: { Authorization: auth } });
    assert.deepEqual(await left.json(), [], 'the binding is gone from the broker');
    await waitForRow(page, 'Bindings', { Destination: QUEUE }, { Source: '(default exchange)' });
    assert.equal(await page.evaluate(findRow, { label: 'Bindings', match: { Source: BOUND_EXCHANGE } }), null, 'the list no longer shows it');
  });

  test("the connections page lists the test's AMQP connection, and its page shows its channel", async () => {
    await openSection(page, 'Connections', 'Connections');
    await page.locator('table[aria-label="Connections"] tbody tr:not(.empty)').first().waitFor({ timeout: GUARD_MS });
    // the Kafka clients are the guest's too (a loopback client without SASL): pick the AMQP one
    const row = page.locator('table[aria-label="Connections"] tbody tr', { hasText: 'AMQP 0-9-1' }).first();
    assert.match((await row.textContent()) ?? '', /guest/);
    await row.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: /^Connection / }).waitFor({ timeout: GUARD_MS });
    await page.locator('table[aria-label="Channels"] tbody tr:not(.empty)').first().waitFor({ timeout: GUARD_MS });
  });

  test('the consumer groups page lists a Kafka consumer group with its member and lag, and its page shows committed offsets', async () => {
    consumer = kafka.consumer({ groupId: GROUP });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    let consumed = 0;
    await consumer.run({
      eachMessage: async () => {
        consumed++;
      },
    });
    await waitFor(() => consumed === TOPIC_PARTITIONS * RECORDS_PER_PARTITION, GUARD_MS, 'the consumer group to read every record');

    await openSection(page, 'Consumer groups', 'Consumer groups');
    await waitForRow(page, 'Consumer groups', { Group: GROUP }, { State: 'Stable', Members: '1', Lag: '0' });
    await page.getByRole('link', { name: GROUP, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Consumer group ${GROUP}` }).waitFor({ timeout: GUARD_MS });
    const member = await waitForRow(page, 'Members', { 'Client id': CLIENT_ID });
    assert.equal(member['Assigned partitions'], `${TOPIC}: 0, 1, 2`);
    for (let partition = 0; partition < TOPIC_PARTITIONS; partition++) {
      const committed = String(RECORDS_PER_PARTITION);
      await waitForRow(
        page,
        'Committed offsets',
        { Topic: TOPIC, Partition: String(partition) },
        { 'Committed offset': committed, 'High watermark': committed, Lag: '0' },
      );
    }
  });

  test('the alerts page shows an alert rule firing for a queue that has built up, and the nav counts it', async () => {
    await channel.assertQueue(ALERTING_QUEUE, { durable: false });
    channel.sendToQueue(ALERTING_QUEUE, Buffer.from('waiting'));
    assert.equal((await channel.checkQueue(ALERTING_QUEUE)).messageCount, 1);
    const rule = await fetch(`${broker.httpUrl}/api/alert-rules/dashboard-depth`, {
      method: 'PUT',
      headers: { Authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ kind: 'queue_depth', queue: `^${ALERTING_QUEUE.replace('.', '\\.')}$`, threshold: 0, for_ms: 0 }),
    });
    assert.ok(rule.status === 201 || rule.status === 204, `PUT /api/alert-rules/dashboard-depth → ${rule.status} ${await rule.text()}`);

    await openSection(page, 'Alerts', 'Alerts');
    // the page shows summary cards once /api/alerts has answered, or says the route is not available
    await page.locator('.card[aria-label="Firing"], .not-available').first().waitFor({ timeout: GUARD_MS });
    assert.deepEqual(await page.locator('.not-available').allTextContents(), []);
    await waitForRow(page, 'Alerts', { Name: 'dashboard-depth' }, { State: 'firing' });
    await cardValue(page, 'Firing', '1');
    // the nav count is refreshed by its own poll of /api/alerts, which may land after the page's
    const navCount = page.getByRole('navigation', { name: 'Main' }).locator('.nav-count');
    await page
      .waitForFunction(() => document.querySelector('nav[aria-label="Main"] .nav-count')?.textContent === '1', undefined, { timeout: GUARD_MS })
      .catch(() => undefined);
    assert.equal(await navCount.textContent(), '1');
  });

  test('a screenshot of the overview is saved, and no page logged a console error or threw', async () => {
    await openSection(page, 'Overview', 'Overview');
    await page.waitForFunction(() => Number(document.querySelector('canvas[aria-label^="Message rates"]')?.getAttribute('data-points')) >= 2, undefined, {
      timeout: GUARD_MS,
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok(existsSync(file));
    assert.deepEqual(pageProblems, []);
  });

  // after the screenshot, which shows the alert firing
  test('the alert clears on the alerts page and the nav count goes once the queue is drained, with no console error', async () => {
    await channel.purgeQueue(ALERTING_QUEUE);
    await openSection(page, 'Alerts', 'Alerts');
    await waitForRow(page, 'Alerts', { Name: 'dashboard-depth' }, { State: 'ok' });
    await cardValue(page, 'Firing', '0');
    // the nav count is refreshed by its own poll of /api/alerts; with nothing firing it is hidden
    await page.waitForFunction(() => (document.querySelector('nav[aria-label="Main"] .nav-count') as HTMLElement | null)?.hidden === true, undefined, {
      timeout: GUARD_MS,
    });
    assert.deepEqual(pageProblems, []);
  });
});
