/**
 * Errors are data (ARCHITECTURE.md habit 10): every failure the broker reports is an entry of the registry
 * (src/errors/errors.ts), so one failure maps the same way on every protocol and the HTTP API. These read
 * the registry and the management API's sources: an entry's codes are real ones of each protocol, and no
 * management module answers with a status of its own (it throws apiError(Errors.X, reason)); the table of
 * statuses in docs/management.md lists every entry where the API answers it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errors } from '../../src/errors/errors.js';
import { KafkaErrorCode } from '../../src/protocol/kafka/errors.js';
import { errorName } from '../../src/management/router.js';

/** the repository root: dist/test/build/ is three levels below it */
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** AMQP 0-9-1's reply codes for failures (the spec's constants, class soft-error and hard-error) */
const AMQP_REPLY_CODES: ReadonlySet<number> = new Set([311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541]);

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

test('every registry entry carries its own name, an AMQP reply code, an HTTP error status and a Kafka error code Kafka defines', () => {
  const kafkaCodes = new Set<number>(Object.values(KafkaErrorCode));
  for (const [key, entry] of Object.entries(Errors)) {
    assert.equal(entry.code, key);
    assert.ok(AMQP_REPLY_CODES.has(entry.amqp), `${key}: ${entry.amqp} is not an AMQP 0-9-1 reply code`);
    assert.ok(Number.isInteger(entry.http) && entry.http >= 400 && entry.http <= 599, `${key}: ${entry.http} is not an HTTP error status`);
    assert.ok(
      entry.kafka === -1 || (kafkaCodes.has(entry.kafka) && entry.kafka > 0),
      `${key}: Kafka error code ${entry.kafka} is not in protocol/kafka/errors.ts (-1 for none)`,
    );
  }
});

test('no management module answers with an HTTP status that is not a registry entry', () => {
  const problems: string[] = [];
  const registry: ReadonlySet<string> = new Set(Object.keys(Errors));
  for (const file of sources(join(root, 'src', 'management'))) {
    const where = relative(root, file);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/^\s*(\*|\/\/|\/\*)/.test(line)) return; // comments
      const at = `${where}:${i + 1}: ${line.trim()}`;
      // the status-number form is gone; a failure is apiError(Errors.X, ...) or the core's BrokerError
      if (/\bhttpError\b|\bHttpError\b/.test(line)) problems.push(`${at} (httpError is gone: throw apiError(Errors.X, reason))`);
      // a reply object with an error status of its own; the health checks' { status: 'failed' } bodies are RabbitMQ's shape, not errors
      if (/\bstatus:\s*[45]\d\d\b/.test(line) && !line.includes("status: 'failed'"))
        problems.push(`${at} (an error reply must come from errorReply(): throw apiError(Errors.X, reason))`);
      if (/\b(writeHead|statusCode\s*=)\s*\(?\s*[45]\d\d\b/.test(line)) problems.push(`${at} (an error status written by hand)`);
      for (const m of line.matchAll(/\b(?:apiError|new ApiError|brokerError|new BrokerError)\(\s*([^,]*),/g)) {
        const named = [...m[1]!.matchAll(/\bErrors\.([A-Z_]+)\b/g)].map((x) => x[1]!);
        // definitions.ts names an entry after the core's (err.def); router.ts's apiError passes its parameter on
        const passedOn = /\berr\.def\b/.test(m[1]!) || (where.endsWith('router.ts') && /^errorDef\b/.test(m[1]!.trim()));
        if (named.length === 0 && !passedOn) problems.push(`${at} (the first argument must be Errors.X)`);
        for (const key of named) if (!registry.has(key)) problems.push(`${at} (Errors.${key} is not in the registry)`);
      }
    });
  }
  assert.equal(problems.length, 0, `${problems.length} problem(s), the first ones:\n${problems.slice(0, 10).join('\n')}`);
});

test("docs/management.md's table of errors lists every registry entry under the HTTP status and `error` the API answers it with", () => {
  const text = readFileSync(join(root, 'docs', 'management.md'), 'utf8');
  const start = text.indexOf('\n## Errors\n');
  assert.ok(start >= 0, 'docs/management.md has no "## Errors" section');
  const section = text.slice(start + 1, text.indexOf('\n## ', start + 1));
  const listed = new Map<string, number>();
  const problems: string[] = [];
  for (const row of section.split('\n').filter((l) => /^\| \d{3} \|/.test(l))) {
    const [status, error, codes] = row
      .split('|')
      .slice(1, 4)
      .map((c) => c.trim());
    if (error !== '`' + errorName(Number(status)) + '`') problems.push(`${status}: \`error\` is ${errorName(Number(status))}, the table says ${error}`);
    for (const m of codes!.matchAll(/`([A-Z_]+)`/g)) {
      if (listed.has(m[1]!)) problems.push(`${m[1]} is listed twice`);
      listed.set(m[1]!, Number(status));
    }
  }
  for (const [key, entry] of Object.entries(Errors)) {
    if (!listed.has(key)) problems.push(`${key} (HTTP ${entry.http}) is not in the table`);
    else if (listed.get(key) !== entry.http) problems.push(`${key} is listed under ${listed.get(key)}, the registry answers ${entry.http}`);
  }
  for (const key of listed.keys()) if (!(key in Errors)) problems.push(`${key} is in the table but not in the registry`);
  assert.deepEqual(problems, []);
});
