/**
 * The metadata store's contract (meta-store.ts), one test body over every engine (ARCHITECTURE.md habit 6):
 * definitions recorded and loaded back, group offsets committed, read, deleted, and compare-and-set on the
 * generation; the topic catalogue (topics created, grown, altered, deleted, listed again; producer-id
 * blocks). Tests named "file engine only: …" are about what only a file engine promises (a new engine over
 * the same data directory finds everything, the bytes on disk).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../log/logger.js';
import { FileStorageEngine } from './file-engine.js';
import { MemoryStorageEngine } from './memory/engine.js';
import {
  MIN_LOG_SEGMENT_BYTES,
  whenDurable,
  type CatalogedTopic,
  type LogLimits,
  type MetaStore,
  type StorageEngine,
  type StoredDefinitionChange,
  type StoredDefinitions,
  type StoredOffset,
  type StoredTopic,
} from './stores.js';
import { encodeBatch } from '../format/kafka/records.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-meta-'));
  dirs.push(dir);
  return dir;
}

type Engine = StorageEngine & { readonly meta: MetaStore };

interface EngineCase {
  readonly kind: string;
  /** a fresh engine over a fresh place (a data directory, or memory) */
  create(): Engine;
}

const logger = createLogger('silent');

const ENGINES: readonly EngineCase[] = [
  { kind: 'file', create: () => new FileStorageEngine({ dataDir: tempDir(), fsync: 'always', logger }) },
  { kind: 'memory', create: () => new MemoryStorageEngine() },
];

const NO_CURRENT = (): StoredDefinitions => {
  throw new Error('the store asked for memory it should not need here');
};

const args = (n: number): Record<string, unknown> => ({ 'x-max-length': n, nested: { $table: { big: { $bigint: '9007199254740993' } } } });
const queue = (name: string, n = 1) => ({ vhost: '/', name, autoDelete: false, arguments: args(n), storage: `dir-${name}` });
const exchange = (name: string) => ({ vhost: 'v', name, type: 'topic', autoDelete: false, internal: false, arguments: {} });
const binding = (destination: string, routingKey: string) => ({
  vhost: '/',
  source: 'amq.topic',
  destination,
  destinationType: 'queue',
  routingKey,
  arguments: { 'x-match': 'all' },
});

function offset(topic: string, partition: number, at: bigint, metadata: string | null = null): StoredOffset {
  return { topic, partition, offset: at, leaderEpoch: 3, commitTimestampMs: 1_700_000_000_000, metadata };
}

const LOG_LIMITS: LogLimits = { segmentBytes: MIN_LOG_SEGMENT_BYTES, segmentMs: null, retentionMs: null, retentionBytes: null };
const T0 = 1_700_000_000_000;

/** Opens partition `partition` of the topic stored at `storage`, appends `n` one-record batches and closes it. */
function writeRecords(engine: StorageEngine, storage: string, partition: number, n: number): void {
  const log = engine.openLogStore(storage, partition, { limits: LOG_LIMITS, logger: () => undefined });
  for (let i = 0; i < n; i++) log.append(encodeBatch({ baseTimestamp: T0, records: [{ key: null, value: Buffer.from(`r${i}`) }] }), T0);
  log.close();
}

/** The log end of partition `partition` of the topic stored at `storage` (opened and closed again). */
function endOf(engine: StorageEngine, storage: string, partition: number): bigint {
  const log = engine.openLogStore(storage, partition, { limits: LOG_LIMITS, logger: () => undefined });
  const end = log.endOffset;
  log.close();
  return end;
}

const topicRecord = (partitions: number, configs: Record<string, string> = {}, id = '0123456789abcdef0123456789abcdef'): StoredTopic => ({
  id,
  partitions,
  configs,
});

/** name → record, of a catalogue's listing */
function listed(topics: readonly CatalogedTopic[]): Record<string, StoredTopic> {
  const out: Record<string, StoredTopic> = {};
  for (const t of topics) out[t.name] = t.topic;
  return out;
}

