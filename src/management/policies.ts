/**
 * Policy routes, shaped like RabbitMQ's management API:
 *   GET    /api/policies                  every policy in the vhosts the user may use
 *   GET    /api/policies/{vhost}          one vhost's policies
 *   GET    /api/policies/{vhost}/{name}   one policy (404 when missing)
 *   PUT    /api/policies/{vhost}/{name}   { pattern, definition, priority?, apply-to? } → 201 created, 204 updated
 *   DELETE /api/policies/{vhost}/{name}   204; 404 when missing
 * Reads need any authenticated user with access to the vhost; writes need the administrator or policymaker tag.
 */
import type { Policy } from '../core/policy.js';
import { Errors } from '../errors/errors.js';
import { apiError, jsonObject, requireTag, vhostFor, type ApiReply, type Route } from './router.js';

/** Tags allowed to change policies (RabbitMQ's policymaker can, and administrator includes it). */
export const POLICY_WRITER_TAGS: readonly string[] = ['administrator', 'policymaker'];

/** A policy as the API shows it (RabbitMQ's field names). */
export function policyJson(p: Policy): Record<string, unknown> {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, definition: p.definition, priority: p.priority };
}

function ok(body: unknown): ApiReply {
  return { status: 200, body };
}

export const policyRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/policies',
    handler: (req, ctx) => {
      const out: Record<string, unknown>[] = [];
      for (const v of ctx.core.vhosts.values()) {
        if (ctx.core.vhostFor(req.user, v.name) === undefined) continue;
        for (const p of v.listPolicies()) out.push(policyJson(p));
      }
      return ok(out);
    },
  },
  {
    method: 'GET',
    path: '/api/policies/:vhost',
    handler: (req, ctx) => ok(vhostFor(ctx, req.user, req.params.vhost!).listPolicies().map(policyJson)),
  },
  {
    method: 'GET',
    path: '/api/policies/:vhost/:name',
    handler: (req, ctx) => {
      const vhost = vhostFor(ctx, req.user, req.params.vhost!);
      const policy = vhost.policies.get(req.params.name!);
      if (policy === undefined) throw apiError(Errors.NOT_FOUND, `no policy '${req.params.name}' in vhost '${vhost.name}'`);
      return ok(policyJson(policy));
    },
  },
  {
    method: 'PUT',
    path: '/api/policies/:vhost/:name',
    handler: (req, ctx) => {
      const vhost = vhostFor(ctx, req.user, req.params.vhost!);
      requireTag(req.user, POLICY_WRITER_TAGS, 'set policies');
      const body = jsonObject(req);
      const created = vhost.setPolicy({
        name: req.params.name,
        pattern: body.pattern,
        applyTo: body['apply-to'],
        priority: body.priority,
        definition: body.definition,
      });
      ctx.logger.info(`policy '${req.params.name}' ${created ? 'created' : 'updated'} in vhost '${vhost.name}' by '${req.user.name}'`);
      return { status: created ? 201 : 204 };
    },
  },
  {
    method: 'DELETE',
    path: '/api/policies/:vhost/:name',
    handler: (req, ctx) => {
      const vhost = vhostFor(ctx, req.user, req.params.vhost!);
      requireTag(req.user, POLICY_WRITER_TAGS, 'clear policies');
      vhost.clearPolicy(req.params.name!);
      ctx.logger.info(`policy '${req.params.name}' cleared in vhost '${vhost.name}' by '${req.user.name}'`);
      return { status: 204 };
    },
  },
];
