/**
 * The metadata store's contract (meta-store.ts), one test body over every engine (ARCHITECTURE.md habit 6):
 * definitions recorded and loaded back, group offsets committed, read, deleted, and compare-and-set on the
 * generation. Tests named "file engine only: …" are about what only a file engine promises (a new engine over
 * the same data directory finds everything).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../log/logger.js';
import { FileStorageEngine } from './file-engine.js';
import { MemoryStorageEngine } from './memory/engine.js';
import type { Durability, MetaStore, StorageEngine, StoredDefinitionChange, StoredDefinitions, StoredOffset } from './stores.js';

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

/** Resolves once `round` of `durability` completed; rejects if it failed. */
function durable(durability: Durability, round: number): Promise<void> {
  if (durability.completedRound >= round) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const listener = {
      onDurable(): void {
        if (durability.completedRound < round) return;
        durability.removeListener(listener);
        resolve();
      },
      onFailed(through: number, error: Error): void {
        if (through < round) return;
        durability.removeListener(listener);
        reject(error);
      },
    };
    durability.addListener(listener);
  });
}

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
      await durable(engine.durable, round);
      first.store.close();

      const again = engine.meta.openDefinitions({ current: NO_CURRENT });
      const d = again.definitions;
      assert.deepEqual(d.queues.map((q) => [q.name, (q.arguments as Record<string, unknown>)['x-max-length']]), [['q1', 7], ['q3', 1]]);
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
      await durable(engine.durable, first.store.record([{ put: 'queue', value: queue('old') }, { put: 'exchange', value: exchange('old-x') }]));
      first.store.writeSnapshot({ exchanges: [], queues: [queue('a'), queue('b')], bindings: [], policies: [], vhosts: [], users: [], permissions: [] });
      await durable(engine.durable, first.store.record([{ del: 'queue', vhost: '/', name: 'a' }, { put: 'queue', value: queue('c') }]));
      first.store.close();
      const again = engine.meta.openDefinitions({ current: NO_CURRENT });
      assert.deepEqual(again.definitions.queues.map((q) => q.name), ['b', 'c']);
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
      assert.deepEqual(rows(store, 'g'), [['t', 0, 10n, 'm'], ['t', 1, 11n, null]]);
      assert.deepEqual(store.get('g', 't', 0), offset('t', 0, 10n, 'm'));
      await store.commit('g', [offset('t', 0, 12n)], null);
      await store.commit('h', [offset('u', 5, 1n)], null);
      assert.deepEqual(rows(store, 'g'), [['t', 0, 12n, null], ['t', 1, 11n, null]], 'a later commit replaces that partition only');
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
      assert.deepEqual(rows(second, 'a'), [['t', 0, 4n, null], ['t', 1, 2n, 'x']]);
      assert.equal(second.has('b'), false);
      second.close();
    } finally {
      await engine.close();
    }
  });
}

test('file engine only: definitions and group offsets survive a new engine over the same data directory', async () => {
  const dataDir = tempDir();
  const first = new FileStorageEngine({ dataDir, fsync: 'always', logger });
  const defs = first.meta.openDefinitions({ current: NO_CURRENT });
  await durable(first.durable, defs.store.record([{ put: 'queue', value: queue('kept') }, { set: 'vhosts', value: ['v1', 'v2'] }]));
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
    const expected = JSON.stringify({ version: 1, exchanges: all.exchanges, queues: all.queues, bindings: [], policies: [], vhosts: ['v'], users: [], permissions: [] }, null, 1);
    assert.equal(fs.readFileSync(path.join(dataDir, 'definitions.json'), 'utf8'), expected);
    assert.equal(fs.statSync(path.join(dataDir, 'definitions.json')).mode & 0o777, 0o600);
    const change: StoredDefinitionChange = { del: 'queue', vhost: '/', name: 'q' };
    await durable(engine.durable, store.record([change]));
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
