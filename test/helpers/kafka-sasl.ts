/** Users for Kafka SASL tests, made through the management API (one account for AMQP, Kafka and HTTP). */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';

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
