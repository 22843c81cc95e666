import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { z } from 'zod';
import { SORTS } from '../../../paging.js';
import { robotCreateSchema, robotUpdateSchema, type RobotGrant, type RobotRecord } from '../../../services/robot-service.js';
import { iso } from '../../http.js';
import { listEnvelopeSchema, listId, listQuery, listResponse, paginationQuerySchema } from '../../pagination.js';
import { op, route } from './operation.js';
import { idParam, robotSchema, robotSecretSchema } from './schemas.js';

const robotParams = z.object({ id: idParam.describe('robot account id') });

export const robotOps = {
  create: op({
    method: 'post',
    path: '/robots',
    summary: 'Create a robot account (the secret is shown once)',
    tag: 'robots',
    body: robotCreateSchema,
    responses: { 201: { description: 'the robot and its secret', schema: robotSchema.extend({ secret: z.string().describe('shown once') }) } },
    errors: [404, 409],
  }),
  list: op({
    method: 'get',
    path: '/robots',
    summary: 'List robot accounts (project= for a project’s)',
    tag: 'robots',
    query: paginationQuerySchema.extend({ project: z.string().max(255).optional().describe('only this project’s robots') }),
    responses: { 200: { description: 'a page of robots', schema: listEnvelopeSchema(robotSchema) } },
    errors: [404],
  }),
  get: op({ method: 'get', path: '/robots/{id}', summary: 'Get a robot account', tag: 'robots', params: robotParams, responses: { 200: { description: 'the robot', schema: robotSchema } } }),
  update: op({
    method: 'put',
    path: '/robots/{id}',
    summary: 'Change permissions, expiry, disable',
    tag: 'robots',
    params: robotParams,
    body: robotUpdateSchema,
    responses: { 200: { description: 'the changed robot', schema: robotSchema } },
  }),
  refresh: op({
    method: 'post',
    path: '/robots/{id}/refresh',
    summary: 'Issue a new secret',
    tag: 'robots',
    params: robotParams,
    responses: { 200: { description: 'the new secret', schema: robotSecretSchema } },
  }),
  delete: op({ method: 'delete', path: '/robots/{id}', summary: 'Delete a robot account', tag: 'robots', params: robotParams, responses: { 204: { description: 'deleted' } } }),
};

const robotJson = (r: RobotRecord, grants: RobotGrant[]): z.output<typeof robotSchema> => ({
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
  const at = '/robots';
  route(r, at, robotOps.create, async (c, v) => {
    const { robot, secret } = await c.var.services.robots.create(c.var.principal, c.var.actor, await v.body());
    const { grants } = await c.var.services.robots.get(c.var.principal, robot.id);
    c.header('Cache-Control', 'no-store');
    return c.json({ ...robotJson(robot, grants), secret }, 201);
  });
  route(r, at, robotOps.list, async (c, v) => {
    const { project } = v.query();
    const list = listId('robots', project);
    const q = listQuery(c, list, SORTS.robots);
    const page = await c.var.services.robots.list(c.var.principal, { project, page: q.req });
    return listResponse(c, list, q, page, (x) => robotJson(x.robot, x.grants));
  });
  route(r, at, robotOps.get, async (c, v) => {
    const { robot, grants } = await c.var.services.robots.get(c.var.principal, v.params().id);
    return c.json(robotJson(robot, grants));
  });
  route(r, at, robotOps.update, async (c, v) => {
    const { id } = v.params();
    const { robot, grants } = await c.var.services.robots.update(c.var.principal, c.var.actor, id, await v.body());
    return c.json(robotJson(robot, grants));
  });
  route(r, at, robotOps.refresh, async (c, v) => {
    const { robot, secret } = await c.var.services.robots.refreshSecret(c.var.principal, c.var.actor, v.params().id);
    c.header('Cache-Control', 'no-store');
    return c.json({ id: robot.id, name: robot.name, secret });
  });
  route(r, at, robotOps.delete, async (c, v) => {
    await c.var.services.robots.delete(c.var.principal, c.var.actor, v.params().id);
    return c.body(null, 204);
  });
  return r;
}
