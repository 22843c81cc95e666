import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import type { ArtifactWithTags } from '../../../services/repository-service.js';
import type { ScanSummary } from '../../../services/scan-service.js';
import { SORTS } from '../../../paging.js';
import { iso } from '../../http.js';
import { listId, listQuery, listResponse } from '../../pagination.js';

export const artifactJson = (a: ArtifactWithTags, scan?: ScanSummary | null) => ({
  id: a.id,
  digest: a.digest,
  media_type: a.mediaType,
  type: a.type,
  artifact_type: a.artifactType,
  config_media_type: a.configMediaType,
  subject: a.subject,
  signed_by: a.signers,
  annotations: a.annotations ?? {},
  size: a.size,
  manifest_size: a.manifestSize,
  tags: a.tags.map((t) => ({ name: t.name, pushed_at: iso(t.pushedAt) })),
  config_digest: a.configDigest,
  os: a.os,
  architecture: a.architecture,
  variant: a.variant,
  created: a.created,
  pushed_at: iso(a.pushedAt),
  pushed_by: a.pushedBy,
  pulled_at: iso(a.pulledAt),
  pull_count: a.pullCount,
  /** the last finished scan's completeness (`complete`, `incomplete`, `not_applicable`), null when none */
  scan_status: scan?.completeness ?? null,
});

/** Under /projects/{project}/repositories: `{repo}` is the path after the project, `/` URL-encoded. */
export function repositoryRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const svc = (c: { var: AppEnv['Variables'] }) => c.var.services.repositories;

  r.get('/:project/repositories', async (c) => {
    const search = c.req.query('q')?.slice(0, 255);
    const list = listId('repositories', c.req.param('project'), search);
    const q = listQuery(c, list, SORTS.repositories);
    const { project, ...page } = await svc(c).list(c.var.principal, c.req.param('project'), { q: search, page: q.req });
    return listResponse(c, list, q, page, (x) => ({
      id: x.id,
      name: x.name,
      project: project.name,
      repo: x.name.slice(project.name.length + 1),
      artifact_count: x.artifactCount,
      pull_count: x.pullCount,
      created_at: iso(x.createdAt),
      updated_at: iso(x.updatedAt),
    }));
  });

  r.get('/:project/repositories/:repo', async (c) => {
    const { repository } = await svc(c).get(c.var.principal, c.req.param('project'), c.req.param('repo'));
    return c.json({ id: repository.id, name: repository.name, pull_count: repository.pullCount, created_at: iso(repository.createdAt), updated_at: iso(repository.updatedAt) });
  });

  r.delete('/:project/repositories/:repo', async (c) => {
    await svc(c).deleteRepository(c.var.principal, c.var.actor, c.req.param('project'), c.req.param('repo'));
    return c.body(null, 204);
  });

  r.get('/:project/repositories/:repo/artifacts', async (c) => {
    const list = listId('artifacts', c.req.param('project'), c.req.param('repo'));
    const q = listQuery(c, list, SORTS.artifacts);
    const { project: _p, repository: _r, ...page } = await svc(c).artifacts(c.var.principal, c.req.param('project'), c.req.param('repo'), { page: q.req });
    const scans = await c.var.services.scans.summaries(page.items.map((a) => a.id));
    return listResponse(c, list, q, page, (a) => artifactJson(a, scans.get(a.id)));
  });

  r.get('/:project/repositories/:repo/artifacts/:reference', async (c) => {
    const { artifact, repository, blobs, children } = await svc(c).artifact(c.var.principal, c.req.param('project'), c.req.param('repo'), c.req.param('reference'));
    const referrers = (await svc(c).referrers(repository.id, [artifact.digest])).get(artifact.digest) ?? [];
    const scans = await c.var.services.scans.summaries([artifact.id]);
    return c.json({
      ...artifactJson(artifact, scans.get(artifact.id)),
      referrers: referrers.map((x) => ({
        digest: x.digest,
        type: x.type,
        artifact_type: x.artifactType ?? x.configMediaType,
        media_type: x.mediaType,
        size: x.manifestSize,
        signed_by: x.signers,
        tags: x.tags.map((t) => t.name),
      })),
      blobs: blobs.map((b) => ({ digest: b.digest, media_type: b.mediaType, size: b.size })),
      children: children.map((ch) => ({ digest: ch.digest, media_type: ch.mediaType, size: ch.size, platform: ch.platform })),
    });
  });

  r.delete('/:project/repositories/:repo/artifacts/:reference', async (c) => {
    await svc(c).deleteArtifact(c.var.principal, c.var.actor, c.req.param('project'), c.req.param('repo'), c.req.param('reference'));
    return c.body(null, 204);
  });

  r.get('/:project/repositories/:repo/tags', async (c) => {
    const list = listId('tags', c.req.param('project'), c.req.param('repo'));
    // Tags were returned whole before pagination: up to 1000 a page (small rows) keeps most repositories on one.
    const q = listQuery(c, list, SORTS.tags, { defaultLimit: 1000, maxLimit: 1000 });
    const { project: _p, repository: _r, ...page } = await svc(c).tags(c.var.principal, c.req.param('project'), c.req.param('repo'), q.req);
    return listResponse(c, list, q, page, (t) => ({ name: t.name, digest: t.digest, pushed_at: iso(t.pushedAt) }));
  });

  r.delete('/:project/repositories/:repo/tags/:tag', async (c) => {
    await svc(c).deleteTag(c.var.principal, c.var.actor, c.req.param('project'), c.req.param('repo'), c.req.param('tag'));
    return c.body(null, 204);
  });

  return r;
}
