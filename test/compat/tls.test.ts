/**
 * TLS on every listener (docs/security.md#tls), through the clients people use: amqplib `amqps://`, pika
 * with `ssl_options`, kcat with `security.protocol=SSL`, kafkajs with `ssl`, curl `--cacert`; client
 * certificates (--tls-verify-peer, AMQP's EXTERNAL, the Kafka principal), TLS versions, certificate reload
 * and plain listeners turned off. Certificates are made with openssl for each run (test/helpers/tls-certs.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createServer, type AddressInfo } from 'node:net';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, tempDataDir, waitFor, type TestBroker } from '../helpers/broker.js';
import { runRefusedBroker, serveArgs, spawnBroker } from '../helpers/process.js';
import { findPython, requireCommand, run } from '../helpers/external.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls-certs.js';
import { TLS_FILE_POLL_MS, TLS_RELOAD_SETTLE_MS } from '../../src/util/tls.js';
import { buildConfig, ConfigError } from '../../src/config/config.js';

/** kafkajs's ConfigResourceTypes.BROKER (not a named export of the CommonJS module) */
const BROKER_RESOURCE = 4;

let certs: TestCertificates;
let broker: TestBroker;
/** data directories of `postbox serve` children, removed at the end */
const dirs: string[] = [];
function dataDir(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return dir;
}

before(async () => {
  await requireCommand('openssl', 'version', 'install it with `apt-get install openssl`');
  certs = makeTestCertificates();
  broker = await startTestBroker({ tlsCert: certs.cert, tlsKey: certs.key, tlsCa: certs.ca, amqpsPort: 0, httpsPort: 0, kafkaTlsPort: 0 });
});
after(async () => {
  await broker.stop();
  certs.remove();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function amqpsUrl(b: TestBroker, credentials = 'guest:guest@'): string {
  return `amqps://${credentials}localhost:${b.amqpsPort}`;
}

/** the certificate a new TLS connection to `port` is served, as its SHA-256 fingerprint */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(certs.ca), servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** GET over HTTPS with curl --cacert (and a client certificate when given); the body */
async function curl(url: string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const curlPath = await requireCommand('curl', '--version', 'install it with `apt-get install curl`');
  return run(curlPath, ['-sS', '--fail', '--cacert', certs.ca, '-u', 'guest:guest', ...extra, url]);
}

test('amqplib connects with amqps:// and the CA, and publishes and gets a message', async () => {
  const conn = await amqp.connect(amqpsUrl(broker), { ca: [readFileSync(certs.ca)] });
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('tls-amqplib');
    ch.sendToQueue('tls-amqplib', Buffer.from('over tls'));
    await ch.waitForConfirms();
    const got = await ch.get('tls-amqplib', { noAck: true });
    assert.ok(got !== false);
    assert.equal(got.content.toString(), 'over tls');
  } finally {
    await conn.close();
  }
});

test('an amqps client that does not trust the CA is refused by its own verification (the broker serves the configured certificate)', async () => {
  await assert.rejects(amqp.connect(amqpsUrl(broker)), /self[- ]signed|unable to (get|verify)/i);
});

test('pika connects with ssl_options, publishes and gets a message', async () => {
  const python = await findPython('pika', 'install it with `apt-get install python3-pika`');
  const script = `
import ssl, sys, pika
context = ssl.create_default_context(cafile=sys.argv[2])
params = pika.ConnectionParameters(host='localhost', port=int(sys.argv[1]), ssl_options=pika.SSLOptions(context, 'localhost'), credentials=pika.PlainCredentials('guest', 'guest'))
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.queue_declare('tls-pika')
ch.basic_publish('', 'tls-pika', b'pika over tls')
method, props, body = ch.basic_get('tls-pika', auto_ack=True)
print(body.decode())
conn.close()
`;
  const result = await run(python, ['-c', script, String(broker.amqpsPort), certs.ca]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'pika over tls');
});

test('kcat produces and consumes with security.protocol=SSL, and Metadata sends each client back to the listener it came on', async () => {
  const kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
  const ssl = ['-b', `127.0.0.1:${broker.kafkaTlsPort}`, '-X', 'security.protocol=SSL', '-X', `ssl.ca.location=${certs.ca}`];
  const produced = await run(kcat, [...ssl, '-P', '-t', 'tls-kcat', '-X', 'acks=all'], 'one\ntwo\nthree\n');
  assert.equal(produced.code, 0, produced.stderr);
  const consumed = await run(kcat, [...ssl, '-C', '-t', 'tls-kcat', '-o', 'beginning', '-e', '-q']);
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.deepEqual(consumed.stdout.trim().split('\n'), ['one', 'two', 'three']);
  const overTls = JSON.parse((await run(kcat, [...ssl, '-L', '-J'])).stdout) as { brokers: Array<{ name: string }> };
  assert.deepEqual(
    overTls.brokers.map((b) => b.name),
    [`127.0.0.1:${broker.kafkaTlsPort}`],
  );
  const plain = JSON.parse((await run(kcat, ['-b', `127.0.0.1:${broker.kafkaPort}`, '-L', '-J'])).stdout) as { brokers: Array<{ name: string }> };
  assert.deepEqual(
    plain.brokers.map((b) => b.name),
    [`127.0.0.1:${broker.kafkaPort}`],
  );
});

test('kcat with security.protocol=SASL_SSL and SCRAM-SHA-256 logs in as a broker user over the TLS listener, and a wrong password is refused', async () => {
  const kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
  const auth = { Authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64'), 'Content-Type': 'application/json' };
  assert.equal(
    (await fetch(`${broker.httpUrl}/api/users/sasl-tls`, { method: 'PUT', headers: auth, body: JSON.stringify({ password: 's3cret', tags: '' }) })).status,
    201,
  );
  assert.equal(
    (
      await fetch(`${broker.httpUrl}/api/permissions/%2F/sasl-tls`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ configure: '.*', write: '.*', read: '.*' }),
      })
    ).status,
    201,
  );
  const saslSsl = (password: string): string[] => [
    '-b',
    `127.0.0.1:${broker.kafkaTlsPort}`,
    '-X',
    'security.protocol=SASL_SSL',
    '-X',
    `ssl.ca.location=${certs.ca}`,
    '-X',
    'sasl.mechanisms=SCRAM-SHA-256',
    '-X',
    'sasl.username=sasl-tls',
    '-X',
    `sasl.password=${password}`,
  ];
  const produced = await run(kcat, [...saslSsl('s3cret'), '-P', '-t', 'sasl-ssl', '-X', 'acks=all'], 'secret one\n');
  assert.equal(produced.code, 0, produced.stderr);
  const consumed = await run(kcat, [...saslSsl('s3cret'), '-C', '-t', 'sasl-ssl', '-o', 'beginning', '-e', '-q']);
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.equal(consumed.stdout.trim(), 'secret one');
  const wrong = await run(kcat, [...saslSsl('guess'), '-L', '-m', '3']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /Authentication failed/);
});

