/** Users for Kafka SASL tests, made through the management API (one account for AMQP, Kafka and HTTP). */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import type { RawKafkaClient } from './kafka-raw.js';
import { scramCredential, scramHmac, type ScramMechanism } from '../../src/core/scram.js';

const GUEST_AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

async function api(httpUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${httpUrl}${path}`, {
    method,
    headers: { authorization: GUEST_AUTH, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Creates (or replaces) user `name` with `password` and, when given, its permissions in `vhost`. */
export async function putUser(
  httpUrl: string,
  name: string,
  password: string,
  permissions: { configure: string; write: string; read: string } | null = { configure: '.*', write: '.*', read: '.*' },
  vhost = '/',
): Promise<void> {
  const created = await api(httpUrl, 'PUT', `/api/users/${encodeURIComponent(name)}`, { password, tags: '' });
  assert.ok(created.status === 201 || created.status === 204, `PUT user ${name}: ${created.status} ${await created.text()}`);
  if (permissions === null) return;
  const granted = await api(httpUrl, 'PUT', `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`, permissions);
  assert.ok(granted.status === 201 || granted.status === 204, `PUT permissions ${name}: ${granted.status} ${await granted.text()}`);
}

export async function managementApi(httpUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
  return api(httpUrl, method, path, body);
}

/** An IPv4 address of this machine that is not loopback (a client from "another host"), or null. */
export function nonLoopbackAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

// ---- SASL over a raw client (SaslHandshake v1 + SaslAuthenticate v2)

/** PLAIN on a raw client; returns SaslAuthenticate's error code (0: authenticated). */
export async function rawPlain(client: RawKafkaClient, user: string, password: string): Promise<number> {
  const handshake = await client.request(17, 1, { mechanism: 'PLAIN' });
  assert.equal(handshake.errorCode, 0);
  const answer = await client.request(36, 2, { authBytes: Buffer.from(`\0${user}\0${password}`) });
  return answer.errorCode;
}

/** SCRAM on a raw client, checking the server's signature; returns the last error code (0: authenticated). */
export async function rawScram(client: RawKafkaClient, mechanism: ScramMechanism, user: string, password: string): Promise<number> {
  const handshake = await client.request(17, 1, { mechanism });
  assert.equal(handshake.errorCode, 0);
  const clientNonce = randomBytes(12).toString('base64');
  const clientFirstBare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${clientNonce}`;
  const first = await client.request(36, 2, { authBytes: Buffer.from(`n,,${clientFirstBare}`) });
  if (first.errorCode !== 0) return first.errorCode;
  const serverFirst = first.authBytes.toString();
  const fields = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  const credential = scramCredential(mechanism, password, Number(fields.i), Buffer.from(fields.s!, 'base64'));
  const withoutProof = `c=biws,r=${fields.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const clientSignature = scramHmac(mechanism, credential.storedKey, authMessage);
  // ClientKey is not kept by scramCredential: recompute it from the salted password the way a client does
  const salted = pbkdf2Sync(
    Buffer.from(password),
    Buffer.from(fields.s!, 'base64'),
    Number(fields.i),
    mechanism === 'SCRAM-SHA-256' ? 32 : 64,
    mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512',
  );
  const clientKey = scramHmac(mechanism, salted, 'Client Key');
  const proof = Buffer.alloc(clientKey.length);
  for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
  const final = await client.request(36, 2, { authBytes: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`) });
  if (final.errorCode !== 0) return final.errorCode;
  const expected = scramHmac(mechanism, credential.serverKey, authMessage).toString('base64');
  assert.equal(final.authBytes.toString(), `v=${expected}`, 'the server proves it knows the credential');
  return 0;
}
