import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SETTINGS, buildConfig, ConfigError } from '../../src/config/config.js';

const docs = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

test('docs/configuration.md documents every setting with its flag, env var and file key', () => {
  for (const s of SETTINGS) {
    assert.ok(docs.includes('`' + s.flag + '`'), `docs lack ${s.flag}`);
    assert.ok(docs.includes('`' + s.env + '`'), `docs lack ${s.env}`);
    assert.ok(docs.includes('`' + s.file + '`'), `docs lack file key ${s.file}`);
    assert.ok(docs.includes('`' + s.defaultValue + '`'), `docs lack default ${s.defaultValue} of ${s.flag}`);
  }
});

test('flags beat env vars, which beat the config file, which beats defaults', () => {
  const c = buildConfig({
    flags: { '--amqp-port': '1111' },
    env: { POSTBOX_AMQP_PORT: '2222', POSTBOX_LOG_LEVEL: 'debug' },
    file: { amqpPort: 3333, logLevel: 'warn', fsync: 'never' },
  });
  assert.equal(c.amqpPort, 1111);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.fsync, 'never');
  assert.equal(c.dataDir, './data');
  assert.deepEqual(c.hosts, ['127.0.0.1', '::1']);
  assert.ok(Object.isFrozen(c));
});

test('an invalid setting is refused with a message naming it', () => {
  assert.throws(
    () => buildConfig({ flags: { '--fsync': 'sometimes' } }),
    (e: Error) => e instanceof ConfigError && e.message.includes('--fsync'),
  );
  assert.throws(
    () => buildConfig({ env: { POSTBOX_AMQP_PORT: '70000' } }),
    (e: Error) => e instanceof ConfigError && e.message.includes('POSTBOX_AMQP_PORT'),
  );
});

test('the guest user exists by default and is limited to loopback', () => {
  const c = buildConfig({});
  const guest = c.users.find((u) => u.name === 'guest');
  assert.ok(guest);
  assert.equal(guest.loopbackOnly, true);
  const custom = buildConfig({ file: { users: [{ name: 'app', password: 'x', vhosts: ['v'] }], vhosts: ['v'] } });
  assert.deepEqual(custom.users.map((u) => u.name).sort(), ['app', 'guest']);
  assert.deepEqual([...custom.vhosts], ['/', 'v']);
});

test('an interval in ms longer than a timer can wait (2^31 - 1) is refused, naming the setting', () => {
  assert.throws(
    () => buildConfig({ flags: { '--alert-interval': String(2 ** 31) }, env: {} }),
    (err: unknown) => err instanceof ConfigError && /--alert-interval must be an integer 0\.\.2147483647/.test(err.message),
  );
  assert.equal(buildConfig({ flags: { '--stats-interval': String(2 ** 31 - 1) }, env: {} }).statsIntervalMs, 2 ** 31 - 1);
});
