#!/usr/bin/env node
/**
 * Prints the PromQL expressions of RabbitMQ's published Grafana dashboards, one per line: every panel
 * target's `expr` (rows' nested panels included) and every query variable's query, whitespace collapsed.
 * The output is test/fixtures/rabbitmq-dashboards.promql, the interface test/management/prometheus-dashboards.test.ts
 * runs through a real Prometheus. Reproduce it with
 *
 *   node scripts/extract-grafana-promql.mjs <rabbitmq-server checkout> > test/fixtures/rabbitmq-dashboards.promql
 *
 * where the checkout is a work tree or a bare git directory of github.com/rabbitmq/rabbitmq-server (a bare
 * one is read at HEAD, or at the revision given as a second argument).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DASHBOARDS = 'deps/rabbitmq_prometheus/docker/grafana/dashboards';

const [source, revision = 'HEAD'] = process.argv.slice(2);
if (source === undefined) {
  process.stderr.write('usage: extract-grafana-promql.mjs <rabbitmq-server checkout or bare git dir> [revision]\n');
  process.exit(2);
}

/** [file name, JSON text] of every dashboard, and the commit they were read at */
function readDashboards() {
  if (existsSync(join(source, DASHBOARDS))) {
    const dir = join(source, DASHBOARDS);
    let commit = 'unknown (not a git work tree)';
    try {
      commit = execFileSync('git', ['-C', source, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      // a copy without .git: the commit is unknown
    }
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    return { commit, dashboards: files.map((f) => [f, readFileSync(join(dir, f), 'utf8')]) };
  }
  const git = (...args) => execFileSync('git', ['--git-dir', source, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const commit = git('rev-parse', revision).trim();
  const files = git('ls-tree', '--name-only', `${commit}:${DASHBOARDS}`)
    .split('\n')
    .filter((f) => f.endsWith('.json'))
    .sort();
  return { commit, dashboards: files.map((f) => [f, git('show', `${commit}:${DASHBOARDS}/${f}`)]) };
}

const oneLine = (text) => text.replace(/\s+/g, ' ').trim();

/** [where, expression] of one dashboard, in document order */
function expressions(dashboard) {
  const out = [];
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (typeof query === 'string' && query.trim() !== '') out.push([`var:${variable.name}`, oneLine(query)]);
  }
  const walk = (panels) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr === 'string' && target.expr.trim() !== '') out.push([oneLine(panel.title ?? '') || `panel ${panel.id}`, oneLine(target.expr)]);
      }
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

const { commit, dashboards } = readDashboards();
const lines = [
  "# PromQL of RabbitMQ's published Grafana dashboards: every panel target's expression and every query",
  "# variable's query, one per line: <dashboard file> TAB <panel title, or var:<name>> TAB <expression>.",
  `# Source: https://github.com/rabbitmq/rabbitmq-server, ${DASHBOARDS}/*.json`,
  `# at commit ${commit}.`,
  '# That package (deps/rabbitmq_prometheus) is licensed under the Mozilla Public License 2.0 (MPL-2.0,',
  '# https://mozilla.org/MPL/2.0/; its LICENSE and LICENSE-MPL-RabbitMQ files); the expressions below are',
  '# quoted from it unchanged except for whitespace.',
  '# Regenerate: node scripts/extract-grafana-promql.mjs <rabbitmq-server checkout> > <this file>',
];
for (const [file, text] of dashboards) {
  for (const [where, expr] of expressions(JSON.parse(text))) lines.push(`${file}\t${where.replace(/\t/g, ' ')}\t${expr}`);
}
process.stdout.write(lines.join('\n') + '\n');