test('kafkajs with ssl produces and consumes through the TLS listener (it reconnects to the advertised TLS port)', async () => {
  const kafka = new Kafka({
    brokers: [`127.0.0.1:${broker.kafkaTlsPort}`],
    ssl: { ca: [readFileSync(certs.ca)], servername: 'localhost' },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const described = await admin.describeConfigs({
    resources: [{ type: BROKER_RESOURCE, name: '0', configNames: ['advertised.listeners'] }],
    includeSynonyms: false,
  });
  await admin.disconnect();
  assert.deepEqual(
    described.resources[0]?.configEntries.map((e) => e.configValue),
    [`SSL://127.0.0.1:${broker.kafkaTlsPort}`],
  );
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'tls-kafkajs', messages: [{ value: 'via kafkajs' }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'tls-kafkajs-group' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'tls-kafkajs', fromBeginning: true });
  const values: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value?.toString() ?? '') });
  try {
    await waitFor(() => values.length > 0, 20_000, 'the kafkajs consumer');
    assert.deepEqual(values, ['via kafkajs']);
  } finally {
    await consumer.disconnect();
  }
});

test('curl --cacert reads the management API over HTTPS, which lists the TLS listeners as RabbitMQ names them', async () => {
  const result = await curl(`https://localhost:${broker.httpsPort}/api/overview`);
  assert.equal(result.code, 0, result.stderr);
  const overview = JSON.parse(result.stdout) as { listeners: Array<{ protocol: string; port: number }> };
  const byProtocol = Object.fromEntries(overview.listeners.map((l) => [l.protocol, l.port]));
  assert.deepEqual(byProtocol, {
    amqp: broker.amqpPort,
    'amqp/ssl': broker.amqpsPort,
    http: broker.httpPort,
    https: broker.httpsPort,
    kafka: broker.kafkaPort,
    'kafka/ssl': broker.kafkaTlsPort,
  });
});