/** a group's committed offsets as sorted [topic, partition, offset, metadata] rows */
function rows(meta: ReturnType<MetaStore['openGroupOffsets']>, groupId: string): Array<[string, number, bigint, string | null]> | undefined {
  const group = meta.offsetsOf(groupId);
  if (group === undefined) return undefined;
  const out: Array<[string, number, bigint, string | null]> = [];
  for (const [topic, partitions] of group) for (const [p, o] of partitions) out.push([topic, p, o.offset, o.metadata]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
}

for (const engineCase of ENGINES) {
  const kind = engineCase.kind;

  test(`contract (${kind} engine): definitions recorded as changes are loaded back in declaration order (puts, deletes by key, whole lists)`, async () => {
    const engine = engineCase.create();
    try {
      const first = engine.meta.openDefinitions({ current: NO_CURRENT });
      assert.deepEqual(first.definitions, { exchanges: [], queues: [], bindings: [], policies: [], vhosts: [], users: [], permissions: [] });
      const changes: StoredDefinitionChange[] = [
        { set: 'vhosts', value: ['v'] },
        { put: 'queue', value: queue('q1') },
        { put: 'queue', value: queue('q2') },
        { put: 'queue', value: queue('q3') },
        { put: 'exchange', value: exchange('x') },
        { put: 'binding', value: binding('q1', 'a.#') },
        { put: 'binding', value: binding('q2', 'b.*') },
        { del: 'queue', vhost: '/', name: 'q2' },
        { del: 'binding', value: binding('q2', 'b.*') },
        { put: 'queue', value: queue('q1', 7) }, // a re-put keeps q1's place, with its new value
        { set: 'policies', value: [{ vhost: '/', name: 'p', pattern: '^q', definition: { 'max-length': 5 } }] },
        { set: 'users', users: [{ name: 'u', passwordHash: 'h', tags: [] }], permissions: [{ user: 'u', vhost: '/', configure: '.*' }] },
      ];
      const round = first.store.record(changes);
      assert.ok(round > 0, 'a change is durable with a round');
      await whenDurable(engine.durable, round);
      first.store.close();

      const again = engine.meta.openDefinitions({ current: NO_CURRENT });
      const d = again.definitions;
      assert.deepEqual(
        d.queues.map((q) => [q.name, (q.arguments as Record<string, unknown>)['x-max-length']]),
        [
          ['q1', 7],
          ['q3', 1],
        ],
      );
      assert.deepEqual(d.queues[0], queue('q1', 7), 'documents come back exactly as given (tagged values untouched)');
      assert.deepEqual(d.exchanges, [exchange('x')]);
      assert.deepEqual(d.bindings, [binding('q1', 'a.#')]);
      assert.deepEqual(d.vhosts, ['v']);
      assert.deepEqual(d.policies, [{ vhost: '/', name: 'p', pattern: '^q', definition: { 'max-length': 5 } }]);
      assert.deepEqual(d.users, [{ name: 'u', passwordHash: 'h', tags: [] }]);
      assert.deepEqual(d.permissions, [{ user: 'u', vhost: '/', configure: '.*' }]);
      again.store.close();
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): a definitions snapshot replaces everything stored, and changes recorded after it apply on top`, async () => {
    const engine = engineCase.create();
    try {
      const first = engine.meta.openDefinitions({ current: NO_CURRENT });
      await whenDurable(
        engine.durable,
        first.store.record([
          { put: 'queue', value: queue('old') },
          { put: 'exchange', value: exchange('old-x') },
        ]),
      );
      first.store.writeSnapshot({ exchanges: [], queues: [queue('a'), queue('b')], bindings: [], policies: [], vhosts: [], users: [], permissions: [] });
      await whenDurable(
        engine.durable,
        first.store.record([
          { del: 'queue', vhost: '/', name: 'a' },
          { put: 'queue', value: queue('c') },
        ]),
      );
      first.store.close();
      const again = engine.meta.openDefinitions({ current: NO_CURRENT });
      assert.deepEqual(
        again.definitions.queues.map((q) => q.name),
        ['b', 'c'],
      );
      assert.deepEqual(again.definitions.exchanges, [], 'what the snapshot left out is gone');
      again.store.close();
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): committed offsets become visible once durable, are read per group and partition, and a deleted group has none`, async () => {
    const engine = engineCase.create();
    const store = engine.meta.openGroupOffsets();
    try {
      const committing = store.commit('g', [offset('t', 0, 10n, 'm'), offset('t', 1, 11n)], null);
      assert.equal(store.get('g', 't', 0), undefined, 'not visible before its round completes');
      assert.equal(await committing, 'committed');
      assert.deepEqual(rows(store, 'g'), [
        ['t', 0, 10n, 'm'],
        ['t', 1, 11n, null],
      ]);
      assert.deepEqual(store.get('g', 't', 0), offset('t', 0, 10n, 'm'));
      await store.commit('g', [offset('t', 0, 12n)], null);
      await store.commit('h', [offset('u', 5, 1n)], null);
      assert.deepEqual(
        rows(store, 'g'),
        [
          ['t', 0, 12n, null],
          ['t', 1, 11n, null],
        ],
        'a later commit replaces that partition only',
      );
      assert.deepEqual([...store.groupIds()].sort(), ['g', 'h']);
      const deleting = store.deleteGroup('g');
      assert.equal(store.has('g'), true, 'still there until the deletion is durable');
      await deleting;
      assert.equal(store.has('g'), false);
      assert.equal(store.offsetsOf('g'), undefined);
      assert.deepEqual([...store.groupIds()], ['h']);
      await store.forgetTopic('u');
      assert.equal(store.has('h'), false, 'a group left without offsets by a deleted topic goes');
    } finally {
      store.close();
      await engine.close();
    }
  });

  test(`contract (${kind} engine): a commit fenced with a generation the group has left is refused and writes nothing (compare-and-set)`, async () => {
    const engine = engineCase.create();
    const store = engine.meta.openGroupOffsets();
    try {
      assert.equal(await store.commit('g', [offset('t', 0, 1n)], { generation: 1 }), 'fenced', 'no generation recorded yet: every fence is refused');
      assert.equal(store.has('g'), false);
      store.setGeneration('g', 1);
      assert.equal(await store.commit('g', [offset('t', 0, 5n)], { generation: 1 }), 'committed');
      store.setGeneration('g', 2); // a rebalance: the members of generation 1 are fenced off
      assert.equal(await store.commit('g', [offset('t', 0, 99n)], { generation: 1 }), 'fenced');
      assert.deepEqual(rows(store, 'g'), [['t', 0, 5n, null]], 'the fenced commit changed nothing');
      assert.equal(await store.commit('g', [offset('t', 0, 6n)], { generation: 2 }), 'committed');
      assert.equal(await store.commit('g', [offset('t', 0, 7n)], null), 'committed', 'an unfenced commit (an operator reset) is not conditional');
      assert.deepEqual(rows(store, 'g'), [['t', 0, 7n, null]]);
      store.setGeneration('g', null); // the group's membership was forgotten
      assert.equal(await store.commit('g', [offset('t', 0, 50n)], { generation: 2 }), 'fenced');
      store.setGeneration('g', 2);
      await store.deleteGroup('g');
      assert.equal(await store.commit('g', [offset('t', 0, 8n)], { generation: 2 }), 'fenced', 'a deleted group has no generation');
    } finally {
      store.close();
      await engine.close();
    }
  });

  test(`contract (${kind} engine): group offsets are found again by a store opened anew on the same engine`, async () => {
    const engine = engineCase.create();
    try {
      const first = engine.meta.openGroupOffsets();
      await first.commit('a', [offset('t', 0, 1n), offset('t', 1, 2n, 'x')], null);
      await first.commit('b', [offset('t', 0, 3n)], null);
      await first.deleteGroup('b');
      const pending = first.commit('a', [offset('t', 0, 4n)], null);
      first.close(); // a commit still waiting is finished by close
      assert.equal(await pending, 'committed');
      const second = engine.meta.openGroupOffsets();
      assert.deepEqual(rows(second, 'a'), [
        ['t', 0, 4n, null],
        ['t', 1, 2n, 'x'],
      ]);
      assert.equal(second.has('b'), false);
      second.close();
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): topics created, grown, altered and deleted are listed as they were left by a catalogue opened anew`, async () => {
    const engine = engineCase.create();
    try {
      const first = engine.meta.openTopicCatalog();
      assert.deepEqual(first.topics, [], 'a new engine has no topics');
      const catalog = first.catalog;
      const aStorage = catalog.prepareTopic('a');
      catalog.createTopic('a', topicRecord(2, { 'retention.ms': '1000' }));
      const bStorage = catalog.prepareTopic('b');
      catalog.createTopic('b', topicRecord(1, {}, 'ffffffffffffffffffffffffffffffff'));
      catalog.prepareTopic('c');
      catalog.createTopic('c', topicRecord(1));
      assert.notEqual(aStorage, bStorage, 'each topic has a place of its own');
      catalog.updateTopic('a', topicRecord(3, { 'retention.ms': '1000' })); // a grow
      catalog.updateTopic('b', topicRecord(1, { 'cleanup.policy': 'compact', 'segment.bytes': '2048' }, 'ffffffffffffffffffffffffffffffff')); // an alter
      catalog.deleteTopic('c');
      catalog.close();

      const again = engine.meta.openTopicCatalog();
      assert.deepEqual(listed(again.topics), {
        a: topicRecord(3, { 'retention.ms': '1000' }),
        b: topicRecord(1, { 'cleanup.policy': 'compact', 'segment.bytes': '2048' }, 'ffffffffffffffffffffffffffffffff'),
      });
      assert.deepEqual(
        again.topics.map((t) => [t.name, t.storage]).sort(),
        [
          ['a', aStorage],
          ['b', bStorage],
        ],
        'a listed topic names the place prepareTopic gave it',
      );
      again.catalog.close();
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): the catalogue refuses a second topic of one name, and changes to a topic it does not hold`, async () => {
    const engine = engineCase.create();
    try {
      const { catalog } = engine.meta.openTopicCatalog();
      catalog.prepareTopic('t');
      catalog.createTopic('t', topicRecord(1));
      assert.throws(() => catalog.prepareTopic('t'), /in the catalogue already/, 'preparing would empty a live topic');
      assert.throws(() => catalog.createTopic('t', topicRecord(2)), /in the catalogue already/);
      assert.throws(() => catalog.updateTopic('nope', topicRecord(2)), /not in the catalogue/);
      assert.throws(() => catalog.deleteTopic('nope'), /not in the catalogue/);
      catalog.deleteTopic('t');
      assert.throws(() => catalog.deleteTopic('t'), /not in the catalogue/);
      catalog.close();
      assert.deepEqual(engine.meta.openTopicCatalog().topics, []);
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): a topic's partition logs live in the place the catalogue gave it, and go with the topic`, async () => {
    const engine = engineCase.create();
    try {
      const { catalog } = engine.meta.openTopicCatalog();
      const storage = catalog.prepareTopic('t');
      writeRecords(engine, storage, 0, 2);
      writeRecords(engine, storage, 1, 3);
      catalog.createTopic('t', topicRecord(2));
      catalog.close();
      const reopened = engine.meta.openTopicCatalog();
      const [t] = reopened.topics;
      assert.equal(t?.storage, storage);
      assert.equal(endOf(engine, t.storage, 0), 2n);
      assert.equal(endOf(engine, t.storage, 1), 3n);
      reopened.catalog.deleteTopic('t');
      const fresh = reopened.catalog.prepareTopic('t');
      assert.equal(endOf(engine, fresh, 1), 0n, 'a topic created again under the name starts empty');
      reopened.catalog.close();
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): a creation interrupted before its record landed leaves no topic, and the next creation of the name starts empty`, async () => {
    const engine = engineCase.create();
    try {
      const first = engine.meta.openTopicCatalog();
      const storage = first.catalog.prepareTopic('half');
      writeRecords(engine, storage, 0, 4); // the partitions were opened, then the process stopped
      first.catalog.close();
      const again = engine.meta.openTopicCatalog();
      assert.deepEqual(again.topics, []);
      const fresh = again.catalog.prepareTopic('half');
      assert.equal(endOf(engine, fresh, 0), 0n);
      again.catalog.close();
    } finally {
      await engine.close();
    }
  });

  test(`contract (${kind} engine): producer-id blocks never overlap, also across catalogues opened anew`, async () => {
    const engine = engineCase.create();
    try {
      const first = engine.meta.openTopicCatalog();
      assert.equal(first.catalog.reserveProducerIds(1000), 0, 'a new engine starts at 0');
      assert.equal(first.catalog.reserveProducerIds(1000), 1000);
      assert.equal(first.catalog.reserveProducerIds(10), 2000);
      first.catalog.close();
      const again = engine.meta.openTopicCatalog();
      assert.equal(again.catalog.reserveProducerIds(1000), 2010, 'after a reopen: past every block reserved before');
      again.catalog.close();
    } finally {
      await engine.close();
    }
  });
}

test('file engine only: definitions and group offsets survive a new engine over the same data directory', async () => {
  const dataDir = tempDir();
  const first = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  const defs = first.meta.openDefinitions({ current: NO_CURRENT });
  await whenDurable(
    first.durable,
    defs.store.record([
      { put: 'queue', value: queue('kept') },
      { set: 'vhosts', value: ['v1', 'v2'] },
    ]),
  );
  const offsets = first.meta.openGroupOffsets();
  await offsets.commit('g', [offset('t', 3, 30n, 'meta')], null);
  defs.store.close();
  offsets.close();
  await first.close();

  const second = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  try {
    const loaded = second.meta.openDefinitions({ current: NO_CURRENT });
    assert.deepEqual(loaded.definitions.queues, [queue('kept')]);
    assert.deepEqual(loaded.definitions.vhosts, ['v1', 'v2']);
    loaded.store.close();
    const reopened = second.meta.openGroupOffsets();
    assert.deepEqual(rows(reopened, 'g'), [['t', 3, 30n, 'meta']]);
    assert.deepEqual(reopened.get('g', 't', 3), offset('t', 3, 30n, 'meta'));
    reopened.close();
  } finally {
    await second.close();
  }
});

test('file engine only: a definitions snapshot is the version-1 definitions.json, byte for byte, and the journal is length, CRC, JSON per change', async () => {
  const dataDir = tempDir();
  const engine = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  try {
    const { store } = engine.meta.openDefinitions({ current: NO_CURRENT });
    const all: StoredDefinitions = { exchanges: [exchange('x')], queues: [queue('q')], bindings: [], policies: [], vhosts: ['v'], users: [], permissions: [] };
    store.writeSnapshot(all);
    const expected = JSON.stringify(
      { version: 1, exchanges: all.exchanges, queues: all.queues, bindings: [], policies: [], vhosts: ['v'], users: [], permissions: [] },
      null,
      1,
    );
    assert.equal(fs.readFileSync(path.join(dataDir, 'definitions.json'), 'utf8'), expected);
    assert.equal(fs.statSync(path.join(dataDir, 'definitions.json')).mode & 0o777, 0o600);
    const change: StoredDefinitionChange = { del: 'queue', vhost: '/', name: 'q' };
    await whenDurable(engine.durable, store.record([change]));
    const journal = fs.readFileSync(path.join(dataDir, 'definitions.journal'));
    const payload = Buffer.from(JSON.stringify(change), 'utf8');
    assert.equal(journal.readUInt32BE(0), payload.length);
    assert.deepEqual(journal.subarray(8), payload);
    assert.equal(journal.length, 8 + payload.length);
    store.close();
  } finally {
    await engine.close();
  }
});

test('file engine only: the topic catalogue and its partition logs survive a new engine over the same data directory', async () => {
  const dataDir = tempDir();
  const first = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  const { catalog } = first.meta.openTopicCatalog();
  const storage = catalog.prepareTopic('kept');
  writeRecords(first, storage, 0, 2);
  catalog.createTopic('kept', topicRecord(1, { 'retention.ms': '5' }));
  assert.equal(catalog.reserveProducerIds(1000), 0);
  catalog.close();
  await first.close();

  const second = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  try {
    const opened = second.meta.openTopicCatalog();
    assert.deepEqual(listed(opened.topics), { kept: topicRecord(1, { 'retention.ms': '5' }) });
    assert.equal(endOf(second, opened.topics[0]!.storage, 0), 2n);
    assert.equal(opened.catalog.reserveProducerIds(1000), 1000);
    opened.catalog.close();
  } finally {
    await second.close();
  }
});

test('file engine only: topic.json is the pretty-printed { id, partitions, configs } and producer-ids the next block start, byte for byte', async () => {
  const dataDir = tempDir();
  const engine = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  try {
    const { catalog } = engine.meta.openTopicCatalog();
    const dir = catalog.prepareTopic('t.1');
    assert.equal(dir, path.join(dataDir, 'streams', 't.1'), "a topic's storage is its directory under streams/");
    catalog.createTopic('t.1', { configs: { 'retention.ms': '1000', 'cleanup.policy': 'compact' }, partitions: 2, id: '00112233445566778899aabbccddeeff' });
    const topicFile = path.join(dir, 'topic.json');
    assert.equal(
      fs.readFileSync(topicFile, 'utf8'),
      '{\n  "id": "00112233445566778899aabbccddeeff",\n  "partitions": 2,\n  "configs": {\n    "retention.ms": "1000",\n    "cleanup.policy": "compact"\n  }\n}\n',
    );
    catalog.updateTopic('t.1', topicRecord(3, {}, '00112233445566778899aabbccddeeff'));
    assert.equal(fs.readFileSync(topicFile, 'utf8'), '{\n  "id": "00112233445566778899aabbccddeeff",\n  "partitions": 3,\n  "configs": {}\n}\n');
    assert.equal(fs.existsSync(`${topicFile}.tmp`), false);
    catalog.reserveProducerIds(1000);
    catalog.reserveProducerIds(1000);
    assert.equal(fs.readFileSync(path.join(dataDir, 'streams', 'producer-ids'), 'utf8'), '2000\n');
    catalog.close();
  } finally {
    await engine.close();
  }
});

test('file engine only: an interrupted creation and a deleted topic leave nothing on disk once the catalogue opens again', async () => {
  const dataDir = tempDir();
  const streams = path.join(dataDir, 'streams');
  const engine = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  try {
    const first = engine.meta.openTopicCatalog();
    const half = first.catalog.prepareTopic('half');
    writeRecords(engine, half, 0, 1);
    first.catalog.prepareTopic('gone');
    first.catalog.createTopic('gone', topicRecord(1));
    first.catalog.deleteTopic('gone');
    assert.equal(fs.existsSync(path.join(streams, 'gone')), false, 'a deleted topic is renamed away at once');
    first.catalog.close();
    // what a crash during the background removal leaves
    fs.mkdirSync(path.join(streams, '.deleted-old-1-0', '0'), { recursive: true });
    fs.writeFileSync(path.join(streams, '.deleted-old-1-0', 'topic.json'), '{}');
    assert.ok(fs.existsSync(path.join(half, '0')));

    const again = engine.meta.openTopicCatalog();
    assert.deepEqual(again.topics, []);
    assert.deepEqual(
      fs.readdirSync(streams).filter((name) => name !== 'producer-ids'),
      [],
      'no directory without topic.json, no renamed-away topic',
    );
    again.catalog.close();
  } finally {
    await engine.close();
  }
});

test('file engine only: a topic.json that cannot be read refuses the open and is left as it is', async () => {
  const dataDir = tempDir();
  const dir = path.join(dataDir, 'streams', 'broken');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'topic.json'), '{ "id": ');
  const engine = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  try {
    assert.throws(() => engine.meta.openTopicCatalog(), /stream topic 'broken': unreadable topic\.json/);
    assert.equal(fs.readFileSync(path.join(dir, 'topic.json'), 'utf8'), '{ "id": ');
  } finally {
    await engine.close();
  }
});
