/**
 * The dashboard as a RabbitMQ operator uses it, in real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): adding and deleting queues, exchanges and bindings from the pages (each checked through
 * the API afterwards), a queue's rate chart, details and consumers, the connections' traffic columns and a
 * Kafka client's identity, and cards that keep words and units whole. Screenshots of the pages are saved to
 * test-artifacts/, or to the directory POSTBOX_DASHBOARD_SCREENSHOTS names (docs/images refreshes the ones
 * docs/dashboard.md shows). Waits are guards on what the page shows, never timing assertions.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { delay, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { api, get, seg } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const INSTALL_HINT = `no Chromium at ${CHROMIUM}: install it with 'apt-get install -y chromium' (Debian; .ci/run does this)`;
/** the longest any wait for the page may take before the test fails (a guard, not a timing assertion), ms */
const GUARD_MS = 20_000;
/** the width at which the queue page's consumers table was clipped before */
const WIDE = { width: 1400, height: 1000 };
/** a narrow window, where cards are at their smallest */
const NARROW = { width: 760, height: 1000 };
/** rates are sampled this often in the test broker, ms (so the traffic and rate columns fill quickly) */
const STATS_INTERVAL_MS = 500;
const IMAGES = process.env.POSTBOX_DASHBOARD_SCREENSHOTS ?? join(process.cwd(), 'test-artifacts');
/** how often the background publisher sends a 2 KiB message, ms */
const TRICKLE_EVERY_MS = 100;
/** the burst while the queue page's card and chart are compared: this many messages every BURST_EVERY_MS */
const BURST_MESSAGES = 3;
const BURST_EVERY_MS = 10;

const WORK_QUEUE = 'ops.work';
const NEW_QUEUE = 'ops.created';
const NEW_EXCHANGE = 'ops.events';
const KAFKA_CLIENT_ID = 'ops-dashboard-kafka';
/** a body big enough that the queue's message bytes are shown in KiB (the "259.3 / KiB" wrap) */
const BIG_BODY_BYTES = 265_500;

type Row = Record<string, string>;

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

/** wait for a row of table `label` matching `match` whose cells pass `check` (pages refresh on their own) */
async function waitForRow(page: Page, label: string, match: Row, check: (row: Row) => boolean = () => true): Promise<Row> {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const row = await page.evaluate(findRow, { label, match });
    if (row !== null && check(row)) return row;
    if (Date.now() > deadline) assert.fail(`table '${label}': no row ${JSON.stringify(match)} passing the check, saw ${JSON.stringify(row)}`);
    await delay(100);
  }
}

async function cardValue(page: Page, label: string, expected?: string | RegExp): Promise<string> {
  const deadline = Date.now() + GUARD_MS;
  for (;;) {
    const value = await page.evaluate((label) => document.querySelector(`.card[aria-label="${label}"] .card-value`)?.textContent ?? null, label);
    if (value !== null && (expected === undefined || (typeof expected === 'string' ? value === expected : expected.test(value)))) return value;
    if (Date.now() > deadline) assert.fail(`card '${label}': expected ${expected ?? 'a value'}, saw ${value ?? 'no such card'}`);
    await delay(100);
  }
}

async function openSection(page: Page, name: string, heading: string | RegExp): Promise<void> {
  await page
    .getByRole('navigation', { name: 'Main' })
    .getByRole('link', { name: new RegExp(`^${name}( \\d+.*)?$`) })
    .click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: GUARD_MS });
}

/**
 * Every card on the page, measured in the page: a value must sit on one line (its text makes one line box),
 * and no word of a label may be split over two lines. Returns the offenders.
 */
function brokenCards(): string[] {
  const lineTops = (node: Node, start: number, end: number): Set<number> => {
    const range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, end);
    return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
  };
  const bad: string[] = [];
  for (const card of document.querySelectorAll('.card')) {
    const value = card.querySelector('.card-value');
    const label = card.querySelector('.card-label');
    const valueText = value?.firstChild;
    if (valueText?.nodeType === Node.TEXT_NODE && lineTops(valueText, 0, valueText.textContent!.length).size > 1)
      bad.push(`value '${valueText.textContent}' wraps`);
    const labelText = label?.firstChild;
    if (labelText?.nodeType === Node.TEXT_NODE) {
      const text = labelText.textContent!;
      for (const m of text.matchAll(/\S+/g)) {
        if (lineTops(labelText, m.index!, m.index! + m[0].length).size > 1) bad.push(`label word '${m[0]}' of '${text}' is split`);
      }
    }
  }
  return bad;
}

