/** Calling the management API from tests: fetch with basic auth, JSON in and out. */
import type { TestBroker } from '../helpers/broker.js';

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

export interface Call {
  body?: unknown;
  /** raw request body text, sent as is */
  raw?: string;
  /** [user, password]; null sends no Authorization header; default guest/guest */
  auth?: readonly [string, string] | null;
  headers?: Record<string, string>;
}

export async function api(broker: TestBroker, method: string, path: string, call: Call = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(call.headers ?? {}) };
  const auth = call.auth === undefined ? ['guest', 'guest'] : call.auth;
  if (auth !== null) headers.Authorization = 'Basic ' + Buffer.from(auth.join(':')).toString('base64');
  let body: string | undefined = call.raw;
  if (call.body !== undefined) body = JSON.stringify(call.body);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(broker.httpUrl + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text.length > 0 ? JSON.parse(text) : undefined };
}

/** GET that must answer 200; returns the body */
export async function get(broker: TestBroker, path: string, auth?: readonly [string, string]): Promise<any> {
  const r = await api(broker, 'GET', path, auth === undefined ? {} : { auth });
  if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** a path segment: vhost and resource names are URL-encoded ('/' is %2F) */
export function seg(name: string): string {
  return encodeURIComponent(name);
}

/** Alert evaluations that went over every queue so far, from `postbox_alert_evaluations_total` in /metrics. */
export async function alertEvaluations(broker: TestBroker): Promise<number> {
  const text = await (await fetch(broker.httpUrl + '/metrics')).text();
  const m = /^postbox_alert_evaluations_total (\d+)$/m.exec(text);
  if (m === null) throw new Error('/metrics has no postbox_alert_evaluations_total');
  return Number(m[1]);
}

/**
 * Resolves once `passes` more alert evaluations have gone over every queue: whatever the queues held when
 * this was called has then been seen by at least one whole pass (the one running now may have started before).
 */
export async function afterAlertEvaluations(broker: TestBroker, passes = 2, timeoutMs = 10_000): Promise<void> {
  const start = await alertEvaluations(broker);
  const deadline = Date.now() + timeoutMs;
  while ((await alertEvaluations(broker)) < start + passes) {
    if (Date.now() > deadline) throw new Error(`fewer than ${passes} alert evaluations within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
