/**
 * Every refusal of the management API is a registry error (src/errors/errors.ts): a sample of routes that
 * fail in different ways answers with the status and `{ error, reason }` body RabbitMQ's API shapes (the
 * same as before the registry carried them), keeps its headers (WWW-Authenticate, Allow), and the broker's
 * debug line for the request names the registry entry, whose HTTP status is the one the client got.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { createLogger } from '../../src/log/logger.js';
import { Errors } from '../../src/errors/errors.js';
import { MAX_REQUEST_BODY_BYTES } from '../../src/management/http.js';
import { api, type Call } from './helpers.js';

let broker: TestBroker;
const lines: string[] = [];
before(async () => {
  broker = await startTestBroker({ logger: createLogger('debug', (line) => lines.push(line)) });
});
after(async () => {
  await broker.stop();
});

interface Refusal {
  status: number;
  headers: Headers | Map<string, string>;
  body: { error: string; reason: string };
}

/**
 * The registry entry named by the broker's debug line for `method path` (the latest such line): it must be
 * an entry of Errors whose HTTP status is the one sent.
 */
function registryEntryFor(method: string, path: string, status: number): string {
  const prefix = `http ${method} ${path} → ${status} `;
  const line = [...lines].reverse().find((l) => l.includes(prefix));
  assert.ok(line !== undefined, `no debug line '${prefix}...' among:\n${lines.filter((l) => l.includes(`http ${method}`)).join('\n')}`);
  const code = line.slice(line.indexOf(prefix) + prefix.length).trim();
  const entry = (Errors as Readonly<Record<string, { code: string; http: number }>>)[code];
  assert.ok(entry !== undefined, `'${code}' is not an entry of the error registry`);
  assert.equal(entry.code, code);
  assert.equal(entry.http, status, `the registry's ${code} has HTTP status ${entry.http}, the client got ${status}`);
  return code;
}

/** the reply to `method path`; `code()` is the registry entry the broker's debug line names for it (asked last) */
async function refused(method: string, path: string, call: Call = {}): Promise<Refusal & { code: () => string }> {
  const r = await api(broker, method, path, call);
  return { ...r, code: () => registryEntryFor(method, path.split('?')[0]!, r.status) };
}

/** a request whose body is larger than the API takes, over a raw socket (the broker answers before it is all sent) */
function oversized(path: string): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const socket = connect(broker.httpPort, '127.0.0.1');
    const chunks: Buffer[] = [];
    const size = MAX_REQUEST_BODY_BYTES + 1024;
    socket.on('connect', () => {
      socket.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(size, 0x20), () => {});
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {}); // the broker closes the connection while the rest of the body is on its way
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine, ...headerLines] = text.slice(0, end).split('\r\n');
      const headers = new Map(headerLines.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]));
      const length = Number(headers.get('content-length'));
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(text.slice(end + 4, end + 4 + length)) });
    });
  });
}

test('an unknown vhost is 404 not_found, the registry NOT_FOUND', async () => {
  const r = await refused('GET', '/api/queues/no-such-vhost');
  assert.deepEqual([r.status, r.body], [404, { error: 'not_found', reason: "no vhost 'no-such-vhost'" }]);
  assert.equal(r.code(), 'NOT_FOUND');
});

test('a body that is not JSON is 400 bad_request, the registry BAD_REQUEST', async () => {
  const r = await refused('PUT', '/api/queues/%2F/registry-q', { raw: '{"durable":' });
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'bad_request');
  assert.match(r.body.reason, /^request body is not valid JSON: /);
  assert.equal(r.code(), 'BAD_REQUEST');
});

test('a method a path does not serve is 405 method_not_allowed with Allow, the registry METHOD_NOT_ALLOWED', async () => {
  const r = await refused('DELETE', '/api/overview');
  assert.deepEqual([r.status, r.body], [405, { error: 'method_not_allowed', reason: 'method DELETE not allowed' }]);
  assert.equal(r.headers.get('allow'), 'GET');
  assert.equal(r.code(), 'METHOD_NOT_ALLOWED');
});

test('a request without credentials is 401 not_authorised with a Basic challenge, the registry UNAUTHORIZED', async () => {
  const r = await refused('GET', '/api/overview', { auth: null });
  assert.deepEqual([r.status, r.body], [401, { error: 'not_authorised', reason: 'authentication required (HTTP basic auth)' }]);
  assert.equal(r.headers.get('www-authenticate'), 'Basic realm="Postbox Management"');
  assert.equal(r.code(), 'UNAUTHORIZED');
});

