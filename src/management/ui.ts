/**
 * The web dashboard: `GET /` serves the page and `GET /ui/<file>` its static files (hand-written HTML, CSS and
 * JavaScript under src/management/ui/, no build step). Both are public: the page asks for a user and password
 * itself and calls the API with basic auth. `GET /ui/api-routes` (authenticated) lists the API routes this
 * broker serves, so the page can say "not available" for a route without requesting it and logging a 404.
 *
 * The files are not compiled, so they are looked up at run time: beside this module (`ui/`), then in
 * `src/management/ui` of each directory above it (the compiled module sits in dist/src/management/, the
 * sources in src/management/), then the same upwards from the working directory (a build output directory
 * that is not inside the repository).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errors } from '../errors/errors.js';
import { apiError, type ApiReply, type Route } from './router.js';

/** Where the dashboard's files live inside the repository. */
const UI_SOURCE_DIR = join('src', 'management', 'ui');

/** The file every lookup checks for, to tell the right directory from a same-named one. */
const UI_ENTRY = 'index.html';

/** File names served: one path segment of letters, digits, dots, dashes and underscores, not starting with a dot. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Content types by file extension; a file with any other extension is not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Headers on every dashboard file: scripts, styles and requests only from this origin (inline styles are
 * allowed for element.style), no framing, no content sniffing.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** the directory holding the dashboard's files, or undefined when none is found */
export function findUiDirectory(moduleDir: string, workingDir: string): string | undefined {
  const beside = join(moduleDir, 'ui');
  if (existsSync(join(beside, UI_ENTRY))) return beside;
  for (const start of [moduleDir, workingDir]) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, UI_SOURCE_DIR);
      if (existsSync(join(candidate, UI_ENTRY))) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

/** found once when the module loads */
const UI_DIRECTORY = findUiDirectory(dirname(fileURLToPath(import.meta.url)), process.cwd());

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot);
}

/** one dashboard file, or a 404 for anything that is not a plain file name with a known extension */
function serveFile(name: string): ApiReply {
  const contentType = CONTENT_TYPES[extensionOf(name)];
  if (!ASSET_NAME.test(name) || name.includes('..') || contentType === undefined) throw apiError(Errors.NOT_FOUND, `no dashboard file '${name}'`);
  if (UI_DIRECTORY === undefined) throw apiError(Errors.NOT_FOUND, `the dashboard's files (${UI_SOURCE_DIR}) were not found`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(UI_DIRECTORY, name));
  } catch {
    throw apiError(Errors.NOT_FOUND, `no dashboard file '${name}'`);
  }
  return { status: 200, raw: { contentType, bytes, headers: SECURITY_HEADERS } };
}

/**
 * The dashboard's routes. `apiRoutes` is read at request time (it is the table these routes are part of) to
 * answer `GET /ui/api-routes` with every authenticated route as `{ method, path }`.
 */
export function uiRoutes(apiRoutes: () => readonly Route[]): readonly Route[] {
  return [
    { method: 'GET', path: '/', public: true, handler: () => serveFile(UI_ENTRY) },
    {
      method: 'GET',
      path: '/ui/api-routes',
      handler: () => ({
        status: 200,
        body: apiRoutes()
          .filter((r) => r.public !== true)
          .map((r) => ({ method: r.method, path: r.path })),
      }),
    },
    { method: 'GET', path: '/ui/:file', public: true, handler: (request) => serveFile(request.params.file ?? '') },
  ];
}
