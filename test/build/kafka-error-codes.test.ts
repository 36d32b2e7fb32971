/**
 * The Kafka adapter answers a broker failure through the error registry (ARCHITECTURE.md habit 10), so the
 * same failure has the same name on AMQP, Kafka and the HTTP API: a handler writes `Errors.X.kafka` (or
 * passes on the entry a core failure carries), and names only Kafka's protocol states itself
 * (KafkaProtocolState in src/protocol/kafka/errors.ts). These read the adapter's sources and the two tables:
 * no handler names a failure by its Kafka name or number, the protocol states and the registry's Kafka codes
 * do not meet, and docs/compatibility.md lists both as the code has them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errors } from '../../src/errors/errors.js';
import { KafkaErrorCode, KafkaProtocolState } from '../../src/protocol/kafka/errors.js';

/** the repository root: dist/test/build/ is three levels below it */
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const kafkaDir = join(root, 'src', 'protocol', 'kafka');

/** The adapter's hand-written sources: not its tests, not the generated codecs, not errors.ts (which holds the tables). */
function adapterSources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'generated') adapterSources(path, out);
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts') && path !== join(kafkaDir, 'errors.ts')) out.push(path);
  }
  return out;
}

const registryKafkaCodes: ReadonlySet<number> = new Set(Object.values(Errors).map((e) => e.kafka));
const stateNames: ReadonlySet<string> = new Set(Object.keys(KafkaProtocolState));

test('no Kafka handler answers a broker failure by its Kafka name or number: the registry entry gives the code', () => {
  const problems: string[] = [];
  const files = adapterSources(kafkaDir);
  assert.ok(
    files.some((f) => f.endsWith(join('handlers', 'topics.ts'))) && files.some((f) => f.endsWith('connection.ts')),
    'the scan finds the handlers and the connection',
  );
  for (const file of files) {
    const where = relative(root, file);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/^\s*(\*|\/\/|\/\*)/.test(line)) return; // comments
        const at = `${where}:${i + 1}: ${line.trim()}`;
        for (const m of line.matchAll(/\bKafkaErrorCode\.([A-Z_]+)/g)) {
          const name = m[1]!;
          if (stateNames.has(name)) problems.push(`${at} (a protocol state: KafkaProtocolState.${name})`);
          else {
            const code = (KafkaErrorCode as Record<string, number>)[name];
            const entries = Object.values(Errors).filter((e) => e.kafka === code);
            const how =
              code === -1
                ? 'kafkaFailureOf gives null for a failure with no Kafka code'
                : `answer ${entries.map((e) => `Errors.${e.code}.kafka`).join(' or ') || 'through a registry entry'}`;
            problems.push(`${at} (${name} is a broker failure: ${how})`);
          }
        }
        // an error code written as a number
        if (/[eE]rrorCode\s*[:=]\s*\(?\s*-?\d/.test(line)) problems.push(`${at} (an error code as a bare number)`);
        // the old map from a core failure to a number, where -1 stood for "not the registry's"
        if (/\bkafkaErrorCodeOf\b/.test(line)) problems.push(`${at} (kafkaErrorCodeOf is gone: kafkaFailureOf gives the registry entry, null for a bug)`);
      });
  }
  assert.equal(problems.length, 0, `${problems.length} problem(s), the first ones:\n${problems.slice(0, 12).join('\n')}`);
});

test("no Kafka protocol state is a registry entry's Kafka code, and every other Kafka code the broker answers is one", () => {
  const problems: string[] = [];
  for (const [name, code] of Object.entries(KafkaProtocolState)) {
    const entries = Object.values(Errors).filter((e) => e.kafka === code);
    if (entries.length > 0)
      problems.push(
        `${name} (${code}) is a protocol state, but the registry's ${entries.map((e) => e.code).join(', ')} answer it: a broker failure belongs in the registry only`,
      );
  }
  for (const [name, code] of Object.entries(KafkaErrorCode)) {
    if (stateNames.has(name)) continue;
    if (!registryKafkaCodes.has(code)) problems.push(`${name} (${code}) is neither a protocol state nor any registry entry's Kafka code`);
  }
  assert.deepEqual(problems, []);
});

/** The body rows of the first markdown table after `heading` in `text`, cells trimmed. */
function tableAfter(text: string, heading: string): string[][] {
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `no "${heading}" in docs/compatibility.md`);
  const lines = text.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

test("docs/compatibility.md's Kafka error codes list every registry entry under its Kafka code, and the protocol states apart", () => {
  const text = readFileSync(join(root, 'docs', 'compatibility.md'), 'utf8');
  const section = text.slice(text.indexOf('\n### Error codes\n'));
  const problems: string[] = [];
  const nameOf = new Map<number, string>(Object.entries(KafkaErrorCode).map(([name, code]) => [code, name]));
  const listed = new Map<string, number>();
  for (const [code, name, entries] of tableAfter(section, 'Which Kafka code each entry is answered with')) {
    const number = Number(code);
    if (name !== '`' + nameOf.get(number) + '`') problems.push(`${code}: Kafka's name is ${nameOf.get(number)}, the table says ${name}`);
    for (const m of entries!.matchAll(/`([A-Z_]+)`/g)) {
      if (listed.has(m[1]!)) problems.push(`${m[1]} is listed twice`);
      listed.set(m[1]!, number);
    }
  }
  for (const [key, entry] of Object.entries(Errors)) {
    if (entry.kafka < 0) {
      if (listed.has(key)) problems.push(`${key} has no Kafka code, the table lists it under ${listed.get(key)}`);
    } else if (!listed.has(key)) problems.push(`${key} (Kafka ${entry.kafka}) is not in the table`);
    else if (listed.get(key) !== entry.kafka) problems.push(`${key} is listed under ${listed.get(key)}, the registry answers ${entry.kafka}`);
  }
  for (const key of listed.keys()) if (!(key in Errors)) problems.push(`${key} is in the table but not in the registry`);
  const states = new Map<string, number>();
  for (const [code, name] of tableAfter(section, 'a Kafka handler answers them by name')) states.set(name!.replace(/`/g, ''), Number(code));
  for (const [name, code] of Object.entries(KafkaProtocolState)) {
    if (name === 'NONE') continue;
    if (states.get(name) !== code)
      problems.push(`protocol state ${name} (${code}) is ${states.has(name) ? `listed as ${states.get(name)}` : 'not in the table'}`);
  }
  for (const name of states.keys()) if (!stateNames.has(name)) problems.push(`${name} is in the protocol states' table but not in KafkaProtocolState`);
  assert.deepEqual(problems, []);
});
