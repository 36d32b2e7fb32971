/**
 * The built-in default alert rules: a broker alerts on dead-letter growth, messages nobody consumes, resource
 * alarms and Kafka consumer lag before anyone writes a rule; an operator replaces or deletes a default and
 * that sticks across a restart; --alert-default-rules=false leaves them out. The rules' conditions over
 * minutes are checked on the engine with a stepped clock; the rest on real brokers with real clients.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { AlertEngine, DEFAULT_ALERT_RULES, type AlarmSample, type GroupSample, type QueueSample } from '../../src/management/alerts.js';
import { createLogger } from '../../src/log/logger.js';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';
import { api, get } from './helpers.js';

const DEFAULT_NAMES = ['default.consumer-lag', 'default.dead-letter-growth', 'default.no-consumers', 'default.resource-alarm'];
const INTERVAL_MS = 40;
const MINUTE_MS = 60_000;

interface RuleJson {
  name: string;
  kind: string;
  threshold: number;
  for_ms: number;
  default?: boolean;
}

interface AlertJson {
  rule: string;
  kind: string;
  state: string;
  value: number;
  target?: string;
  queue: string;
  message: string;
}

/** an engine over samples the test changes, with the default rules and no file */
function engineOver(state: { queues: QueueSample[]; alarms: AlarmSample[]; groups: GroupSample[] }): AlertEngine {
  return new AlertEngine({
    logger: createLogger('silent'),
    configRules: [],
    rulesFile: null,
    webhookUrl: '',
    intervalMs: 1000,
    sample: () => state.queues,
    alarms: () => state.alarms,
    groups: () => state.groups,
    kafkaVhost: '/',
  });
}

function queue(id: object, name: string, messages: number, consumers: number, deadLettered: number): QueueSample {
  return { id, vhost: '/', name, messages, consumers, deadLettered, oldestReadyPublishedAt: () => null };
}

function firing(engine: AlertEngine): string[] {
  return engine
    .states()
    .filter((s) => s.state === 'firing')
    .map((s) => `${s.rule} ${s.target ?? s.queue}`)
    .sort();
}

describe('default alert rules on the engine, with a stepped clock', () => {
  test('each default fires on its condition held for its time, and resolves when it stops', async () => {
    const q = {};
    const state = { queues: [queue(q, 'orders', 5, 0, 0)], alarms: [] as AlarmSample[], groups: [{ groupId: 'billing', lag: 5000 }] };
    const engine = engineOver(state);
    let now = 1_000_000;
    await engine.evaluate(now);
    // waiting messages with no consumer, and a lagging group: pending, not firing, for under five minutes
    assert.deepEqual(firing(engine), []);
    assert.deepEqual(
      engine
        .states()
        .map((s) => `${s.rule} ${s.state}`)
        .sort(),
      ['default.consumer-lag pending', 'default.no-consumers pending'],
    );
    now += 4 * MINUTE_MS;
    await engine.evaluate(now);
    assert.deepEqual(firing(engine), []);
    now += 1 * MINUTE_MS;
    await engine.evaluate(now);
    assert.deepEqual(firing(engine), ['default.consumer-lag group billing', 'default.no-consumers orders']);
    // a memory alarm fires at once; eleven dead letters within five minutes fire, ten would not
    state.alarms = [{ resource: 'memory', reason: 'memory high watermark' }];
    state.queues = [queue(q, 'orders', 5, 1, 11)];
    state.groups = [{ groupId: 'billing', lag: 10 }];
    now += 1000;
    await engine.evaluate(now);
    assert.deepEqual(firing(engine), ['default.dead-letter-growth orders', 'default.resource-alarm node']);
    const alarm = engine.states().find((s) => s.rule === 'default.resource-alarm')!;
    assert.match(alarm.message, /memory \(memory high watermark\)/);
    // and all resolve: the alarm clears, the dead letters stop (the window passes), the group caught up
    state.alarms = [];
    now += 6 * MINUTE_MS;
    await engine.evaluate(now);
    assert.deepEqual(firing(engine), []);
  });

  test('ten dead letters in five minutes, or a group lagging 1,000, stay below the defaults', async () => {
    const q = {};
    const state = { queues: [queue(q, 'orders', 0, 0, 0)], alarms: [] as AlarmSample[], groups: [{ groupId: 'billing', lag: 1000 }] };
    const engine = engineOver(state);
    let now = 1_000_000;
    await engine.evaluate(now);
    state.queues = [queue(q, 'orders', 0, 0, 10)];
    for (let i = 0; i < 7; i++) {
      now += MINUTE_MS;
      await engine.evaluate(now);
    }
    assert.deepEqual(engine.states(), []);
  });

  test('the defaults are the four documented rules', () => {
    assert.deepEqual(DEFAULT_ALERT_RULES.map((r) => r.name).sort(), DEFAULT_NAMES);
  });
});

