import { Hono } from 'hono';
import type { AppEnv, Services } from '../../context.js';
import { authenticate, csrfGuard } from '../middleware.js';
import type { Ctx } from '../http.js';
import { accountRoutes } from './account.js';
import { auditPages } from './audit.js';
import { authPages } from './auth.js';
import { identityPages } from './identity.js';
import { oidcPages } from './oidc.js';
import { dashboardPages } from './dashboard.js';
import { jobPages, schedulePages } from './jobs.js';
import { languageRoutes, uiLocale } from './language.js';
import { projectPages } from './projects.js';
import { repositoryPages } from './repositories.js';
import { projectRobotPages, robotPages } from './robots.js';
import { errorText, isHtmx, page, tr } from './render.js';
import type { AppError } from '../../errors.js';
import { systemPages } from './system.js';
import { userPages } from './users.js';
import { vulndbPages } from './vulndb.js';
import { webhookPages } from './webhooks.js';
import { securityPages } from './security.js';
import { retentionPages } from './retention.js';

/** The browser UI: eta pages and htmx fragments, cookie sessions, CSRF on every write. */
export function uiRoutes(services: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  // Mounted at '/', so these would also see /api, /service and /static requests: the UI's session and CSRF
  // handling is for UI pages only.
  const auth = authenticate(services, { allowBasic: false });
  const csrf = csrfGuard(services);
  const isUiPath = (p: string) => !(p.startsWith('/static/') || p.startsWith('/api/') || p.startsWith('/service/') || p.startsWith('/v2') || p === '/metrics' || p === '/livez' || p === '/readyz');
  ui.use('*', async (c, next) => (isUiPath(c.req.path) ? auth(c, next) : next()));
  // The language before the CSRF check, so its refusal is said in the reader's language too.
  ui.use('*', async (c, next) => {
    if (isUiPath(c.req.path)) {
      const { locale, chosen } = await uiLocale(c);
      c.set('locale', locale);
      c.set('localeChosen', chosen);
    }
    await next();
  });
  ui.use('*', async (c, next) => (isUiPath(c.req.path) ? csrf(c, next) : next()));
  // Banners on every page: garbage collection holds the registry read-only; the generated admin password is still in
  // use; no advisory was ever loaded (a scan then finds nothing, which must not read as clean).
  ui.use('*', async (c, next) => {
    if (isUiPath(c.req.path) && c.var.principal?.kind === 'user') {
      const ro = await services.policy.readOnly();
      if (ro) c.set('banner', tr(c)('banner.gc'));
      const p = c.var.principal;
      if (p.isAdmin && (await services.accounts.hasGeneratedPassword(p.id))) c.set('passwordNotice', true);
      if ((await services.advisories.updatedAt()) === null) c.set('advisoryNotice', true);
    }
    await next();
  });
  ui.route('/', authPages());
  ui.route('/', languageRoutes());
  ui.route('/', dashboardPages());
  ui.route('/projects', projectPages());
  ui.route('/projects', repositoryPages());
  ui.route('/projects', webhookPages());
  ui.route('/projects', retentionPages());
  ui.route('/projects', projectRobotPages());
  ui.route('/robots', robotPages());
  ui.route('/jobs', jobPages());
  ui.route('/schedules', schedulePages());
  ui.route('/vulndb', vulndbPages());
  ui.route('/', identityPages());
  ui.route('/', oidcPages());
  ui.route('/security', securityPages());
  ui.route('/', systemPages());
  ui.route('/users', userPages());
  ui.route('/account', accountRoutes());
  ui.route('/audit-logs', auditPages('audit'));
  ui.route('/access-log', auditPages('access'));
  return ui;
}

/** The UI's error page, or a bare fragment for htmx requests, in the reader's language where the error has keys. */
export function renderErrorPage(c: Ctx, status: number, err: AppError) {
  let message = err.message;
  try {
    message = errorText(c, err);
  } catch {
    /* before the services are set: the English message */
  }
  if (isHtmx(c)) return c.html(`<p class="error" role="alert">${escapeHtml(message)}</p>`, status as 400);
  try {
    return page(c, 'pages/error', { title: String(status), status, message }, status);
  } catch {
    return c.text(message, status as 400);
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
