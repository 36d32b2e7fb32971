/**
 * The dashboard's Kafka pages in real headless Chromium (Debian's `chromium`, driven by playwright-core): a
 * topic with records from kafkajs shows its produce and consume rates and effective configs, its messages
 * are browsed and a test record is produced from the page; a consumer group's lag is charted and its
 * offsets are reset after a confirmation, and a kafkajs consumer resumes there. Screenshots of the pages go
 * to test-artifacts/, or with POSTBOX_DOC_SCREENSHOTS=1 to docs/images/ (they illustrate docs/dashboard.md).
 * Waits are guards on what the page shows, never timing assertions.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { delay, startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';
import { findRepoFile } from '../helpers/external.js';
import { get } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const INSTALL_HINT = `no Chromium at ${CHROMIUM}: install it with 'apt-get install -y chromium' (Debian; .ci/run does this)`;
/** the longest any wait for the page may take before the test fails (a guard, not a timing assertion), ms */
const GUARD_MS = 20_000;
const TOPIC = 'orders-stream';
const GROUP = 'order-billing';
const CONSUMER_SETTINGS = { sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 100, maxWaitTimeInMs: 100 };

/** the text of the card labelled `label` once `check` accepts it */
async function cardValue(page: Page, label: string, check: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const value = await page.evaluate((label) => document.querySelector(`.card[aria-label="${label}"] .card-value`)?.textContent ?? null, label);
    if (value !== null && check(value)) return value;
    if (Date.now() > deadline) assert.fail(`card '${label}': saw ${value ?? 'no such card'}`);
    await delay(100);
  }
}

