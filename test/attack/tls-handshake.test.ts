/**
 * Clients that open TCP to a TLS port and never finish the TLS handshake: some send nothing, some send a
 * record header announcing a ClientHello and then one byte at a time. Node's TLS server would keep each for
 * two minutes (its default handshakeTimeout); the broker closes them once --tls-handshake-timeout has
 * passed (RabbitMQ's ssl_handshake_timeout, 5 s by default; 500 ms here), on the AMQP, HTTPS and Kafka TLS
 * listeners alike, and keeps serving: a canary publishes with confirms on the plain AMQP port throughout,
 * and a real amqps client connects in the middle of the attack.
 * Worst canary latency measured here: 26-55 ms over four runs (2 shared CPUs, other helpers' builds running).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import amqp from 'amqplib';
import { startTestBroker, waitFor } from '../helpers/broker.js';
import { startCanary } from '../helpers/canary.js';
import { makeTestCertificates } from '../helpers/tls-certs.js';

/** Silent and dripping clients per TLS listener: enough to show none is kept, few enough for 2 shared CPUs. */
const CLIENTS_PER_LISTENER = 60;
/** The bound set here, ms: short so the test is quick; the default is DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS. */
const HANDSHAKE_TIMEOUT_MS = 500;
/** Pause between two bytes of a dripping client, ms: each byte arrives well inside the bound. */
const DRIP_INTERVAL_MS = 100;
/** A TLS record header: handshake (22), TLS 1.0 record version, 512 bytes of ClientHello to follow. */
const CLIENT_HELLO_HEADER = Buffer.from([22, 3, 1, 2, 0]);

interface Attacker {
  readonly socket: Socket;
  closed: boolean;
  stop(): void;
}

function attacker(port: number, drip: boolean): Attacker {
  const socket = connect({ host: '127.0.0.1', port });
  const a: Attacker = { socket, closed: false, stop: () => clearInterval(timer) };
  let sent = 0;
  const timer = setInterval(() => {
    if (!drip || a.closed) return;
    // the header first, then a byte of the ClientHello body at a time: never a complete record
    socket.write(sent < CLIENT_HELLO_HEADER.length ? CLIENT_HELLO_HEADER.subarray(sent, sent + 1) : Buffer.from([1]));
    sent++;
  }, DRIP_INTERVAL_MS);
  socket.on('error', () => {});
  socket.on('close', () => {
    a.closed = true;
    clearInterval(timer);
  });
  return a;
}

test('clients that never finish the TLS handshake are disconnected after the bound on every TLS listener, and everyone else is served', async () => {
  const certs = makeTestCertificates();
  const broker = await startTestBroker({
    tlsCert: certs.cert,
    tlsKey: certs.key,
    amqpsPort: 0,
    httpsPort: 0,
    kafkaTlsPort: 0,
    tlsHandshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  });
  const canary = await startCanary(broker.url);
  const attackers: Attacker[] = [];
  try {
    for (const port of [broker.amqpsPort, broker.httpsPort, broker.kafkaTlsPort]) {
      for (let i = 0; i < CLIENTS_PER_LISTENER; i++) attackers.push(attacker(port, i % 2 === 1));
    }
    await waitFor(() => attackers.every((a) => a.socket.readyState === 'open' || a.closed), 10_000, 'the attackers to connect');
    // a real client is served while the attackers hold their sockets
    const conn = await amqp.connect(`amqps://guest:guest@localhost:${broker.amqpsPort}`, { ca: [readFileSync(certs.ca)] });
    await conn.close();
    await canary.check();
    // a guard, not a timing assertion: Node's own default would keep them 120 s
    await waitFor(() => attackers.every((a) => a.closed), 20 * HANDSHAKE_TIMEOUT_MS + 10_000, 'every stalled handshake to be closed by the broker');
    await canary.check();
    const report = await canary.stop();
    assert.ok(report.confirmed > 0);
  } finally {
    for (const a of attackers) {
      a.stop();
      a.socket.destroy();
    }
    await broker.stop();
    certs.remove();
  }
});
