/**
 * Kafka SASL (SASL_PLAINTEXT) with real clients: kcat (librdkafka), kafkajs and confluent-kafka, over the
 * broker's one user store (users made through the management API work on Kafka too), PLAIN, SCRAM-SHA-256
 * and SCRAM-SHA-512, a wrong password, the loopback-only guest, and the old v0 handshake over raw bytes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { findPython, findRepoFile, requireCommand, run } from '../helpers/external.js';
import { managementApi, nonLoopbackAddress, putUser } from '../helpers/kafka-sasl.js';
import { createLogger } from '../../src/log/logger.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';
import { KafkaErrorCode } from '../../src/protocol/kafka/errors.js';
import { encodeRequest } from '../../src/protocol/kafka/envelope.js';

let broker: TestBroker;
let kcat: string;
const logLines: string[] = [];
const outside = nonLoopbackAddress();

before(async () => {
  kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
  broker = await startTestBroker({
    // every address, so a client can come from a non-loopback one; Metadata sends clients back to it
    hosts: ['0.0.0.0'],
    advertisedHost: outside ?? '127.0.0.1',
    kafkaDefaultPartitions: 1,
    users: [
      { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] },
      { name: 'carol', password: 'carol-secret', vhosts: ['/'], loopbackOnly: false, tags: [] },
    ],
    logger: createLogger('warn', (line) => logLines.push(line)),
  });
  await putUser(`http://127.0.0.1:${broker.httpPort}`, 'alice', 'alice-secret');
});
after(async () => {
  await broker.stop();
});

function bootstrap(): string {
  return `${outside ?? '127.0.0.1'}:${broker.kafkaPort}`;
}

function saslArgs(mechanism: string, user: string, password: string): string[] {
  return ['-X', 'security.protocol=SASL_PLAINTEXT', '-X', `sasl.mechanisms=${mechanism}`, '-X', `sasl.username=${user}`, '-X', `sasl.password=${password}`];
}

async function kcatRun(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(kcat, ['-b', bootstrap(), '-m', '10', ...args], input);
}

for (const [mechanism, user, password] of [
  ['SCRAM-SHA-512', 'alice', 'alice-secret'],
  ['SCRAM-SHA-256', 'alice', 'alice-secret'],
  ['PLAIN', 'alice', 'alice-secret'],
  ['SCRAM-SHA-512', 'carol', 'carol-secret'],
] as const) {
  test(`kcat authenticates with ${mechanism} as ${user} (${user === 'carol' ? 'a config file user' : 'a user made through the management API'}) from another address, produces and consumes`, async () => {
    assert.ok(outside !== null, 'this machine has no non-loopback IPv4 address');
    const topic = `sasl-${mechanism.toLowerCase()}-${user}`;
    const produced = await kcatRun(['-P', '-t', topic, '-X', 'acks=all', ...saslArgs(mechanism, user, password)], 'one\ntwo\nthree\n');
    assert.equal(produced.code, 0, produced.stderr);
    const consumed = await kcatRun(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', ...saslArgs(mechanism, user, password)]);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.deepEqual(consumed.stdout.trim().split('\n'), ['one', 'two', 'three']);
  });
}

test('kcat with a wrong password reports an authentication failure, and the broker logs the failure once for its address (the login guard)', async () => {
  const before = logLines.length;
  const result = await run(kcat, ['-b', bootstrap(), '-m', '3', '-L', ...saslArgs('SCRAM-SHA-512', 'alice', 'wrong')]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512/);
  // librdkafka reconnects and tries again until it gives up; the login guard (core/login-guard.ts) writes
  // one line at an address's first failure and sums the rest up later, whatever the protocol
  const lines = logLines.slice(before).filter((l) => l.includes('login failed from'));
  assert.ok(lines.length >= 1, 'the failure is logged');
  const sources = new Set<string>();
  for (const line of lines) {
    const m = /login failed from (\S+): user 'alice' \(Kafka SCRAM-SHA-512\)$/.exec(line);
    assert.ok(m !== null, line);
    assert.ok(!sources.has(m[1]!), `two first-failure lines for ${m[1]}`);
    sources.add(m[1]!);
  }
});

test('a client from another address without SASL is refused; the same client with SASL is served', async () => {
  assert.ok(outside !== null, 'this machine has no non-loopback IPv4 address');
  const refused = await run(kcat, ['-b', bootstrap(), '-m', '3', '-L']);
  assert.notEqual(refused.code, 0, refused.stdout);
  // the broker closes the connection at the first request past ApiVersions, as Kafka does: kcat times out
  assert.match(refused.stderr, /Failed to acquire metadata/);
  // the guest cannot log in from there either, even with its password
  const guest = await run(kcat, ['-b', bootstrap(), '-m', '3', '-L', ...saslArgs('PLAIN', 'guest', 'guest')]);
  assert.notEqual(guest.code, 0, guest.stdout);
  const served = await kcatRun(['-L', '-J', ...saslArgs('PLAIN', 'alice', 'alice-secret')]);
  assert.equal(served.code, 0, served.stderr);
});

test('a loopback client without SASL is the guest and is served as before', async () => {
  const result = await run(kcat, ['-b', `127.0.0.1:${broker.kafkaPort}`, '-m', '10', '-L', '-J']);
  assert.equal(result.code, 0, result.stderr);
});

function kafkajs(sasl: SASLOptions): Kafka {
  return new Kafka({ clientId: 'sasl-test', brokers: [bootstrap()], sasl, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
}

for (const mechanism of ['scram-sha-256', 'scram-sha-512', 'plain'] as const) {
  test(`kafkajs authenticates with ${mechanism}, produces and consumes in a group`, async () => {
    const kafka = kafkajs({ mechanism, username: 'alice', password: 'alice-secret' } as SASLOptions);
    const topic = `kafkajs-sasl-${mechanism}`;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'a' }, { value: 'b' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: `g-${mechanism}` });
    await consumer.connect();
    const seen: string[] = [];
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`consumed only ${seen.join(',')}`)), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
          if (seen.length === 2) {
            clearTimeout(guard);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    assert.deepEqual(seen, ['a', 'b']);
  });
}

test('kafkajs with a wrong password fails with an authentication error', async () => {
  for (const mechanism of ['scram-sha-256', 'plain'] as const) {
    const admin = kafkajs({ mechanism, username: 'alice', password: 'nope' } as SASLOptions).admin();
    await assert.rejects(admin.connect(), (err: Error) => {
      assert.match(`${err.name} ${err.message}`, /SASL|Authentication failed/i);
      return true;
    });
  }
});

test('confluent-kafka authenticates with SCRAM-SHA-512 and PLAIN, and reports a wrong password as an authentication failure', async () => {
  const python = await findPython('confluent_kafka', 'install it with `apt-get install python3-confluent-kafka`');
  const result = await run(python, [findRepoFile('test/kafka/kafka_confluent_sasl.py'), bootstrap(), 'alice', 'alice-secret']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(result.stdout.trim().split('\n'), [
    'SCRAM-SHA-512 produced and consumed',
    'PLAIN produced and consumed',
    'wrong password: authentication failed',
  ]);
});

// ---- the v0 handshake over raw bytes (old clients): bare size-prefixed tokens follow the handshake

function rawFrames(socket: Socket): (count: number) => Promise<Buffer[]> {
  let buffered = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  socket.on('data', (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    for (const w of waiters.splice(0)) w();
  });
  return async (count) => {
    const frames: Buffer[] = [];
    while (frames.length < count) {
      if (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const size = buffered.readInt32BE(0);
        frames.push(buffered.subarray(4, 4 + size));
        buffered = buffered.subarray(4 + size);
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        socket.once('close', () => reject(new Error('connection closed')));
      });
    }
    return frames;
  };
}

function sizePrefixed(token: Buffer): Buffer {
  const frame = Buffer.alloc(4 + token.length);
  frame.writeInt32BE(token.length, 0);
  token.copy(frame, 4);
  return frame;
}

test('SaslHandshake v0 then a bare PLAIN token authenticates (old clients), and Kafka requests follow', async () => {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => socket.connect(broker.kafkaPort, outside ?? '127.0.0.1', resolve).once('error', reject));
  const next = rawFrames(socket);
  try {
    socket.write(encodeRequest(17, 0, 1, 'old', { mechanism: 'PLAIN' }));
    const [handshake] = await next(1);
    assert.equal(handshake!.readInt32BE(0), 1); // correlation id
    assert.equal(handshake!.readInt16BE(4), KafkaErrorCode.NONE);
    socket.write(sizePrefixed(Buffer.from('\0alice\0alice-secret')));
    const [empty] = await next(1);
    assert.equal(empty!.length, 0);
    socket.write(
      encodeRequest(3, 1, 2, 'old', {
        topics: [],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      }),
    );
    const [metadata] = await next(1);
    assert.equal(metadata!.readInt32BE(0), 2);
  } finally {
    socket.destroy();
  }
});

test('SaslHandshake v1 lists the mechanisms, and an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM', async () => {
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const answer = await client.request(17, 1, { mechanism: 'GSSAPI' });
    assert.equal(answer.errorCode, KafkaErrorCode.UNSUPPORTED_SASL_MECHANISM);
    assert.deepEqual(answer.mechanisms, ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);
  } finally {
    client.close();
  }
});

test('the management API lists a SASL connection with its user, the Kafka vhost and the mechanism', async () => {
  const admin = kafkajs({ mechanism: 'scram-sha-512', username: 'alice', password: 'alice-secret' } as SASLOptions).admin();
  await admin.connect();
  try {
    await admin.listTopics();
    const response = await managementApi(`http://127.0.0.1:${broker.httpPort}`, 'GET', '/api/connections');
    const listed = ((await response.json()) as Array<{ protocol: string; user: string; vhost: string; auth_mechanism: string }>).filter(
      (c) => c.protocol === 'Kafka' && c.user === 'alice',
    );
    assert.ok(listed.length >= 1);
    assert.equal(listed[0]!.vhost, '/');
    assert.equal(listed[0]!.auth_mechanism, 'SCRAM-SHA-512');
  } finally {
    await admin.disconnect();
  }
});
