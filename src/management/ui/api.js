// The management API as the dashboard sees it: basic-auth requests with the signed-in user's credentials,
// and which routes this broker serves (from GET /ui/api-routes), so a page can show "not available" for a
// route that is missing without requesting it.

/** sessionStorage key of the signed-in user's credentials (cleared when the tab closes) */
const CREDENTIALS_KEY = 'postbox.credentials';

/** A failed request: the HTTP status and the broker's reason. */
export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The broker does not serve the route at all (as opposed to a 404 for a queue that is not there). */
export class NotAvailableError extends Error {
  constructor(method, template) {
    super(`this broker does not serve ${method} ${template}`);
    this.name = 'NotAvailableError';
    this.method = method;
    this.template = template;
  }
}

/** The credentials were refused: the user must sign in again. */
export class UnauthorisedError extends ApiError {
  constructor(reason) {
    super(401, reason);
    this.name = 'UnauthorisedError';
  }
}

/** `/api/queues/:vhost/:name` and `/api/queues/:v/:n` are the same route */
function routeShape(method, template) {
  return `${method} ${template.replace(/:[^/]+/g, ':')}`;
}

/** fill a template's `:name` segments from `params`, each URL-encoded (so the vhost `/` becomes `%2F`) */
export function fillPath(template, params = {}) {
  return template.replace(/:([A-Za-z_]+)/g, (_, name) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${template}`);
    return encodeURIComponent(value);
  });
}

export function loadCredentials() {
  try {
    const text = sessionStorage.getItem(CREDENTIALS_KEY);
    if (text === null) return null;
    const parsed = JSON.parse(text);
    return typeof parsed?.username === 'string' && typeof parsed?.password === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

export function saveCredentials(credentials) {
  sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(credentials));
}

export function clearCredentials() {
  sessionStorage.removeItem(CREDENTIALS_KEY);
}

function basicAuth({ username, password }) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

export class Api {
  constructor(credentials) {
    this.credentials = credentials;
    this.authorization = basicAuth(credentials);
    /** route shapes this broker serves; null until loaded (then every route is tried) */
    this.routes = null;
    /** called once when the credentials stop working */
    this.onUnauthorised = () => {};
    this.refused = false;
  }

  /** learn which routes the broker serves; an older broker without the list leaves every route enabled */
  async loadRoutes() {
    try {
      const list = await this.send('GET', '/ui/api-routes');
      if (Array.isArray(list)) this.routes = new Set(list.map((r) => routeShape(r.method, r.path)));
    } catch (err) {
      if (err instanceof UnauthorisedError) throw err;
      this.routes = null;
    }
  }

  /** whether the broker serves `method template` (true while unknown) */
  has(method, template) {
    return this.routes === null || this.routes.has(routeShape(method, template));
  }

  /** request a route by its template: NotAvailableError when the broker does not serve it */
  async call(method, template, params = {}, body = undefined) {
    if (!this.has(method, template)) throw new NotAvailableError(method, template);
    try {
      return await this.send(method, fillPath(template, params), body);
    } catch (err) {
      // the router's own 404 (no such route), as opposed to a missing queue or exchange
      if (err instanceof ApiError && err.status === 404 && err.message === 'Not Found') throw new NotAvailableError(method, template);
      throw err;
    }
  }

  get(template, params) {
    return this.call('GET', template, params);
  }

  /** one HTTP request; resolves with the parsed JSON body (undefined when there is none) */
  async send(method, path, body = undefined) {
    const headers = { Authorization: this.authorization, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    // credentials 'omit': the Authorization header is ours; the browser must not add its own or prompt for one
    const response = await fetch(path, { method, headers, credentials: 'omit', body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let data;
    if (text.length > 0) {
      try {
        data = JSON.parse(text);
      } catch {
        data = undefined;
      }
    }
    if (response.ok) return data;
    const reason = typeof data?.reason === 'string' ? data.reason : `${response.status} ${response.statusText}`;
    if (response.status === 401) {
      if (!this.refused) {
        this.refused = true;
        this.onUnauthorised(reason);
      }
      throw new UnauthorisedError(reason);
    }
    throw new ApiError(response.status, reason);
  }
}