describe('web dashboard for RabbitMQ operators, in headless Chromium', () => {
  let broker: TestBroker;
  let connection: ChannelModel;
  let channel: Channel;
  let kafkaAdmin: Admin;
  let browser: Browser;
  let page: Page;
  /** a publisher that keeps some traffic flowing, so rates and traffic columns are not all zero */
  let trickle: NodeJS.Timeout | undefined;
  const pageProblems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(INSTALL_HINT);
    broker = await startTestBroker({ statsIntervalMs: STATS_INTERVAL_MS });
    connection = await amqp.connect(broker.url, { clientProperties: { connection_name: 'ops-dashboard' } });
    channel = await connection.createChannel();
    await channel.assertQueue(WORK_QUEUE, { durable: true, arguments: { 'x-max-length': 1000 } });
    channel.sendToQueue(WORK_QUEUE, Buffer.alloc(BIG_BODY_BYTES, 'b'));
    for (let i = 0; i < 5; i++) channel.sendToQueue(WORK_QUEUE, Buffer.from(`job ${i}`));
    assert.equal((await channel.checkQueue(WORK_QUEUE)).messageCount, 6);
    trickle = setInterval(() => channel.sendToQueue(WORK_QUEUE, Buffer.alloc(2048, 't')), TRICKLE_EVERY_MS);

    const kafka = new Kafka({ clientId: KAFKA_CLIENT_ID, brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
    kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    await kafkaAdmin.listTopics();

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: WIDE });
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console error: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (err) => pageProblems.push(`uncaught: ${err.message}`));
    mkdirSync(IMAGES, { recursive: true });

    await page.goto(`${broker.httpUrl}/`);
    await page.getByLabel('Password').fill('guest');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: GUARD_MS });
  });

  after(async () => {
    clearInterval(trickle);
    await browser?.close();
    await kafkaAdmin?.disconnect();
    await connection?.close().catch(() => {});
    await broker?.stop();
  });

  test('a queue added from the Queues page exists in the broker with its type, flags and arguments', async () => {
    await openSection(page, 'Queues', 'Queues');
    const form = page.getByRole('form', { name: 'Add a queue' });
    await form.getByLabel('Name').fill(NEW_QUEUE);
    await form.getByLabel('Type').selectOption('quorum');
    await form.getByLabel('Message TTL').fill('60000');
    await form.getByLabel('Max length', { exact: true }).fill('500');
    await form.getByLabel('Dead letter exchange').fill('amq.fanout');
    await form.getByLabel('Arguments').fill('x-overflow = reject-publish');
    await form.getByRole('button', { name: 'Add queue' }).click();
    await form.getByText(`Queue '${NEW_QUEUE}' added.`).waitFor({ timeout: GUARD_MS });
    const q = await get(broker, `/api/queues/%2F/${seg(NEW_QUEUE)}`);
    assert.equal(q.durable, true);
    assert.equal(q.auto_delete, false);
    assert.deepEqual(q.arguments, {
      'x-queue-type': 'quorum',
      'x-message-ttl': 60000,
      'x-max-length': 500,
      'x-dead-letter-exchange': 'amq.fanout',
      'x-overflow': 'reject-publish',
    });
    assert.equal(q.type, 'quorum');
    await waitForRow(page, 'Queues', { Name: NEW_QUEUE }, (r) => r.Features === 'D Args');
    await page.screenshot({ path: join(IMAGES, 'dashboard-queues.png'), fullPage: true });
  });

  test('an exchange added from the Exchanges page exists in the broker with its type and arguments', async () => {
    await openSection(page, 'Exchanges', 'Exchanges');
    const form = page.getByRole('form', { name: 'Add an exchange' });
    await form.getByLabel('Name').fill(NEW_EXCHANGE);
    await form.getByLabel('Type').selectOption('topic');
    await form.getByLabel('Durable').uncheck();
    await form.getByLabel('Alternate exchange').fill('amq.fanout');
    await form.getByRole('button', { name: 'Add exchange' }).click();
    await form.getByText(`Exchange '${NEW_EXCHANGE}' added.`).waitFor({ timeout: GUARD_MS });
    const x = await get(broker, `/api/exchanges/%2F/${seg(NEW_EXCHANGE)}`);
    assert.equal(x.type, 'topic');
    assert.equal(x.durable, false);
    assert.deepEqual(x.arguments, { 'alternate-exchange': 'amq.fanout' });
    await waitForRow(page, 'Exchanges', { Name: NEW_EXCHANGE }, (r) => r.Type === 'topic');
  });

  test("a binding added on an exchange's page and one added on a queue's page are in the broker", async () => {
    await page.getByRole('link', { name: NEW_EXCHANGE, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Exchange ${NEW_EXCHANGE}` }).waitFor({ timeout: GUARD_MS });
    const form = page.getByRole('form', { name: 'Add binding' });
    await form.getByLabel('Destination type').selectOption('q');
    await form.getByLabel('Destination', { exact: true }).fill(WORK_QUEUE);
    await form.getByLabel('Routing key').fill('orders.*');
    await form.getByLabel('Arguments').fill('tier = gold');
    await form.getByRole('button', { name: 'Bind' }).click();
    await form.getByText(`Bound '${NEW_EXCHANGE}' → '${WORK_QUEUE}'.`).waitFor({ timeout: GUARD_MS });
    const fromExchange = await get(broker, `/api/bindings/%2F/e/${seg(NEW_EXCHANGE)}/q/${seg(WORK_QUEUE)}`);
    assert.deepEqual(
      fromExchange.map((b: any) => [b.routing_key, b.arguments]),
      [['orders.*', { tier: 'gold' }]],
    );
    await waitForRow(page, 'Bindings from this exchange', { To: WORK_QUEUE }, (r) => r['Routing key'] === 'orders.*');
    await page.screenshot({ path: join(IMAGES, 'dashboard-exchange.png'), fullPage: true });

    await openSection(page, 'Queues', 'Queues');
    await page.getByRole('link', { name: WORK_QUEUE, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: `Queue ${WORK_QUEUE}` }).waitFor({ timeout: GUARD_MS });
    const queueForm = page.getByRole('form', { name: 'Add binding' });
    await queueForm.getByLabel('From exchange').fill('amq.direct');
    await queueForm.getByLabel('Routing key').fill('work');
    await queueForm.getByRole('button', { name: 'Bind' }).click();
    await queueForm.getByText(`Bound 'amq.direct' → '${WORK_QUEUE}'.`).waitFor({ timeout: GUARD_MS });
    const fromQueuePage = await get(broker, `/api/bindings/%2F/e/amq.direct/q/${seg(WORK_QUEUE)}`);
    assert.deepEqual(
      fromQueuePage.map((b: any) => b.routing_key),
      ['work'],
    );
    await waitForRow(page, 'Bindings', { From: 'amq.direct' }, (r) => r['Routing key'] === 'work');
  });

  test("a queue's page shows its rate chart, limits, utilisation and each consumer's ack mode, prefetch and arguments, unclipped at 1400 px", async () => {
    const consumerChannel = await connection.createChannel();
    await consumerChannel.prefetch(3);
    await consumerChannel.consume(WORK_QUEUE, () => undefined, { consumerTag: 'ops-worker-1', arguments: { 'x-priority': 7 } });
    try {
      await cardValue(page, 'Consumers', '1');
      await cardValue(page, 'Unacked', '3');
      await cardValue(page, 'Message bytes', /^\d/);
      const row = await waitForRow(page, 'Consumers', { 'Consumer tag': 'ops-worker-1' });
      assert.equal(row['Ack mode'], 'manual');
      assert.equal(row.Prefetch, '3');
      assert.equal(row.Priority, '7');
      assert.equal(row.Arguments, 'x-priority: 7');
      assert.equal(row.Channel, '2');
      assert.match(row.Connection ?? '', /127\.0\.0\.1/);
      const facts = page.locator('table.facts').first();
      await facts.getByText('1,000\u00a0messages (argument)', { exact: true }).waitFor({ timeout: GUARD_MS });
      await facts.getByText('Consumer utilisation').waitFor({ timeout: GUARD_MS });
      // the rate chart is drawn from the same samples as the cards
      await page.waitForFunction(() => Number(document.querySelector('canvas[aria-label^="Message rates of"]')?.getAttribute('data-points')) >= 2, undefined, {
        timeout: GUARD_MS,
      });
      const legend = page.getByRole('list', { name: /^Message rates of .* legend$/ });
      for (const series of ['publish', 'deliver', 'ack']) {
        assert.match((await legend.locator(`li[data-series="${series}"] strong`).textContent()) ?? '', /^\d[\d,]*\.\d\/s$/, `${series} rate`);
      }
      // the cards and the depth chart come from one poll: while messages keep arriving (a burst of a few
      // hundred a second, so two requests a few ms apart would see different depths), the Ready card and the
      // chart's latest Ready value agree at every look
      const burst = setInterval(() => {
        for (let i = 0; i < BURST_MESSAGES; i++) channel.sendToQueue(WORK_QUEUE, Buffer.from('burst'));
      }, BURST_EVERY_MS);
      // forty looks 100 ms apart span at least one of the dashboard's 3-second polls
      const looks: Array<[string, string]> = [];
      for (let i = 0; i < 40; i++) {
        looks.push(
          await page.evaluate((name) => {
            const card = document.querySelector('.card[aria-label="Ready"] .card-value')?.textContent ?? '';
            const legend = document.querySelector(`ul[aria-label="Depth of ${name} legend"] li[data-series="ready"] strong`)?.textContent ?? '';
            return [card, legend] as [string, string];
          }, WORK_QUEUE),
        );
        await delay(100);
      }
      clearInterval(burst);
      assert.deepEqual(
        looks.filter(([card, legend]) => card !== legend),
        [],
        'card and chart disagree',
      );
      assert.ok(new Set(looks.map(([card]) => card)).size > 1, 'the queue grew while the test looked');
      // every column of the consumers table is within its panel: nothing is clipped or needs scrolling
      const fit = await page.evaluate(() => {
        const table = document.querySelector('table[aria-label="Consumers"]')!;
        const scroller = table.closest('.scroll')!;
        const panel = table.closest('.panel')!.getBoundingClientRect();
        const lastHeader = [...table.querySelectorAll('thead th')].pop()!.getBoundingClientRect();
        return { scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth, lastRight: lastHeader.right, panelRight: panel.right };
      });
      assert.ok(fit.scrollWidth <= fit.clientWidth && fit.lastRight <= fit.panelRight, `consumers table fits its panel: ${JSON.stringify(fit)}`);
      await page.screenshot({ path: join(IMAGES, 'dashboard-queue.png'), fullPage: true });
    } finally {
      await consumerChannel.close();
    }
  });

  test('no card breaks a word or parts a number from its unit, wide or narrow', async () => {
    await cardValue(page, 'Message bytes', /KiB$/);
    assert.deepEqual(await page.evaluate(brokenCards), [], 'at 1400 px');
    await page.setViewportSize(NARROW);
    await delay(200); // a layout pass after the resize
    await cardValue(page, 'Message bytes', /KiB$/);
    assert.deepEqual(await page.evaluate(brokenCards), [], 'at 760 px');
    await openSection(page, 'Overview', 'Overview');
    await cardValue(page, 'Consumers');
    assert.deepEqual(await page.evaluate(brokenCards), [], 'overview at 760 px');
    await page.setViewportSize(WIDE);
  });

  test('deleting an exchange and a queue from their pages asks first, and then they are gone from the broker', async () => {
    await page.goto(`${broker.httpUrl}/#/exchanges/%2F/${seg(NEW_EXCHANGE)}`);
    await page.getByRole('heading', { level: 1, name: `Exchange ${NEW_EXCHANGE}` }).waitFor({ timeout: GUARD_MS });
    await page.getByRole('button', { name: 'Delete exchange' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api(broker, 'GET', `/api/exchanges/%2F/${seg(NEW_EXCHANGE)}`)).status, 200, 'cancel deletes nothing');
    await page.getByRole('button', { name: 'Delete exchange' }).click();
    await page.getByRole('button', { name: 'Yes, delete exchange' }).click();
    await page.getByRole('heading', { level: 1, name: 'Exchanges' }).waitFor({ timeout: GUARD_MS });
    assert.equal((await api(broker, 'GET', `/api/exchanges/%2F/${seg(NEW_EXCHANGE)}`)).status, 404);

    await page.goto(`${broker.httpUrl}/#/queues/%2F/${seg(NEW_QUEUE)}`);
    await page.getByRole('heading', { level: 1, name: `Queue ${NEW_QUEUE}` }).waitFor({ timeout: GUARD_MS });
    await page.getByRole('button', { name: 'Delete queue' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api(broker, 'GET', `/api/queues/%2F/${seg(NEW_QUEUE)}`)).status, 200, 'cancel deletes nothing');
    await page.getByRole('button', { name: 'Delete queue' }).click();
    await page.getByRole('button', { name: 'Yes, delete queue' }).click();
    await page.getByRole('heading', { level: 1, name: 'Queues' }).waitFor({ timeout: GUARD_MS });
    assert.equal((await api(broker, 'GET', `/api/queues/%2F/${seg(NEW_QUEUE)}`)).status, 404);
  });

  test('the alerts page lists the default rules, and a default changed or deleted there is changed or gone in the broker', async () => {
    await openSection(page, 'Alerts', 'Alerts');
    for (const name of ['default.dead-letter-growth', 'default.no-consumers', 'default.resource-alarm', 'default.consumer-lag']) {
      await waitForRow(page, 'Alert rules', { Name: `${name} default` });
    }
    const noConsumers = page.locator('table[aria-label="Alert rules"] tbody tr', { hasText: 'default.no-consumers' });
    await noConsumers.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit alert rule default.no-consumers' });
    await form.getByLabel('For / window (ms)').fill('120000');
    await form.getByRole('button', { name: 'Save rule' }).click();
    await form.getByText('Rule saved.').waitFor({ timeout: GUARD_MS });
    const changed = await get(broker, '/api/alert-rules/default.no-consumers');
    assert.equal(changed.for_ms, 120_000);
    assert.equal(changed.default, undefined, 'no longer the default as shipped');
    await waitForRow(page, 'Alert rules', { Name: 'default.no-consumers' }, (r) => r['For / window'] === '2 min');

    const deadLetters = page.locator('table[aria-label="Alert rules"] tbody tr', { hasText: 'default.dead-letter-growth' });
    await deadLetters.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('button', { name: 'Delete rule' }).click();
    await page.getByText('it stays deleted after a restart').waitFor({ timeout: GUARD_MS });
    await page.getByRole('button', { name: 'Yes, delete rule' }).click();
    await page.waitForFunction(
      () => !document.querySelector('table[aria-label="Alert rules"]')?.textContent?.includes('default.dead-letter-growth'),
      undefined,
      { timeout: GUARD_MS },
    );
    assert.equal((await api(broker, 'GET', '/api/alert-rules/default.dead-letter-growth')).status, 404);
    await page.screenshot({ path: join(IMAGES, 'dashboard-alerts.png'), fullPage: true });
  });

  test("the connections page shows traffic rates, and a Kafka client's id, user and vhost", async () => {
    await openSection(page, 'Connections', 'Connections');
    const traffic = /^\d[\d,.]*\u00a0(B|KiB|MiB)\/s$/;
    // the background publisher's bytes arrive at a rate above zero
    const amqpRow = await waitForRow(
      page,
      'Connections',
      { Protocol: 'AMQP 0-9-1' },
      (r) => traffic.test(r['From client']!) && r['From client'] !== '0\u00a0B/s' && traffic.test(r['To client']!),
    );
    assert.equal(amqpRow.User, 'guest');
    // and a Kafka client asking for metadata meanwhile
    const asking = setInterval(() => void kafkaAdmin.listTopics().catch(() => undefined), TRICKLE_EVERY_MS);
    let kafkaRow: Row;
    try {
      kafkaRow = await waitForRow(
        page,
        'Connections',
        { Client: KAFKA_CLIENT_ID },
        (r) => traffic.test(r['From client']!) && r['From client'] !== '0\u00a0B/s',
      );
    } finally {
      clearInterval(asking);
    }
    assert.equal(kafkaRow.Protocol, 'Kafka');
    assert.equal(kafkaRow.User, 'guest');
    assert.equal(kafkaRow['Virtual host'], '/');
    assert.match(kafkaRow['To client']!, traffic);
    await page.screenshot({ path: join(IMAGES, 'dashboard-connections.png'), fullPage: true });
    assert.deepEqual(pageProblems, []);
  });
});