test('a body past the limit is 413 payload_too_large, the registry REQUEST_TOO_LARGE', async () => {
  const r = await oversized('/api/definitions');
  assert.deepEqual([r.status, r.body], [413, { error: 'payload_too_large', reason: `request body larger than ${MAX_REQUEST_BODY_BYTES} bytes` }]);
  assert.equal(registryEntryFor('PUT', '/api/definitions', 413), 'REQUEST_TOO_LARGE');
});

test('a body that is not application/json is 415, the registry UNSUPPORTED_MEDIA_TYPE', async () => {
  // what a cross-site form sends (the api() helper always sends application/json)
  const res = await fetch(broker.httpUrl + '/api/definitions', {
    method: 'POST',
    headers: { Authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64'), 'Content-Type': 'text/plain' },
    body: '{}',
  });
  const r = { status: res.status, body: (await res.json()) as unknown, code: () => registryEntryFor('POST', '/api/definitions', res.status) };
  // `error` is 'error' for 415: the API has no RabbitMQ name for that status (RabbitMQ answers it without a body)
  assert.deepEqual([r.status, r.body], [415, { error: 'error', reason: 'request body must be application/json (Content-Type: text/plain)' }]);
  assert.equal(r.code(), 'UNSUPPORTED_MEDIA_TYPE');
});

test('a user without a management tag is 403 access_refused, the registry ACCESS_REFUSED', async () => {
  assert.equal((await api(broker, 'PUT', '/api/users/registry-plain', { body: { password: 'pw', tags: '' } })).status, 201);
  const r = await refused('GET', '/api/overview', { auth: ['registry-plain', 'pw'] });
  assert.equal(r.status, 403);
  assert.equal(r.body.error, 'access_refused');
  assert.match(r.body.reason, /^user 'registry-plain' may not use the management API/);
  assert.equal(r.code(), 'ACCESS_REFUSED');
});

test('a query parameter out of range is 400 bad_request, the registry INVALID_ARGUMENT', async () => {
  const r = await refused('GET', '/api/queues?page=0');
  assert.deepEqual([r.status, r.body], [400, { error: 'bad_request', reason: "'page' must be a positive integer, got '0'" }]);
  assert.equal(r.code(), 'INVALID_ARGUMENT');
});

test('deleting a queue that is not empty with if-empty is 400, the registry PRECONDITION_FAILED', async () => {
  assert.equal((await api(broker, 'PUT', '/api/queues/%2F/registry-full', { body: { durable: false } })).status, 201);
  const published = await api(broker, 'POST', '/api/exchanges/%2F/amq.default/publish', {
    body: { properties: {}, routing_key: 'registry-full', payload: 'x', payload_encoding: 'string' },
  });
  assert.deepEqual(published.body, { routed: true });
  const r = await refused('DELETE', '/api/queues/%2F/registry-full?if-empty=true');
  assert.deepEqual([r.status, r.body], [400, { error: 'bad_request', reason: "queue 'registry-full' in vhost '/' not empty" }]);
  assert.equal(r.code(), 'PRECONDITION_FAILED');
});

test("the core's own refusal (an inequivalent re-declare) keeps its registry entry and status", async () => {
  assert.equal((await api(broker, 'PUT', '/api/queues/%2F/registry-durable', { body: { durable: true } })).status, 201);
  const r = await refused('PUT', '/api/queues/%2F/registry-durable', { body: { durable: false } });
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'bad_request');
  assert.match(r.body.reason, /inequivalent arg 'durable'/);
  assert.equal(r.code(), 'PRECONDITION_FAILED');
});

test('an unknown topic and an unknown consumer group are 404 not_found, the registry UNKNOWN_TOPIC and GROUP_NOT_FOUND', async () => {
  const topic = await refused('GET', '/api/streams/topics/no-such-topic');
  assert.deepEqual([topic.status, topic.body], [404, { error: 'not_found', reason: "no topic 'no-such-topic'" }]);
  assert.equal(topic.code(), 'UNKNOWN_TOPIC');
  const group = await refused('DELETE', '/api/streams/groups/no-such-group');
  assert.deepEqual([group.status, group.body], [404, { error: 'not_found', reason: "no consumer group 'no-such-group'" }]);
  assert.equal(group.code(), 'GROUP_NOT_FOUND');
});