describe('default alert rules on a real broker', () => {
  test('a fresh broker lists the four defaults, marked default, and a memory alarm fires default.resource-alarm', async () => {
    // a 1-byte memory high watermark: the memory alarm is on from the first check
    const broker = await startTestBroker({ alertIntervalMs: INTERVAL_MS, memoryHighWatermarkBytes: 1 });
    try {
      const rules = (await get(broker, '/api/alert-rules')) as RuleJson[];
      assert.deepEqual(
        rules
          .filter((r) => r.default === true)
          .map((r) => r.name)
          .sort(),
        DEFAULT_NAMES,
      );
      assert.deepEqual(await get(broker, '/api/alert-rules/default.no-consumers'), {
        name: 'default.no-consumers',
        kind: 'no_consumers',
        queue: '',
        vhost: '',
        threshold: 0,
        for_ms: 5 * MINUTE_MS,
        default: true,
      });
      let alert: AlertJson | undefined;
      for (let i = 0; i < 200 && alert?.state !== 'firing'; i++) {
        alert = ((await get(broker, '/api/alerts')) as AlertJson[]).find((a) => a.rule === 'default.resource-alarm');
        if (alert?.state !== 'firing') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(alert?.state, 'firing', JSON.stringify(alert));
      assert.equal(alert.kind, 'resource_alarm');
      assert.equal(alert.target, 'node');
      assert.match(alert.message, /memory/);
    } finally {
      await broker.stop();
    }
  });

  test('a default replaced and another deleted through the API stay so after a restart, and the definitions export leaves unchanged defaults out', async () => {
    const dataDir = tempDataDir();
    try {
      const first = await startTestBroker({ dataDir, alertIntervalMs: INTERVAL_MS });
      try {
        assert.equal(
          (await api(first, 'PUT', '/api/alert-rules/default.dead-letter-growth', { body: { kind: 'dead_letter_growth', threshold: 100, for_ms: 60_000 } }))
            .status,
          204,
        );
        assert.equal((await api(first, 'DELETE', '/api/alert-rules/default.no-consumers')).status, 204);
        const exported = await get(first, '/api/definitions');
        assert.deepEqual(
          exported.alert_rules.map((r: RuleJson) => r.name),
          ['default.dead-letter-growth'],
          'only the replaced default is exported',
        );
      } finally {
        await first.close();
      }
      const file = JSON.parse(readFileSync(join(dataDir, 'alert-rules.json'), 'utf8'));
      assert.deepEqual(file.deleted_defaults, ['default.no-consumers']);
      const second = await startTestBroker({ dataDir, alertIntervalMs: INTERVAL_MS });
      try {
        const rules = (await get(second, '/api/alert-rules')) as RuleJson[];
        const byName = new Map(rules.map((r) => [r.name, r]));
        assert.equal(byName.has('default.no-consumers'), false, 'the deleted default stays deleted');
        assert.deepEqual(byName.get('default.dead-letter-growth'), {
          name: 'default.dead-letter-growth',
          kind: 'dead_letter_growth',
          queue: '',
          vhost: '',
          threshold: 100,
          for_ms: 60_000,
        });
        assert.equal(byName.get('default.resource-alarm')?.default, true);
        // putting a deleted default back makes it an operator's rule again
        assert.equal((await api(second, 'PUT', '/api/alert-rules/default.no-consumers', { body: { kind: 'no_consumers', for_ms: 60_000 } })).status, 201);
      } finally {
        await second.close();
      }
      const third = await startTestBroker({ dataDir, alertIntervalMs: INTERVAL_MS });
      try {
        assert.equal(((await get(third, '/api/alert-rules/default.no-consumers')) as RuleJson).for_ms, 60_000);
      } finally {
        await third.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('with --alert-default-rules=false no default exists, and rules are still made through the API', async () => {
    const broker = await startTestBroker({ alertIntervalMs: INTERVAL_MS, alertDefaultRules: false });
    try {
      assert.deepEqual(await get(broker, '/api/alert-rules'), []);
      assert.equal((await api(broker, 'PUT', '/api/alert-rules/mine', { body: { kind: 'no_consumers' } })).status, 201);
      assert.deepEqual(
        ((await get(broker, '/api/alert-rules')) as RuleJson[]).map((r) => r.name),
        ['mine'],
      );
    } finally {
      await broker.stop();
    }
  });

  test('a consumer_lag rule fires for a real Kafka group behind its topic, naming the group', async () => {
    const broker = await startTestBroker({ alertIntervalMs: INTERVAL_MS });
    const kafka = new Kafka({ clientId: 'lag-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
    const admin = kafka.admin();
    const producer = kafka.producer();
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'lag-events', numPartitions: 1 }] });
      await producer.connect();
      await producer.send({ topic: 'lag-events', acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `e${i}` })) });
      // a group that committed offset 0 and stopped: 5 behind
      await admin.setOffsets({ groupId: 'lag-billing', topic: 'lag-events', partitions: [{ partition: 0, offset: '0' }] });
      // the default waits five minutes: replace it with one that fires at once over 2 messages
      const put = await api(broker, 'PUT', '/api/alert-rules/default.consumer-lag', {
        body: { kind: 'consumer_lag', group: '^lag-', threshold: 2, for_ms: 0 },
      });
      assert.equal(put.status, 204, JSON.stringify(put.body));
      let alert: AlertJson | undefined;
      for (let i = 0; i < 200 && alert?.state !== 'firing'; i++) {
        alert = ((await get(broker, '/api/alerts')) as AlertJson[]).find((a) => a.rule === 'default.consumer-lag');
        if (alert?.state !== 'firing') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(alert?.state, 'firing', JSON.stringify(alert));
      assert.equal(alert.target, 'group lag-billing');
      assert.equal(alert.value, 5);
      // a group rule names a group, not a queue
      assert.equal((await api(broker, 'PUT', '/api/alert-rules/bad', { body: { kind: 'queue_depth', group: 'x' } })).status, 400);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
      await broker.stop();
    }
  });
});
