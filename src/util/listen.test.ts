import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { adoptReservation, ListenError, needsIpv6Only, reserveListener } from './listen.js';

const quiet = (): void => {};

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

test('a client that connects between reservation and adoption is held, unread, and served by the real server', async () => {
  const reservation = await reserveListener('Echo', '--echo-port', ['127.0.0.1'], 0, quiet);
  const early = await connected(reservation.port);
  early.write('sent before the server existed');
  const echoed = new Promise<string>((resolve) => early.once('data', (chunk) => resolve(chunk.toString())));
  await new Promise((r) => setTimeout(r, 50));
  const listening = await adoptReservation(reservation, () => createServer((socket) => socket.pipe(socket)), quiet);
  assert.equal(await echoed, 'sent before the server existed');
  // and a client connecting afterwards reaches the real server directly
  const late = await connected(reservation.port);
  late.write('after');
  assert.equal(await new Promise<string>((resolve) => late.once('data', (chunk) => resolve(chunk.toString()))), 'after');
  early.destroy();
  late.destroy();
  await Promise.all(listening.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

test('an http server adopts a reservation', async () => {
  const reservation = await reserveListener('HTTP', '--http-port', ['127.0.0.1'], 0, quiet);
  const listening = await adoptReservation(reservation, () => createHttpServer((_req, res) => res.end('ok')), quiet);
  const res = await fetch(`http://127.0.0.1:${listening.port}/`);
  assert.equal(await res.text(), 'ok');
  await Promise.all(
    listening.servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.close(() => r());
          s.closeAllConnections();
        }),
    ),
  );
});

test('a port in use is a ListenError naming the listener, the address and the flag; a cancelled reservation frees its port', async () => {
  const first = await reserveListener('AMQP', '--amqp-port', ['127.0.0.1'], 0, quiet);
  await assert.rejects(reserveListener('AMQP', '--amqp-port', ['127.0.0.1'], first.port, quiet), (err: Error) => {
    assert.ok(err instanceof ListenError);
    assert.equal(err.message, `cannot listen for AMQP on 127.0.0.1:${first.port} (--amqp-port): address already in use`);
    return true;
  });
  await first.cancel();
  const again = await reserveListener('AMQP', '--amqp-port', ['127.0.0.1'], first.port, quiet);
  await again.cancel();
});

test('an IPv6 address is bound IPv6-only only when an IPv4 address is listed beside it', () => {
  assert.equal(needsIpv6Only('::', ['0.0.0.0', '::']), true);
  assert.equal(needsIpv6Only('::', ['::']), false);
  assert.equal(needsIpv6Only('0.0.0.0', ['0.0.0.0', '::']), false);
  assert.equal(needsIpv6Only('::1', ['127.0.0.1', '::1']), true);
});
