/**
 * Definitions export and import in RabbitMQ's definitions JSON format (administrator only):
 *   GET  /api/definitions            { rabbit_version, rabbitmq_version, product_name, product_version, users,
 *                                      vhosts, permissions, topic_permissions, parameters, global_parameters,
 *                                      policies, queues, exchanges, bindings }
 *   POST /api/definitions            import that format: creates what is missing → 204
 *   GET  /api/definitions/{vhost}    one vhost's policies, queues, exchanges and bindings
 *   POST /api/definitions/{vhost}    import those into that vhost (their own vhost fields are ignored) → 204
 *
 * Export: users with password hashes (a config-file user's hash is made from its password at startup, so it
 * logs in after an import elsewhere), every non-exclusive queue (transient ones too), every exchange but the
 * default and amq.* ones, every binding but the implicit default-exchange ones.
 * Beyond RabbitMQ's format, the whole-broker document also carries Postbox's other declarative state:
 * `topics` ([{ name, partitions, configs }], the Kafka topics with their explicitly set configs) and
 * `alert_rules` (as GET /api/alert-rules gives them). RabbitMQ ignores keys it does not know.
 * Import order: vhosts, users, permissions, policies, exchanges, queues, bindings, topics, alert rules.
 * What exists already is kept (an inequivalent exchange or queue is a 400 naming it; an existing topic is
 * left as it is). Users and permissions of users, and alert rules, defined in the config file are skipped
 * (the file wins); an imported alert rule is kept as if PUT through the API. topic_permissions, parameters and global_parameters are
 * accepted and ignored. The first failure stops the import with a 400 naming the entry; entries before it
 * stay applied, as in RabbitMQ.
 */
import type { Exchange } from '../core/exchange/exchange.js';
import type { VirtualHost } from '../core/vhost.js';
import { BrokerError, brokerError, Errors } from '../errors/errors.js';
import { scramFromDefinition, scramToDefinition } from '../core/scram.js';
import { MANAGEMENT_OWNER } from './access.js';
import { parseTags } from './access-control.js';
import { fieldTableToJson, jsonToFieldTable } from './message-json.js';
import { policyJson } from './policies.js';
import { AlertRuleError, parseAlertRule, ruleToJson } from './alerts.js';
import {
  ADMINISTRATOR_TAGS,
  ApiError,
  apiError,
  jsonObject,
  requireTag,
  vhostFor,
  type ApiReply,
  type ApiRequest,
  type JsonStream,
  type ManagementContext,
  type Route,
} from './router.js';
import { Slicer } from './listing.js';
import { RABBITMQ_API_VERSION } from './overview.js';

type Row = Record<string, unknown>;

/** the default exchange and amq.* exist in every vhost: they are not exported */
function exportedExchange(e: Exchange): boolean {
  return e.name !== '' && !e.name.startsWith('amq.');
}

/** a vhost's definitions as rows, built in time slices (100,000 queues are ~100 ms of work in one piece) */
async function vhostSections(
  v: VirtualHost,
  withVhost: boolean,
  slicer: Slicer,
): Promise<{ policies: Row[]; queues: Row[]; exchanges: Row[]; bindings: Row[] }> {
  const tag = (row: Row): Row => (withVhost ? { vhost: v.name, ...row } : row);
  const queues: Row[] = [];
  for (const q of v.queues.values()) {
    if (slicer.due()) await slicer.next();
    if (q.exclusiveOwner !== null) continue;
    queues.push(tag({ name: q.name, durable: q.durable, auto_delete: q.autoDelete, arguments: fieldTableToJson(q.arguments) }));
  }
  const exchanges: Row[] = [];
  const bindings: Row[] = [];
  for (const e of v.exchanges.values()) {
    if (exportedExchange(e)) {
      exchanges.push(
        tag({ name: e.name, type: e.type, durable: e.durable, auto_delete: e.autoDelete, internal: e.internal, arguments: fieldTableToJson(e.arguments_) }),
      );
    }
    for (const b of e.bindings) {
      if (slicer.due()) await slicer.next();
      const d = b.destination;
      if (d.kind === 'queue' && (v.queues.get(d.name)?.exclusiveOwner ?? null) !== null) continue;
      bindings.push(
        tag({ source: b.source, destination: d.name, destination_type: d.kind, routing_key: b.routingKey, arguments: fieldTableToJson(b.arguments) }),
      );
    }
  }
  const policies = v.listPolicies().map((p) => {
    const row = policyJson(p);
    if (!withVhost) delete row.vhost;
    return row;
  });
  return { policies, queues, exchanges, bindings };
}

