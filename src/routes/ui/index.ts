import { Hono } from 'hono';
import type { AppEnv, Services } from '../../context.js';
import { authenticate, csrfGuard } from '../middleware.js';
import type { Ctx } from '../http.js';
import { accountRoutes } from './account.js';
import { auditPages } from './audit.js';
import { authPages } from './auth.js';
import { dashboardPages } from './dashboard.js';
import { projectPages } from './projects.js';
import { repositoryPages } from './repositories.js';
import { robotPages } from './robots.js';
import { isHtmx, page } from './render.js';
import { userPages } from './users.js';

/** The browser UI: eta pages and htmx fragments, cookie sessions, CSRF on every write. */
export function uiRoutes(services: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.use('*', async (c, next) => {
    if (c.req.path.startsWith('/static/')) return next();
    return authenticate(services, { allowBasic: false })(c, next);
  });
  ui.use('*', async (c, next) => {
    if (c.req.path.startsWith('/static/')) return next();
    return csrfGuard(services)(c, next);
  });
  ui.route('/', authPages());
  ui.route('/', dashboardPages());
  ui.route('/projects', projectPages());
  ui.route('/projects', repositoryPages());
  ui.route('/robots', robotPages());
  ui.route('/users', userPages());
  ui.route('/account', accountRoutes());
  ui.route('/audit-logs', auditPages('audit'));
  ui.route('/access-log', auditPages('access'));
  return ui;
}

/** The UI's error page, or a bare fragment for htmx requests. */
export function renderErrorPage(c: Ctx, status: number, message: string) {
  if (isHtmx(c)) return c.html(`<p class="error" role="alert">${escapeHtml(message)}</p>`, status as 400);
  try {
    return page(c, 'pages/error', { title: String(status), status, message }, status);
  } catch {
    return c.text(message, status as 400);
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
