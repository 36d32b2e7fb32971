/**
 * What a browser can be made to send to the management API: a page on another site auto-submitting a
 * `text/plain` form to `POST /api/definitions` (no CORS preflight for that) while the browser holds basic
 * credentials for the API created an administrator; a page whose DNS name was rebound to 127.0.0.1 could
 * drive the API as guest. The requests here carry the headers a browser sends in those cases.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { api } from './helpers.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker({ httpAllowedHosts: 'broker.example, other.example' });
});
after(async () => {
  await broker.stop();
});

const GUEST = 'Basic ' + Buffer.from('guest:guest').toString('base64');

/** one request with exactly these headers (node's http lets a test set Host, Origin and Sec-Fetch-*) */
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: broker.httpPort, method, path, headers: { Authorization: GUEST, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** the definitions body a hostile page would submit: a new administrator */
function adminDefinitions(name: string): string {
  return JSON.stringify({
    users: [{ name, password: 'pw', tags: 'administrator' }],
    permissions: [{ user: name, vhost: '/', configure: '.*', write: '.*', read: '.*' }],
  });
}

async function userExists(name: string): Promise<boolean> {
  return (await api(broker, 'GET', `/api/users/${name}`)).status === 200;
}

test('a text/plain form posted from another site to /api/definitions is refused and creates no administrator', async () => {
  const port = broker.httpPort;
  // what Chromium sends for an auto-submitted <form enctype="text/plain"> on http://evil.example
  const csrf = await send(
    'POST',
    '/api/definitions',
    { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'text/plain' },
    adminDefinitions('csrf-admin'),
  );
  assert.equal(csrf.status, 403);
  assert.match(csrf.text, /cross-origin POST refused/);
  // an older browser without Sec-Fetch-*: the Origin alone refuses it
  const byOrigin = await send(
    'POST',
    '/api/definitions',
    { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example', 'Content-Type': 'text/plain' },
    adminDefinitions('csrf-admin'),
  );
  assert.equal(byOrigin.status, 403);
  // another port of the same host is another origin (and "same-site" to the browser)
  const sameSite = await send(
    'PUT',
    '/api/users/csrf-admin',
    { Host: `127.0.0.1:${port}`, Origin: 'http://127.0.0.1:8080', 'Sec-Fetch-Site': 'same-site', 'Content-Type': 'application/json' },
    JSON.stringify({ password: 'pw', tags: 'administrator' }),
  );
  assert.equal(sameSite.status, 403);
  // no Origin at all (a form in a browser that sends none): the body is not JSON, so 415, as RabbitMQ answers
  const plain = await send('POST', '/api/definitions', { Host: `127.0.0.1:${port}`, 'Content-Type': 'text/plain' }, adminDefinitions('csrf-admin'));
  assert.equal(plain.status, 415);
  const form = await send(
    'PUT',
    '/api/users/csrf-admin',
    { Host: `127.0.0.1:${port}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    '{"password":"pw","tags":"administrator"}',
  );
  assert.equal(form.status, 415);
  assert.equal(await userExists('csrf-admin'), false);
});

test("the dashboard's own requests (same origin, JSON) and tools without Origin (curl, rabbitmqadmin) still change things", async () => {
  const port = broker.httpPort;
  const sameOrigin = await send(
    'PUT',
    '/api/users/ui-made',
    { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json' },
    JSON.stringify({ password: 'pw', tags: '' }),
  );
  assert.equal(sameOrigin.status, 201);
  const tool = await send(
    'POST',
    '/api/definitions',
    { Host: `localhost:${port}`, 'Content-Type': 'application/json; charset=utf-8' },
    adminDefinitions('tool-made'),
  );
  assert.ok(tool.status === 204 || tool.status === 201, `status ${tool.status}`);
  // a request the user typed (Sec-Fetch-Site: none) and a DELETE with no body
  const typed = await send('DELETE', '/api/users/ui-made', { Host: `[::1]:${port}`, 'Sec-Fetch-Site': 'none' });
  assert.equal(typed.status, 204);
  assert.equal(await userExists('ui-made'), false);
  assert.equal(await userExists('tool-made'), true);
});

test('a request whose Host is not a name of the broker is refused (DNS rebinding), reads included; configured names pass', async () => {
  const port = broker.httpPort;
  const rebound = await send('GET', '/api/overview', { Host: `evil.example:${port}` });
  assert.equal(rebound.status, 403);
  assert.match(rebound.text, /Host 'evil\.example:\d+' is not a name of this broker/);
  const definitions = await send('GET', '/api/definitions', { Host: 'evil.example' });
  assert.equal(definitions.status, 403);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `broker.example:${port}`, 'OTHER.example', `dashboard.localhost:${port}`]) {
    assert.equal((await send('GET', '/api/overview', { Host: host })).status, 200, host);
  }
});

test('/metrics is open by default and asks for credentials with --metrics-require-auth', async () => {
  const open = await fetch(`${broker.httpUrl}/metrics`);
  assert.equal(open.status, 200);
  await open.text();
  const closed = await startTestBroker({ metricsRequireAuth: true });
  try {
    const anonymous = await fetch(`${closed.httpUrl}/metrics`);
    assert.equal(anonymous.status, 401);
    await anonymous.text();
    const guest = await fetch(`${closed.httpUrl}/metrics`, { headers: { Authorization: GUEST } });
    assert.equal(guest.status, 200);
    assert.match(await guest.text(), /^rabbitmq_queues \d+$/m);
  } finally {
    await closed.stop();
  }
});
