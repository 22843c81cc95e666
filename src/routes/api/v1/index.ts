import { Hono } from 'hono';
import type { AppEnv, Services } from '../../../context.js';
import { authenticate, csrfGuard } from '../../middleware.js';
import { auditLogRoutes } from './audit-logs.js';
import { healthRoutes } from './health.js';
import { identityRoutes } from './identity.js';
import { jobRoutes, scheduleRoutes } from './jobs.js';
import { openApiRoutes } from './openapi.js';
import { projectRoutes } from './projects.js';
import { repositoryRoutes } from './repositories.js';
import { robotRoutes } from './robots.js';
import { scannerRoutes, scanRoutes, scanSystemRoutes } from './scans.js';
import { systemRoutes } from './system.js';
import { userRoutes } from './users.js';
import { webhookRoutes } from './webhooks.js';
import { vulnerabilityRoutes } from './vulnerabilities.js';
import { retentionRoutes } from './retention.js';

/** JSON REST under /api/v1: HTTP Basic (user or robot) or the UI session cookie plus its CSRF header. */
export function apiV1(services: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.route('/', healthRoutes(services));
  api.route('/', openApiRoutes(services));
  api.use('*', authenticate(services, { allowBasic: true }), csrfGuard(services));
  api.route('/', identityRoutes());
  api.route('/users', userRoutes());
  api.route('/projects', projectRoutes());
  api.route('/projects', repositoryRoutes());
  api.route('/projects', scanRoutes());
  api.route('/projects', webhookRoutes());
  api.route('/projects', retentionRoutes());
  api.route('/', scanSystemRoutes());
  api.route('/', scannerRoutes());
  api.route('/robots', robotRoutes());
  api.route('/system', systemRoutes());
  api.route('/jobs', jobRoutes());
  api.route('/schedules', scheduleRoutes());
  api.route('/audit-logs', auditLogRoutes());
  api.route('/vulnerabilities', vulnerabilityRoutes());
  return api;
}
