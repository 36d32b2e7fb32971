/**
 * The committed codecs are what their generators make from the specs: a hand edit of a generated file, or a
 * generator change committed without its output, fails here. Both generators run into a temporary directory
 * and every file is compared byte for byte with the one under src/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** the repository root: dist/test/build/ is three levels below it */
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const specs = process.env.POSTBOX_SPECS_DIR ?? join(root, '..', 'shared', 'specs');

const GENERATORS = [
  { script: 'scripts/gen-amqp.mjs', committed: 'src/protocol/amqp/generated' },
  { script: 'scripts/gen-kafka.mjs', committed: 'src/protocol/kafka/generated' },
];

for (const { script, committed } of GENERATORS) {
  test(`${committed} is exactly what ${script} generates from the specs`, { skip: existsSync(specs) ? false : `no specs at ${specs}` }, () => {
    const out = mkdtempSync(join(tmpdir(), 'postbox-gen-'));
    try {
      execFileSync(process.execPath, [join(root, script)], { env: { ...process.env, POSTBOX_GEN_OUT_DIR: out, POSTBOX_SPECS_DIR: specs }, stdio: 'pipe' });
      const made = readdirSync(out).sort();
      const kept = readdirSync(join(root, committed))
        .filter((f) => f.endsWith('.ts'))
        .sort();
      assert.deepEqual(made, kept, 'the generator makes the files that are committed');
      for (const file of made) {
        const want = readFileSync(join(out, file), 'utf8');
        const have = readFileSync(join(root, committed, file), 'utf8');
        if (want === have) continue;
        const a = want.split('\n');
        const b = have.split('\n');
        let line = 0;
        while (line < a.length && a[line] === b[line]) line++;
        assert.fail(
          `${committed}/${file} differs from the generator's output at line ${line + 1}: committed ${JSON.stringify(b[line])}, generated ${JSON.stringify(a[line])} (rerun node ${script})`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}
