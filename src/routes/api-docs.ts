import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../context.js';

/** Swagger UI's files, served from the npm package (no CDN): only these, read once. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// The page runs under the app's CSP (script-src 'self', no inline script): the initializer is a file of its own.
const INIT_JS = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Berth REST API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" href="/api/docs/assets/favicon-32x32.png" type="image/png">
<script src="/api/docs/assets/swagger-ui-bundle.js" defer></script>
<script src="/api/docs/init.js" defer></script>
</head>
<body><div id="swagger-ui"></div></body>
</html>
`;

/** GET /api/docs: a browsable view of /api/v1/openapi.json with Swagger UI from the `swagger-ui-dist` package. */
export function apiDocsRoutes(): Hono<AppEnv> {
  const dir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, Buffer>();
  const r = new Hono<AppEnv>();
  r.get('/', (c) => c.html(PAGE));
  r.get('/init.js', (c) => c.body(INIT_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=3600' }));
  r.get('/assets/:file', (c) => {
    const name = c.req.param('file');
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return c.notFound();
    let body = cache.get(name);
    if (!body) {
      body = fs.readFileSync(path.join(dir, name));
      cache.set(name, body);
    }
    return c.body(new Uint8Array(body), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
  });
  return r;
}