/** An object written as a JsonStream: its array values in pieces, everything else at once. */
function streamedObject(object: Row): JsonStream {
  const parts: Array<string | readonly unknown[]> = [];
  let first = true;
  for (const [key, value] of Object.entries(object)) {
    const head = `${first ? '{' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (Array.isArray(value)) parts.push(`${head}[`, value, ']');
    else parts.push(head + JSON.stringify(value));
  }
  parts.push(first ? '{}' : '}');
  return { parts };
}

async function exportAll(ctx: ManagementContext): Promise<Row> {
  const vhosts = [...ctx.core.vhosts.values()];
  const slicer = new Slicer();
  const sections: Array<Awaited<ReturnType<typeof vhostSections>>> = [];
  for (const v of vhosts) sections.push(await vhostSections(v, true, slicer));
  return {
    rabbit_version: RABBITMQ_API_VERSION,
    rabbitmq_version: RABBITMQ_API_VERSION,
    product_name: ctx.productName,
    product_version: ctx.version,
    // postbox_scram_credentials: Postbox's own field (RabbitMQ ignores it); users without it log in by PLAIN
    users: ctx.core.users.list().map((u) => {
      const scram = scramToDefinition(u.scram);
      return {
        name: u.name,
        password_hash: u.passwordHash,
        hashing_algorithm: u.hashingAlgorithm,
        tags: [...u.tags],
        limits: {},
        ...(Object.keys(scram).length > 0 ? { postbox_scram_credentials: scram } : {}),
      };
    }),
    vhosts: vhosts.map((v) => ({ name: v.name, description: '', tags: [], metadata: { description: '', tags: [] } })),
    permissions: ctx.core.users.permissions(),
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: sections.flatMap((s) => s.policies),
    queues: sections.flatMap((s) => s.queues),
    exchanges: sections.flatMap((s) => s.exchanges),
    bindings: sections.flatMap((s) => s.bindings),
    topics: [...ctx.streams.topics()].map((t) => ({ name: t.name, partitions: t.partitions.length, configs: { ...t.explicitConfigs } })),
    // the built-in defaults as shipped are left out: importing them would pin them as API rules
    alert_rules:
      ctx.alerts === undefined
        ? []
        : ctx.alerts
            .listRules()
            .filter((r) => !ctx.alerts!.isDefaultRule(r.name))
            .map(ruleToJson),
  };
}

// ---------------------------------------------------------------- import

function section(body: Row, key: string): Row[] {
  const v = body[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw apiError(Errors.INVALID_ARGUMENT, `'${key}' must be an array`);
  v.forEach((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw apiError(Errors.INVALID_ARGUMENT, `${key}[${i}] must be an object`);
  });
  return v as Row[];
}

function str(item: Row, key: string, where: string, fallback?: string): string {
  const v = item[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw apiError(Errors.INVALID_ARGUMENT, `${where}: '${key}' is required`);
  }
  if (typeof v !== 'string') throw apiError(Errors.INVALID_ARGUMENT, `${where}: '${key}' must be a string`);
  return v;
}

function bool(item: Row, key: string, where: string, fallback: boolean): boolean {
  const v = item[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw apiError(Errors.INVALID_ARGUMENT, `${where}: '${key}' must be true or false`);
  return v;
}

/** run one import step; a failure becomes an HTTP error naming the entry */
function step(where: string, apply: () => void): void {
  try {
    apply();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // the core's refusal, named after the entry; one the core answers as a server-side failure (5xx) is the document's fault here
    if (err instanceof BrokerError) throw apiError(err.def.http >= 500 ? Errors.INVALID_ARGUMENT : err.def, `${where}: ${err.message}`);
    throw err;
  }
}

/**
 * Apply a definitions document. `only` limits it to one vhost (the per-vhost route): entries' own vhost
 * fields are then ignored and users, vhosts and permissions are not touched.
 */
function importDefinitions(ctx: ManagementContext, body: Row, only: VirtualHost | null): { skippedUsers: string[] } {
  const core = ctx.core;
  const skippedUsers: string[] = [];
  const vhostOf = (item: Row, where: string): VirtualHost => {
    if (only !== null) return only;
    const name = str(item, 'vhost', where);
    const v = core.vhosts.get(name);
    if (v === undefined) throw apiError(Errors.INVALID_ARGUMENT, `${where}: no vhost '${name}' (list it under 'vhosts')`);
    return v;
  };
  // validate every section's shape before anything changes
  const sections = {
    vhosts: only === null ? section(body, 'vhosts') : [],
    users: only === null ? section(body, 'users') : [],
    permissions: only === null ? section(body, 'permissions') : [],
    policies: section(body, 'policies'),
    exchanges: section(body, 'exchanges'),
    queues: section(body, 'queues'),
    bindings: section(body, 'bindings'),
    topics: only === null ? section(body, 'topics') : [],
    alertRules: only === null ? section(body, 'alert_rules') : [],
  };
  core.batchDefinitions(() => {
    sections.vhosts.forEach((item, i) => step(`vhosts[${i}]`, () => core.addVhost(str(item, 'name', `vhosts[${i}]`))));
    sections.users.forEach((item, i) => {
      const where = `users[${i}]`;
      const name = str(item, 'name', where);
      if (core.users.isFromConfig(name)) {
        skippedUsers.push(name);
        return;
      }
      const tags = parseTags(item.tags);
      step(where, () => {
        // recorded one by one (and undone if the disk refuses), not only by the snapshot at the end
        if (typeof item.password === 'string') core.changeUsers(() => core.users.put(name, { password: item.password as string, tags }));
        else {
          let scram;
          try {
            scram = scramFromDefinition(item.postbox_scram_credentials);
          } catch (err) {
            throw brokerError(Errors.PRECONDITION_FAILED, `${where}.postbox_scram_credentials: ${(err as Error).message}`);
          }
          core.changeUsers(() =>
            core.users.put(name, {
              passwordHash: str(item, 'password_hash', where),
              hashingAlgorithm: str(item, 'hashing_algorithm', where, 'rabbit_password_hashing_sha256'),
              tags,
              scram,
            }),
          );
        }
      });
    });
    sections.permissions.forEach((item, i) => {
      const where = `permissions[${i}]`;
      const user = str(item, 'user', where);
      if (core.users.isFromConfig(user)) return;
      const vhost = vhostOf(item, where).name;
      step(where, () =>
        core.changeUsers(() =>
          core.users.setPermission({ user, vhost, configure: str(item, 'configure', where), write: str(item, 'write', where), read: str(item, 'read', where) }),
        ),
      );
    });
    sections.policies.forEach((item, i) => {
      const where = `policies[${i}]`;
      const v = vhostOf(item, where);
      step(where, () =>
        v.setPolicy({ name: item.name, pattern: item.pattern, applyTo: item['apply-to'], priority: item.priority, definition: item.definition }),
      );
    });
    sections.exchanges.forEach((item, i) => {
      const where = `exchanges[${i}]`;
      const v = vhostOf(item, where);
      const name = str(item, 'name', where);
      step(`${where} '${name}'`, () => {
        v.declareExchange({
          name,
          type: str(item, 'type', where),
          passive: false,
          durable: bool(item, 'durable', where, true),
          autoDelete: bool(item, 'auto_delete', where, false),
          internal: bool(item, 'internal', where, false),
          arguments: jsonToFieldTable(item.arguments, `${where}.arguments`),
        });
      });
    });
    sections.queues.forEach((item, i) => {
      const where = `queues[${i}]`;
      const v = vhostOf(item, where);
      const name = str(item, 'name', where);
      step(`${where} '${name}'`, () => {
        v.declareQueue(
          {
            name,
            passive: false,
            durable: bool(item, 'durable', where, true),
            exclusive: false,
            autoDelete: bool(item, 'auto_delete', where, false),
            arguments: jsonToFieldTable(item.arguments, `${where}.arguments`),
          },
          MANAGEMENT_OWNER,
        );
      });
    });
    sections.bindings.forEach((item, i) => {
      const where = `bindings[${i}]`;
      const v = vhostOf(item, where);
      const source = str(item, 'source', where);
      const destination = str(item, 'destination', where);
      const type = str(item, 'destination_type', where);
      const routingKey = str(item, 'routing_key', where, '');
      const args = jsonToFieldTable(item.arguments, `${where}.arguments`);
      if (source === '') return; // the default exchange's implicit bindings exist by themselves
      step(`${where} '${source}' → '${destination}'`, () => {
        if (type === 'queue') v.bindQueue(destination, source, routingKey, args, null);
        else if (type === 'exchange') v.bindExchange(destination, source, routingKey, args);
        else throw apiError(Errors.INVALID_ARGUMENT, `${where}: 'destination_type' must be 'queue' or 'exchange'`);
      });
    });
    core.definitionsChanged();
  });
  // topics and alert rules keep their own files (topic.json, alert-rules.json), outside the definitions
  sections.topics.forEach((item, i) => {
    const where = `topics[${i}]`;
    const name = str(item, 'name', where);
    if (ctx.streams.topic(name) !== undefined) return;
    const partitions = item.partitions ?? 1;
    if (typeof partitions !== 'number') throw apiError(Errors.INVALID_PARTITIONS, `${where}: 'partitions' must be a number`);
    const configs = item.configs ?? {};
    if (typeof configs !== 'object' || configs === null || Array.isArray(configs) || Object.values(configs).some((v) => typeof v !== 'string')) {
      throw apiError(Errors.INVALID_CONFIG, `${where}: 'configs' must be an object of strings`);
    }
    step(`${where} '${name}'`, () => ctx.streams.createTopic(name, partitions, configs as Record<string, string>));
  });
  sections.alertRules.forEach((item, i) => {
    const where = `alert_rules[${i}]`;
    const name = str(item, 'name', where);
    const engine = ctx.alerts;
    if (engine === undefined) throw apiError(Errors.PRECONDITION_FAILED, `${where}: alerts are not enabled on this broker`);
    if (engine.isConfigRule(name)) return;
    const { name: _name, ...fields } = item;
    let rule;
    try {
      rule = parseAlertRule(name, fields);
    } catch (err) {
      if (err instanceof AlertRuleError) throw apiError(Errors.INVALID_ARGUMENT, `${where} '${name}': ${err.message}`);
      throw err;
    }
    try {
      engine.setRule(rule);
    } catch (err) {
      if (err instanceof AlertRuleError) throw apiError(Errors.INVALID_ARGUMENT, `${where} '${name}': ${err.message}`);
      throw err;
    }
  });
  return { skippedUsers };
}

function importReply(ctx: ManagementContext, req: ApiRequest, only: VirtualHost | null): ApiReply {
  requireTag(req.user, ADMINISTRATOR_TAGS, 'import definitions');
  const { skippedUsers } = importDefinitions(ctx, jsonObject(req), only);
  if (skippedUsers.length > 0) ctx.logger.info(`definitions import: users defined in the config file were kept as they are: ${skippedUsers.join(', ')}`);
  ctx.logger.info(`definitions imported by '${req.user.name}'${only !== null ? ` into vhost '${only.name}'` : ''}`);
  return { status: 204 };
}

export const definitionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/definitions',
    handler: async (req, ctx) => {
      requireTag(req.user, ADMINISTRATOR_TAGS, 'export definitions');
      return { status: 200, stream: streamedObject(await exportAll(ctx)) };
    },
  },
  { method: 'POST', path: '/api/definitions', handler: (req, ctx) => importReply(ctx, req, null) },
  {
    method: 'GET',
    path: '/api/definitions/:vhost',
    handler: async (req, ctx) => {
      requireTag(req.user, ADMINISTRATOR_TAGS, 'export definitions');
      const v = vhostFor(ctx, req.user, req.params.vhost!);
      const sections = await vhostSections(v, false, new Slicer());
      return {
        status: 200,
        stream: streamedObject({
          rabbit_version: RABBITMQ_API_VERSION,
          rabbitmq_version: RABBITMQ_API_VERSION,
          product_name: ctx.productName,
          product_version: ctx.version,
          parameters: [],
          ...sections,
        }),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/definitions/:vhost',
    handler: (req, ctx) => importReply(ctx, req, vhostFor(ctx, req.user, req.params.vhost!)),
  },
];
