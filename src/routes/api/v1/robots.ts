import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { RobotGrant, RobotRecord } from '../../../services/robot-service.js';
import { SORTS } from '../../../paging.js';
import { iso, jsonBody, pathId } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

const robotJson = (r: RobotRecord, grants: RobotGrant[]) => ({
  id: r.id,
  name: r.name,
  level: r.projectId === null ? 'system' : 'project',
  description: r.description,
  disabled: r.disabled,
  expires_at: iso(r.expiresAt),
  permissions: grants.map((g) => ({ project: g.projectName, actions: g.actions })),
  created_by: r.createdBy,
  created_at: iso(r.createdAt),
  updated_at: iso(r.updatedAt),
});

/** Robot accounts: the secret appears only in the create and refresh responses. */
export function robotRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.post('/', async (c) => {
    const { robot, secret } = await c.var.services.robots.create(c.var.principal, c.var.actor, await jsonBody(c));
    const { grants } = await c.var.services.robots.get(c.var.principal, robot.id);
    c.header('Cache-Control', 'no-store');
    return c.json({ ...robotJson(robot, grants), secret }, 201);
  });
  r.get('/', async (c) => {
    const project = c.req.query('project')?.slice(0, 255);
    const list = listId('robots', project);
    const q = listQuery(c, list, SORTS.robots);
    const page = await c.var.services.robots.list(c.var.principal, { project, page: q.req });
    return listResponse(c, list, q, page, (x) => robotJson(x.robot, x.grants));
  });
  r.get('/:id', async (c) => {
    const { robot, grants } = await c.var.services.robots.get(c.var.principal, pathId(c, 'id'));
    return c.json(robotJson(robot, grants));
  });
  r.put('/:id', async (c) => {
    const { robot, grants } = await c.var.services.robots.update(c.var.principal, c.var.actor, pathId(c, 'id'), await jsonBody(c));
    return c.json(robotJson(robot, grants));
  });
  r.post('/:id/refresh', async (c) => {
    const { robot, secret } = await c.var.services.robots.refreshSecret(c.var.principal, c.var.actor, pathId(c, 'id'));
    c.header('Cache-Control', 'no-store');
    return c.json({ id: robot.id, name: robot.name, secret });
  });
  r.delete('/:id', async (c) => {
    await c.var.services.robots.delete(c.var.principal, c.var.actor, pathId(c, 'id'));
    return c.body(null, 204);
  });
  return r;
}
