/**
 * SCRAM credentials in the one user store: made when a password is set, kept across restarts in the
 * definitions file, exported and imported as Postbox's own field; a RabbitMQ-format user (a password hash
 * only) logs in by PLAIN until its password is set again. And the loopback guest exists only while guest does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';
import { managementApi, putUser, rawPlain, rawScram } from '../helpers/kafka-sasl.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';
import { KafkaErrorCode } from '../../src/protocol/kafka/errors.js';
import { hashPassword } from '../../src/core/users.js';

async function login(port: number, how: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', user: string, password: string): Promise<number> {
  const client = await RawKafkaClient.connect(port);
  try {
    return how === 'PLAIN' ? await rawPlain(client, user, password) : await rawScram(client, how, user, password);
  } finally {
    client.close();
  }
}

test('a managed user keeps its SCRAM credentials across a restart, and a definitions export carries them', async () => {
  const dataDir = tempDataDir();
  try {
    let broker = await startTestBroker({ dataDir });
    await putUser(`http://127.0.0.1:${broker.httpPort}`, 'dora', 'dora-pass');
    const exported = (await (await managementApi(`http://127.0.0.1:${broker.httpPort}`, 'GET', '/api/definitions')).json()) as {
      users: Array<Record<string, unknown>>;
    };
    const dora = exported.users.find((u) => u.name === 'dora')!;
    const scram = dora.postbox_scram_credentials as Record<string, { iterations: number; salt: string }>;
    assert.equal(scram['SCRAM-SHA-256']!.iterations, 4096);
    assert.equal(scram['SCRAM-SHA-512']!.iterations, 4096);
    assert.notEqual(scram['SCRAM-SHA-256']!.salt, scram['SCRAM-SHA-512']!.salt);
    await broker.stop();
    broker = await startTestBroker({ dataDir });
    try {
      assert.equal(await login(broker.kafkaPort, 'SCRAM-SHA-256', 'dora', 'dora-pass'), 0);
      assert.equal(await login(broker.kafkaPort, 'SCRAM-SHA-512', 'dora', 'dora-pass'), 0);
      assert.equal(await login(broker.kafkaPort, 'SCRAM-SHA-512', 'dora', 'not-it'), KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a RabbitMQ-format user (password_hash only) logs in by PLAIN, not by SCRAM, until its password is set again; Postbox exports import with SCRAM', async () => {
  const broker = await startTestBroker();
  const url = `http://127.0.0.1:${broker.httpPort}`;
  try {
    const rabbit = {
      users: [{ name: 'rab', password_hash: hashPassword('rab-pass'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: '' }],
      permissions: [{ user: 'rab', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    };
    const imported = await managementApi(url, 'POST', '/api/definitions', rabbit);
    assert.ok(imported.status < 300, await imported.text());
    assert.equal(await login(broker.kafkaPort, 'PLAIN', 'rab', 'rab-pass'), 0);
    assert.equal(await login(broker.kafkaPort, 'SCRAM-SHA-256', 'rab', 'rab-pass'), KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
    await putUser(url, 'rab', 'rab-pass', null);
    assert.equal(await login(broker.kafkaPort, 'SCRAM-SHA-256', 'rab', 'rab-pass'), 0);

    // an export of this broker imports into another with working SCRAM logins
    const exported = await (await managementApi(url, 'GET', '/api/definitions')).json();
    const other = await startTestBroker();
    try {
      const again = await managementApi(`http://127.0.0.1:${other.httpPort}`, 'POST', '/api/definitions', exported);
      assert.ok(again.status < 300, await again.text());
      assert.equal(await login(other.kafkaPort, 'SCRAM-SHA-512', 'rab', 'rab-pass'), 0);
    } finally {
      await other.stop();
    }
  } finally {
    await broker.stop();
  }
});

test('without a guest user, a loopback client without SASL is refused too', async () => {
  const broker = await startTestBroker({ users: [{ name: 'only', password: 'only-pass', vhosts: ['/'], loopbackOnly: false, tags: [] }] });
  try {
    const anonymous = await RawKafkaClient.connect(broker.kafkaPort);
    await assert.rejects(
      anonymous.request(3, 1, {
        topics: [],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      }),
      /connection closed/,
    );
    anonymous.close();
    const named = await RawKafkaClient.connect(broker.kafkaPort);
    try {
      assert.equal(await rawScram(named, 'SCRAM-SHA-256', 'only', 'only-pass'), 0);
      const metadata = await named.request(3, 1, {
        topics: [],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      assert.equal(metadata.brokers.length, 1);
    } finally {
      named.close();
    }
  } finally {
    await broker.stop();
  }
});