describe('dashboard Kafka pages in headless Chromium', () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let consumer: Consumer | undefined;
  /** a second group reading along, so the topic consumes as well as produces */
  let audit: Consumer | undefined;
  let browser: Browser;
  let page: Page;
  let traffic: NodeJS.Timeout | undefined;
  const pageProblems: string[] = [];
  // docs/images/ when asked (POSTBOX_DOC_SCREENSHOTS=1 refreshes the docs' pictures), else test-artifacts/:
  // a test run leaves the tracked files alone
  const images = process.env.POSTBOX_DOC_SCREENSHOTS === '1' ? join(findRepoFile('docs/dashboard.md'), '..', 'images') : join(process.cwd(), 'test-artifacts');

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(INSTALL_HINT);
    mkdirSync(images, { recursive: true });
    broker = await startTestBroker({ statsIntervalMs: 500 });
    kafka = new Kafka({ clientId: 'dashboard-streams', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '86400000' }] }] });
    producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: TOPIC,
      acks: -1,
      messages: Array.from({ length: 6 }, (_, i) => ({
        partition: 0,
        key: `order-${i}`,
        value: JSON.stringify({ order: i, total: 10 * i, currency: 'EUR' }),
        headers: { source: 'checkout' },
      })),
    });
    // a group that read everything and left: its offsets can be reset
    consumer = kafka.consumer({ groupId: GROUP, ...CONSUMER_SETTINGS });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    let consumed = 0;
    await consumer.run({ autoCommitInterval: 50, eachMessage: async () => void consumed++ });
    await waitFor(() => consumed === 6, GUARD_MS, 'the group to read every record');
    const deadline = Date.now() + GUARD_MS;
    while ((await get(broker, `/api/streams/groups/${GROUP}`)).offsets.find((o: any) => o.partition === 0)?.committed_offset !== 6) {
      if (Date.now() > deadline) throw new Error('the group did not commit offset 6');
      await delay(50);
    }
    await consumer.disconnect();
    consumer = undefined;
    audit = kafka.consumer({ groupId: 'order-audit', ...CONSUMER_SETTINGS });
    await audit.connect();
    await audit.subscribe({ topic: TOPIC, fromBeginning: true });
    await audit.run({ eachMessage: async () => undefined });
    // light traffic on partition 1 so the rate charts have something to draw
    traffic = setInterval(
      () => void producer.send({ topic: TOPIC, acks: 1, messages: [{ partition: 1, value: `tick ${Date.now()}` }] }).catch(() => undefined),
      200,
    );

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (err) => pageProblems.push(`uncaught: ${err.message}`));
    await page.goto(`${broker.httpUrl}/`);
    await page.getByLabel('Password').fill('guest');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: GUARD_MS });
  });

  after(async () => {
    if (traffic !== undefined) clearInterval(traffic);
    await browser?.close();
    await consumer?.disconnect();
    await audit?.disconnect();
    await producer?.disconnect();
    await admin?.disconnect();
    await broker?.stop();
  });

  test('the topic page shows produce rates, a records-per-second chart and the effective retention and cleanup with their source', async () => {
    await page.goto(`${broker.httpUrl}/#/topics/${TOPIC}`);
    await page.getByRole('heading', { level: 1, name: `Topic ${TOPIC}` }).waitFor({ timeout: GUARD_MS });
    assert.equal(await cardValue(page, 'Retention', (t) => t !== ''), '1 d');
    assert.equal(await cardValue(page, 'Cleanup', (t) => t !== ''), 'delete (default)');
    await cardValue(page, 'Produced', (t) => /^\d[\d,]*\.\d\/s$/.test(t) && t !== '0.0/s');
    await cardValue(page, 'Consumed', (t) => /^\d[\d,]*\.\d\/s$/.test(t) && t !== '0.0/s');
    await page.waitForFunction(() => Number(document.querySelector('canvas[aria-label^="Records per second"]')?.getAttribute('data-points')) >= 3, undefined, {
      timeout: GUARD_MS,
    });
    // one partition's rates: partition 0 gets nothing after the first six records, partition 1 the ticks
    await page.getByLabel('Charts show').selectOption('0');
    await page.waitForFunction(
      () => /Produced 0\.0\/s/.test(document.querySelector('canvas[aria-label^="Records per second"]')?.getAttribute('aria-label') ?? ''),
      undefined,
      { timeout: GUARD_MS },
    );
    await page.getByLabel('Charts show').selectOption('1');
    await page.waitForFunction(
      () => /Produced [1-9][\d,]*\.\d\/s/.test(document.querySelector('canvas[aria-label^="Records per second"]')?.getAttribute('aria-label') ?? ''),
      undefined,
      { timeout: GUARD_MS },
    );
    await page.getByLabel('Charts show').selectOption('all');
    const config = page.getByRole('region', { name: 'Configuration' });
    const configRow = (name: string) =>
      config
        .locator('tr')
        .filter({ has: page.locator('th', { hasText: new RegExp(`^${name.replace(/\./g, '\\.')}$`) }) })
        .locator('td')
        .textContent();
    assert.equal(await configRow('retention.ms'), '86400000 (1 d) topic');
    assert.equal(await configRow('cleanup.policy'), 'delete default');
    assert.equal(await configRow('retention.bytes'), '-1 (unlimited) default');
    await page.screenshot({ path: join(images, 'dashboard-topic.png'), fullPage: true });
  });

  test('on the topic page a user browses records from an offset with keys, headers and pretty JSON, and produces a record that the browser then shows', async () => {
    const browse = page.getByRole('form', { name: 'Browse messages' });
    await browse.getByLabel('Partition').selectOption('0');
    await browse.getByLabel('Start at').selectOption('offset');
    await browse.getByLabel('Start offset').fill('2');
    await browse.getByRole('button', { name: 'Browse' }).click();
    await browse.getByText('4 records.', { exact: true }).waitFor({ timeout: GUARD_MS });
    const rows = browse.locator('table[aria-label="Records"] tbody tr');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.offset)), ['2', '3', '4', '5']);
    const first = rows.first();
    assert.match((await first.textContent()) ?? '', /order-2/);
    assert.match((await first.textContent()) ?? '', /source: checkout/);
    assert.equal(await first.locator('pre.payload').textContent(), JSON.stringify({ order: 2, total: 20, currency: 'EUR' }, null, 2));

    const produce = page.getByRole('form', { name: 'Produce record' });
    await produce.getByLabel('Key').fill('order-from-page');
    await produce.getByLabel('Partition').selectOption('0');
    await produce.getByLabel('Headers').fill('origin=dashboard');
    await produce.getByLabel('Value').fill('typed in the browser');
    await produce.getByRole('button', { name: 'Produce record' }).click();
    await produce.getByText('Produced to partition 0 at offset 6.', { exact: true }).waitFor({ timeout: GUARD_MS });

    await browse.getByLabel('Start at').selectOption('newest');
    await browse.getByLabel('Max records').fill('1');
    await browse.getByRole('button', { name: 'Browse' }).click();
    await browse.getByText('1 record.', { exact: true }).waitFor({ timeout: GUARD_MS });
    const newest = browse.locator('table[aria-label="Records"] tbody tr').first();
    assert.equal(await newest.getAttribute('data-offset'), '6');
    assert.match((await newest.textContent()) ?? '', /order-from-page.*origin: dashboard.*typed in the browser/s);
    await browse.getByLabel('Max records').fill('5');
    await browse.getByRole('button', { name: 'Browse' }).click();
    await browse.getByText('5 records.', { exact: true }).waitFor({ timeout: GUARD_MS });
    await page.getByRole('region', { name: 'Messages' }).screenshot({ path: join(images, 'dashboard-topic-messages.png') });
  });

  test("the group page charts lag and resets the group's offsets after a preview and a confirmation, and a consumer resumes there", async () => {
    await page.goto(`${broker.httpUrl}/#/groups/${GROUP}`);
    await page.getByRole('heading', { level: 1, name: `Consumer group ${GROUP}` }).waitFor({ timeout: GUARD_MS });
    // offset 6 committed on partition 0, which now holds 7 records (one produced from the page)
    await cardValue(page, 'Total lag', (t) => t === '1');
    const reset = page.getByRole('form', { name: 'Reset offsets' });
    await reset.getByLabel('Topic').selectOption(TOPIC);
    await reset.getByLabel('Reset to').selectOption('offset');
    await reset.getByLabel('Offset', { exact: true }).fill('3');
    await reset.getByRole('button', { name: 'Preview' }).click();
    await reset.getByText('Preview only: nothing changed yet.').waitFor({ timeout: GUARD_MS });
    assert.equal((await get(broker, `/api/streams/groups/${GROUP}`)).total_lag, 1, 'a preview changes nothing');

    await reset.getByRole('button', { name: 'Reset offsets' }).click();
    await reset.getByText(`Move the committed offsets of '${GROUP}' on topic '${TOPIC}' to offset 3?`, { exact: false }).waitFor({ timeout: GUARD_MS });
    await reset.getByRole('button', { name: 'Yes, reset' }).click();
    await reset.getByText('Offsets reset on 2 partitions.').waitFor({ timeout: GUARD_MS });
    await cardValue(page, 'Total lag', (t) => t !== '1');
    const group = await get(broker, `/api/streams/groups/${GROUP}`);
    assert.equal(group.offsets.find((o: any) => o.partition === 0).committed_offset, 3);
    await page.waitForFunction(() => Number(document.querySelector('canvas[aria-label^="Lag of"]')?.getAttribute('data-points')) >= 3, undefined, {
      timeout: GUARD_MS,
    });
    await page.screenshot({ path: join(images, 'dashboard-group.png'), fullPage: true });

    // a consumer of the group reads on from offset 3 on partition 0
    consumer = kafka.consumer({ groupId: GROUP, ...CONSUMER_SETTINGS });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC });
    const offsets: string[] = [];
    await consumer.run({ eachMessage: async ({ partition, message }) => void (partition === 0 && offsets.push(message.offset)) });
    await waitFor(() => offsets.length >= 4, GUARD_MS, 'the consumer to read partition 0 from offset 3');
    assert.deepEqual(offsets.slice(0, 4), ['3', '4', '5', '6']);

    // with a member in the group the broker refuses, and the page says why
    await reset.getByRole('button', { name: 'Reset offsets' }).click();
    await reset.getByRole('button', { name: 'Yes, reset' }).click();
    await reset.getByText(/Reset failed: Assignments can only be reset if the group 'order-billing' is inactive/).waitFor({ timeout: GUARD_MS });
    assert.deepEqual(
      pageProblems.filter((p) => !/409/.test(p)),
      [],
    );
  });
});
