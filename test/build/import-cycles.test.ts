/**
 * No runtime import cycle between the broker's modules (docs/architecture.md says so; eslint.config.js checks
 * the direction between layers, this checks cycles inside them too). Type-only imports are left out: they
 * vanish from the compiled code. Reads the TypeScript sources, so it needs nothing but the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** the repository root: dist/test/build/ is three levels below it */
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const src = join(root, 'src');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** relative imports that survive compilation: not `import type`, and not a list of `type X` names only */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)([^;]*?)\s+from\s+'(\.[^']+)'/gms)) {
    const clause = m[1]!;
    const braces = /\{([^}]*)\}/.exec(clause);
    const outside = braces === null ? clause : clause.replace(braces[0], '');
    const namesOnlyTypes =
      braces !== null &&
      braces[1]!
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
        .every((x) => x.startsWith('type '));
    if (namesOnlyTypes && !/[\w$*]/.test(outside.replace(/,/g, ''))) continue;
    out.push(resolve(dirname(file), m[2]!.replace(/\.js$/, '.ts')));
  }
  return out;
}

test('no runtime import cycle between the modules of src/', () => {
  const graph = new Map<string, string[]>();
  for (const file of sources(src)) graph.set(file, runtimeImports(file));
  assert.ok(graph.size > 100, `read ${graph.size} modules`);
  // depth-first search with colours: grey = on the current path, so an edge into grey closes a cycle
  const colour = new Map<string, 'grey' | 'black'>();
  const cycles: string[] = [];
  const path: string[] = [];
  const visit = (file: string): void => {
    colour.set(file, 'grey');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      const c = colour.get(next);
      if (c === 'grey') cycles.push([...path.slice(path.indexOf(next)), next].map((f) => relative(src, f)).join(' -> '));
      else if (c === undefined) visit(next);
    }
    path.pop();
    colour.set(file, 'black');
  };
  for (const file of graph.keys()) if (!colour.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});
