/**
 * Broker-wide routes: the overview (product, version, node, listeners) and RabbitMQ's alarms health check
 * (`GET /api/health/checks/alarms`: 200 `{status:'ok'}`, or 503 with the alarm while one is in effect).
 */
import type { Route } from './router.js';

export const overviewRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/overview',
    handler: (_req, ctx) => ({
      status: 200,
      body: {
        product_name: ctx.productName,
        product_version: ctx.version,
        management_version: ctx.version,
        node: ctx.node,
        listeners: ctx.listeners().map((l) => ({ node: ctx.node, ...l })),
      },
    }),
  },
  {
    method: 'GET',
    path: '/api/health/checks/alarms',
    handler: (_req, ctx) => {
      const reason = ctx.core.alarm?.reason ?? null;
      if (reason === null) return { status: 200, body: { status: 'ok' } };
      return {
        status: 503,
        body: { status: 'failed', reason: `resource alarm in effect: ${reason}`, alarms: [{ node: ctx.node, resource: 'disk_free', reason }] },
      };
    },
  },
];