function connectWithVersion(port: number, version: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'): Promise<string> {
  return new Promise((resolve, reject) => {
    // SECLEVEL=0: let this client offer TLS 1.1 at all (OpenSSL 3 refuses to by default), so the refusal is the broker's
    const socket: TLSSocket = tlsConnect(
      { host: '127.0.0.1', port, ca: readFileSync(certs.ca), servername: 'localhost', minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' },
      () => {
        resolve(socket.getProtocol() ?? '');
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

test('TLS 1.2 and 1.3 are accepted and TLS 1.1 is refused with a protocol_version alert, on every TLS listener', async () => {
  for (const port of [broker.amqpsPort, broker.httpsPort, broker.kafkaTlsPort]) {
    assert.equal(await connectWithVersion(port, 'TLSv1.2'), 'TLSv1.2');
    assert.equal(await connectWithVersion(port, 'TLSv1.3'), 'TLSv1.3');
    await assert.rejects(connectWithVersion(port, 'TLSv1.1'), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  }
});

test('a replaced certificate is served to new connections once the file watch sees it, while an open connection keeps working', async () => {
  const dir = certs.dir;
  const cert = `${dir}/reload-cert.pem`;
  const key = `${dir}/reload-key.pem`;
  certs.issueServer(3001, cert, key);
  const b = await startTestBroker({ tlsCert: cert, tlsKey: key, amqpsPort: 0, httpsPort: -1, kafkaTlsPort: -1 });
  try {
    const before = await servedFingerprint(b.amqpsPort);
    assert.equal(before, certs.fingerprint(cert));
    const open = await amqp.connect(amqpsUrl(b), { ca: [readFileSync(certs.ca)] });
    const ch = await open.createChannel();
    await ch.assertQueue('tls-reload');
    certs.issueServer(3002, cert, key);
    const after = certs.fingerprint(cert);
    assert.notEqual(after, before);
    // polling notices within TLS_FILE_POLL_MS, then waits TLS_RELOAD_SETTLE_MS: a guard well above both
    await waitFor(() => b.tls!.reloads > 0, 5 * (TLS_FILE_POLL_MS + TLS_RELOAD_SETTLE_MS), 'the certificate reload');
    assert.equal(await servedFingerprint(b.amqpsPort), after);
    // the open connection keeps the certificate it was made with
    const openSocket = (open as unknown as { connection: { stream: TLSSocket } }).connection.stream;
    assert.equal(openSocket.getPeerCertificate().fingerprint256, before);
    ch.sendToQueue('tls-reload', Buffer.from('still here'));
    const got = await ch.get('tls-reload', { noAck: true });
    assert.ok(got !== false && got.content.toString() === 'still here', 'the connection opened before the reload still works');
    await open.close();
    // a broken file: logged, and the certificate in use is kept
    writeFileSync(key, 'not a key\n');
    assert.equal(b.reloadTls('test'), false);
    assert.equal(await servedFingerprint(b.amqpsPort), after);
  } finally {
    await b.stop();
  }
});

test('postbox serve reloads its certificate on SIGHUP', async () => {
  const cert = `${certs.dir}/sighup-cert.pem`;
  const key = `${certs.dir}/sighup-key.pem`;
  certs.issueServer(4001, cert, key);
  const child = await spawnBroker(dataDir(), ['--tls-cert', cert, '--tls-key', key, '--amqps-port', '0', '--https-port', '-1', '--kafka-tls-port', '-1']);
  try {
    const port = Number(/amqps on port (\d+)/.exec(child.output())?.[1]);
    assert.equal(await servedFingerprint(port), certs.fingerprint(cert));
    certs.issueServer(4002, cert, key);
    child.child.kill('SIGHUP');
    await waitFor(() => /TLS certificates reloaded \(SIGHUP\)/.test(child.output()), 10_000, 'the SIGHUP reload');
    assert.equal(await servedFingerprint(port), certs.fingerprint(cert));
  } finally {
    child.child.kill('SIGTERM');
    await child.exited;
  }
});

test('plain listeners set to port -1 are not listened on, while the TLS ones serve', async () => {
  const b = await startTestBroker({
    tlsCert: certs.cert,
    tlsKey: certs.key,
    amqpPort: -1,
    httpPort: -1,
    kafkaPort: -1,
    amqpsPort: 0,
    httpsPort: 0,
    kafkaTlsPort: 0,
  });
  try {
    assert.deepEqual([b.amqpPort, b.httpPort, b.kafkaPort], [-1, -1, -1]);
    const result = await curl(`https://localhost:${b.httpsPort}/api/overview`);
    assert.equal(result.code, 0, result.stderr);
    const listeners = (JSON.parse(result.stdout) as { listeners: Array<{ protocol: string }> }).listeners.map((l) => l.protocol).sort();
    assert.deepEqual(listeners, ['amqp/ssl', 'https', 'kafka/ssl']);
    const conn = await amqp.connect(`amqps://guest:guest@localhost:${b.amqpsPort}`, { ca: [readFileSync(certs.ca)] });
    await conn.close();
  } finally {
    await b.stop();
  }
});

test('postbox serve with --amqp-port -1 opens no AMQP port and says so; --tls-verify-peer alone turns client certificates on', async () => {
  const tls = [
    '--tls-cert',
    certs.cert,
    '--tls-key',
    certs.key,
    '--tls-ca',
    certs.ca,
    '--tls-verify-peer',
    '--amqps-port',
    '0',
    '--https-port',
    '0',
    '--kafka-tls-port',
    '0',
  ];
  const result = await runRefusedBroker(['--data-dir', dataDir(), '--host', '127.0.0.1', '--amqp-port', '-1', '--http-port', '0', '--kafka-port', '0', ...tls]);
  assert.ok(result.started, result.output);
  assert.match(
    result.output,
    /ready: amqp off; http on port \d+; kafka on port \d+; amqps on port \d+; https on port \d+; kafka SSL on port \d+; TLS certificate CN=localhost \(serial 03E9, valid until [^)]+\), client certificates required;/,
  );
});

test('a TLS key file that cannot be read, or a TLS port in use, stops postbox serve with one line naming the flag', async () => {
  const missingKey = await runRefusedBroker([...serveArgs(dataDir()), '--tls-cert', certs.cert, '--tls-key', `${certs.dir}/missing.key`]);
  assert.equal(missingKey.code, 1);
  assert.equal(missingKey.output.trim(), `postbox: cannot load the TLS certificate: --tls-key ${certs.dir}/missing.key: no such file`);
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as AddressInfo).port;
  try {
    const inUse = await runRefusedBroker([...serveArgs(dataDir()), '--tls-cert', certs.cert, '--tls-key', certs.key, '--amqps-port', String(port)]);
    assert.equal(inUse.code, 1);
    assert.equal(inUse.output.trim(), `postbox: cannot listen for AMQP over TLS on 127.0.0.1:${port} (--amqps-port): address already in use`);
  } finally {
    taken.close();
  }
});

test('the TLS settings are checked together: a certificate needs its key, verifying peers needs the CA; -1 turns a port off, -2 is refused', () => {
  const refused = (flags: Record<string, string>, pattern: RegExp): void =>
    assert.throws(
      () => buildConfig({ flags }),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message),
    );
  refused({ '--tls-cert': 'server.pem' }, /--tls-cert needs --tls-key/);
  refused({ '--tls-key': 'server.key' }, /--tls-key needs --tls-cert/);
  refused({ '--tls-cert': 'server.pem', '--tls-key': 'server.key', '--tls-verify-peer': 'true' }, /--tls-verify-peer needs --tls-ca/);
  refused({ '--amqps-port': '-2' }, /--amqps-port must be a port 0\.\.65535, or -1 for off/);
  const c = buildConfig({ flags: { '--amqp-port': '-1' }, env: { POSTBOX_KAFKA_TLS_PORT: '-1' } });
  assert.deepEqual([c.amqpPort, c.kafkaTlsPort, c.amqpsPort, c.httpsPort, c.tlsVerifyPeer, c.tlsHandshakeTimeoutMs], [-1, -1, 5671, 15671, false, 5000]);
});

// ---------------------------------------------------------------- client certificates (--tls-verify-peer)

test('with --tls-verify-peer a client certificate logs in with EXTERNAL as its CN, and clients without a valid one are refused', async () => {
  const b = await startTestBroker({
    tlsCert: certs.cert,
    tlsKey: certs.key,
    tlsCa: certs.ca,
    tlsVerifyPeer: true,
    amqpsPort: 0,
    httpsPort: 0,
    kafkaTlsPort: 0,
  });
  try {
    const guest = certs.issueClient('guest');
    const ca = [readFileSync(certs.ca)];
    const withCert = { ca, cert: readFileSync(guest.cert), key: readFileSync(guest.key), credentials: amqp.credentials.external() };
    const conn = await amqp.connect(`amqps://localhost:${b.amqpsPort}`, withCert);
    const ch = await conn.createChannel();
    await ch.assertQueue('tls-external');
    const connections = JSON.parse(
      (await curl(`https://localhost:${b.httpsPort}/api/connections`, ['--cert', guest.cert, '--key', guest.key])).stdout,
    ) as Array<Record<string, unknown>>;
    assert.deepEqual(
      connections.map((c) => [c.user, c.auth_mechanism, c.ssl, c.ssl_protocol, c.peer_cert_subject, c.peer_cert_issuer]),
      [['guest', 'EXTERNAL', true, 'TLSv1.3', 'CN=guest', 'CN=Postbox test CA']],
    );
    await conn.close();

    // PLAIN still works for a client with a certificate
    const plainLogin = await amqp.connect(`amqps://guest:guest@localhost:${b.amqpsPort}`, { ca, cert: withCert.cert, key: withCert.key });
    await plainLogin.close();

    // no certificate, or one from a CA the broker does not trust: the TLS handshake fails
    await assert.rejects(amqp.connect(`amqps://guest:guest@localhost:${b.amqpsPort}`, { ca }));
    const stranger = certs.issueClient('guest', { untrusted: true });
    await assert.rejects(
      amqp.connect(`amqps://localhost:${b.amqpsPort}`, {
        ca,
        cert: readFileSync(stranger.cert),
        key: readFileSync(stranger.key),
        credentials: amqp.credentials.external(),
      }),
    );
    const noCurlCert = await curl(`https://localhost:${b.httpsPort}/api/overview`);
    assert.notEqual(noCurlCert.code, 0);

    // a certificate naming a user that does not exist: 403 ACCESS_REFUSED
    const nobody = certs.issueClient('nobody');
    await assert.rejects(
      amqp.connect(`amqps://localhost:${b.amqpsPort}`, {
        ca,
        cert: readFileSync(nobody.cert),
        key: readFileSync(nobody.key),
        credentials: amqp.credentials.external(),
      }),
      /ACCESS_REFUSED|403/,
    );
  } finally {
    await b.stop();
  }
});

test('with --tls-verify-peer a Kafka client certificate is the connection principal, and kcat without one is refused', async () => {
  const b = await startTestBroker({
    tlsCert: certs.cert,
    tlsKey: certs.key,
    tlsCa: certs.ca,
    tlsVerifyPeer: true,
    amqpsPort: -1,
    httpsPort: -1,
    kafkaTlsPort: 0,
  });
  try {
    // the certificate's CN names a user, who needs permissions in the Kafka vhost as after a SASL login
    const auth = { Authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64'), 'Content-Type': 'application/json' };
    assert.equal(
      (await fetch(`${b.httpUrl}/api/users/alice`, { method: 'PUT', headers: auth, body: JSON.stringify({ password: 'unused', tags: '' }) })).status,
      201,
    );
    assert.equal(
      (
        await fetch(`${b.httpUrl}/api/permissions/%2F/alice`, {
          method: 'PUT',
          headers: auth,
          body: JSON.stringify({ configure: '.*', write: '.*', read: '.*' }),
        })
      ).status,
      201,
    );
    const alice = certs.issueClient('alice');
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${b.kafkaTlsPort}`],
      ssl: { ca: [readFileSync(certs.ca)], cert: readFileSync(alice.cert), key: readFileSync(alice.key), servername: 'localhost' },
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'tls-principal' }] });
      const kafkaConnections = [...b.core.clients].map((c) => c.details()).filter((d) => d.protocol === 'Kafka');
      assert.ok(kafkaConnections.length > 0);
      for (const d of kafkaConnections) assert.deepEqual([d.user, d.authMechanism], ['alice', 'SSL']);
    } finally {
      await admin.disconnect();
    }
    const kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
    const refused = await run(kcat, ['-b', `127.0.0.1:${b.kafkaTlsPort}`, '-X', 'security.protocol=SSL', '-X', `ssl.ca.location=${certs.ca}`, '-L', '-m', '3']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /SSL/);
    const accepted = await run(kcat, [
      '-b',
      `127.0.0.1:${b.kafkaTlsPort}`,
      '-X',
      'security.protocol=SSL',
      '-X',
      `ssl.ca.location=${certs.ca}`,
      '-X',
      `ssl.certificate.location=${alice.cert}`,
      '-X',
      `ssl.key.location=${alice.key}`,
      '-L',
      '-J',
    ]);
    assert.equal(accepted.code, 0, accepted.stderr);
    // a trusted certificate whose CN names no user is refused
    const nobody = certs.issueClient('nobody');
    const stranger = await run(kcat, [
      '-b',
      `127.0.0.1:${b.kafkaTlsPort}`,
      '-X',
      'security.protocol=SSL',
      '-X',
      `ssl.ca.location=${certs.ca}`,
      '-X',
      `ssl.certificate.location=${nobody.cert}`,
      '-X',
      `ssl.key.location=${nobody.key}`,
      '-L',
      '-m',
      '3',
    ]);
    assert.notEqual(stranger.code, 0);
  } finally {
    await b.stop();
  }
});
