import { Hono } from 'hono';
import type { AppEnv } from '../../../context.js';
import { ARTIFACT_REFERRERS_PREVIEW, ARTIFACT_TAGS_PREVIEW, type ArtifactWithTags } from '../../../services/repository-service.js';
import type { ScanSummary } from '../../../services/scan-service.js';
import { z } from 'zod';
import { SORTS } from '../../../paging.js';
import { iso } from '../../http.js';
import { listEnvelopeSchema, listId, listQuery, listResponse, paginationQuery, paginationQuerySchema } from '../../pagination.js';
import { op, route } from './operation.js';
import { artifactDetailSchema, artifactParams, artifactSchema, artifactTagSchema, projectParams, referrerSchema, repoParams, repositoryDetailSchema, repositorySchema, tagSchema } from './schemas.js';

const done = { 204: { description: 'deleted' } };
/** Tags are small rows: a page holds up to 1000 (they were returned whole before pagination). */
const TAGS_MAX_LIMIT = 1000;

export const repositoryOps = {
  list: op({
    method: 'get',
    path: '/projects/{project}/repositories',
    summary: 'List repositories',
    tag: 'repositories',
    security: 'public',
    params: projectParams,
    query: paginationQuerySchema.extend({ q: z.string().max(255).optional().describe('part of the repository name') }),
    responses: { 200: { description: 'a page of repositories', schema: listEnvelopeSchema(repositorySchema) } },
  }),
  get: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}',
    summary: 'Get a repository ({repo} URL-encoded)',
    tag: 'repositories',
    security: 'public',
    params: repoParams,
    responses: { 200: { description: 'the repository', schema: repositoryDetailSchema } },
  }),
  delete: op({
    method: 'delete',
    path: '/projects/{project}/repositories/{repo}',
    summary: 'Delete a repository and its artifacts',
    tag: 'repositories',
    params: repoParams,
    responses: done,
    errors: [412, 503],
  }),
  artifacts: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/artifacts',
    summary: 'List artifacts with tags, size, push and pull times',
    tag: 'artifacts',
    security: 'public',
    params: repoParams,
    query: paginationQuerySchema,
    responses: { 200: { description: 'a page of artifacts, newest push first', schema: listEnvelopeSchema(artifactSchema) } },
  }),
  artifact: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}',
    summary: 'Get an artifact by tag or digest (with blobs, children and referrers)',
    tag: 'artifacts',
    security: 'public',
    params: artifactParams,
    responses: { 200: { description: 'the artifact', schema: artifactDetailSchema } },
  }),
  artifactTags: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}/tags',
    summary: `An artifact’s tags, last pushed first (the artifact object embeds the first ${ARTIFACT_TAGS_PREVIEW}; default 100 a page, up to ${TAGS_MAX_LIMIT})`,
    tag: 'artifacts',
    security: 'public',
    params: artifactParams,
    query: paginationQuery(TAGS_MAX_LIMIT),
    responses: { 200: { description: 'a page of the artifact’s tags', schema: listEnvelopeSchema(artifactTagSchema) } },
  }),
  referrers: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}/referrers',
    summary: `An artifact’s referrers (signatures, SBOMs, attestations), oldest first (the artifact object embeds the first ${ARTIFACT_REFERRERS_PREVIEW})`,
    tag: 'artifacts',
    security: 'public',
    params: artifactParams,
    query: paginationQuerySchema.extend({ artifact_type: z.string().max(255).optional().describe('only referrers of this artifactType (else config media type)') }),
    responses: { 200: { description: 'a page of referrers', schema: listEnvelopeSchema(referrerSchema) } },
  }),
  deleteArtifact: op({
    method: 'delete',
    path: '/projects/{project}/repositories/{repo}/artifacts/{reference}',
    summary: 'Delete an artifact (409 for a child of an index: delete the index)',
    tag: 'artifacts',
    params: artifactParams,
    responses: done,
    errors: [409, 412, 503],
  }),
  tags: op({
    method: 'get',
    path: '/projects/{project}/repositories/{repo}/tags',
    summary: `List tags, last pushed first (up to ${TAGS_MAX_LIMIT} a page, default ${TAGS_MAX_LIMIT})`,
    tag: 'artifacts',
    security: 'public',
    params: repoParams,
    query: paginationQuery(TAGS_MAX_LIMIT),
    responses: { 200: { description: 'a page of tags', schema: listEnvelopeSchema(tagSchema) } },
  }),
  deleteTag: op({
    method: 'delete',
    path: '/projects/{project}/repositories/{repo}/tags/{tag}',
    summary: 'Delete a tag (the artifact stays)',
    tag: 'artifacts',
    params: repoParams.extend({ tag: z.string().min(1) }),
    responses: done,
    // 415: an external registry cannot delete a single tag.
    errors: [412, 415, 503],
  }),
};

export const artifactJson = (a: ArtifactWithTags, scan?: ScanSummary | null): z.output<typeof artifactSchema> => ({
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
  tag_count: a.tagCount,
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

export const referrerJson = (x: ArtifactWithTags): z.output<typeof referrerSchema> => ({
  digest: x.digest,
  type: x.type,
  artifact_type: x.artifactType ?? x.configMediaType,
  media_type: x.mediaType,
  size: x.manifestSize,
  signed_by: x.signers,
  tags: x.tags.map((t) => t.name),
  tag_count: x.tagCount,
  pushed_at: iso(x.pushedAt),
});

/** Under /projects/{project}/repositories: `{repo}` is the path after the project, `/` URL-encoded. */
export function repositoryRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const at = '/projects';
  const svc = (c: { var: AppEnv['Variables'] }) => c.var.services.repositories;

  route(r, at, repositoryOps.list, async (c, v) => {
    const { project: projectName } = v.params();
    const search = v.query().q;
    const list = listId('repositories', projectName, search);
    const q = listQuery(c, list, SORTS.repositories);
    const { project, ...page } = await svc(c).list(c.var.principal, projectName, { q: search, page: q.req });
    return listResponse(
      c,
      list,
      q,
      page,
      (x): z.output<typeof repositorySchema> => ({
        id: x.id,
        name: x.name,
        project: project.name,
        repo: x.name.slice(project.name.length + 1),
        artifact_count: x.artifactCount,
        pull_count: x.pullCount,
        created_at: iso(x.createdAt),
        updated_at: iso(x.updatedAt),
      }),
    );
  });

  route(r, at, repositoryOps.get, async (c, v) => {
    const { project, repo } = v.params();
    const { repository } = await svc(c).get(c.var.principal, project, repo);
    const out: z.output<typeof repositoryDetailSchema> = {
      id: repository.id,
      name: repository.name,
      pull_count: repository.pullCount,
      created_at: iso(repository.createdAt),
      updated_at: iso(repository.updatedAt),
    };
    return c.json(out);
  });

  route(r, at, repositoryOps.delete, async (c, v) => {
    const { project, repo } = v.params();
    await svc(c).deleteRepository(c.var.principal, c.var.actor, project, repo);
    return c.body(null, 204);
  });

  route(r, at, repositoryOps.artifacts, async (c, v) => {
    const { project, repo } = v.params();
    const list = listId('artifacts', project, repo);
    const q = listQuery(c, list, SORTS.artifacts);
    const { project: _p, repository: _r, ...page } = await svc(c).artifacts(c.var.principal, project, repo, { page: q.req });
    const scans = await c.var.services.scans.summaries(page.items.map((a) => a.id));
    return listResponse(c, list, q, page, (a) => artifactJson(a, scans.get(a.id)));
  });

  route(r, at, repositoryOps.artifact, async (c, v) => {
    const { project, repo, reference } = v.params();
    const { artifact, repository, blobs, children } = await svc(c).artifact(c.var.principal, project, repo, reference);
    const referrers = (await svc(c).referrers(repository.id, [artifact.digest])).get(artifact.digest) ?? { items: [], count: 0 };
    const scans = await c.var.services.scans.summaries([artifact.id]);
    const out: z.output<typeof artifactDetailSchema> = {
      ...artifactJson(artifact, scans.get(artifact.id)),
      referrers: referrers.items.map(referrerJson),
      referrer_count: referrers.count,
      blobs: blobs.map((b) => ({ digest: b.digest, media_type: b.mediaType, size: b.size })),
      children: children.map((ch) => ({ digest: ch.digest, media_type: ch.mediaType, size: ch.size, platform: ch.platform })),
    };
    return c.json(out);
  });

  route(r, at, repositoryOps.artifactTags, async (c, v) => {
    const { project, repo, reference } = v.params();
    const { artifact } = await svc(c).artifact(c.var.principal, project, repo, reference);
    // Keyed by digest: a cursor made while a tag named the artifact stays valid for it when the tag moves.
    const list = listId('artifact-tags', project, repo, artifact.digest);
    const q = listQuery(c, list, SORTS.tags, { defaultLimit: 100, maxLimit: TAGS_MAX_LIMIT });
    const page = await svc(c).artifactTags(c.var.principal, project, repo, artifact.digest, q.req);
    return listResponse(c, list, q, page, (t): z.output<typeof artifactTagSchema> => ({ name: t.name, pushed_at: iso(t.pushedAt) }));
  });

  route(r, at, repositoryOps.referrers, async (c, v) => {
    const { project, repo, reference } = v.params();
    const { artifact_type: artifactType } = v.query();
    const { artifact } = await svc(c).artifact(c.var.principal, project, repo, reference);
    const list = listId('referrers', project, repo, artifact.digest, artifactType);
    const q = listQuery(c, list, SORTS.referrers);
    const page = await svc(c).referrerPage(c.var.principal, project, repo, artifact.digest, { artifactType, page: q.req });
    return listResponse(c, list, q, page, referrerJson);
  });

  route(r, at, repositoryOps.deleteArtifact, async (c, v) => {
    const { project, repo, reference } = v.params();
    await svc(c).deleteArtifact(c.var.principal, c.var.actor, project, repo, reference);
    return c.body(null, 204);
  });

  route(r, at, repositoryOps.tags, async (c, v) => {
    const { project, repo } = v.params();
    const list = listId('tags', project, repo);
    // Tags were returned whole before pagination: up to 1000 a page (small rows) keeps most repositories on one.
    const q = listQuery(c, list, SORTS.tags, { defaultLimit: TAGS_MAX_LIMIT, maxLimit: TAGS_MAX_LIMIT });
    const { project: _p, repository: _r, ...page } = await svc(c).tags(c.var.principal, project, repo, q.req);
    return listResponse(c, list, q, page, (t): z.output<typeof tagSchema> => ({ name: t.name, digest: t.digest, pushed_at: iso(t.pushedAt) }));
  });

  route(r, at, repositoryOps.deleteTag, async (c, v) => {
    const { project, repo, tag } = v.params();
    await svc(c).deleteTag(c.var.principal, c.var.actor, project, repo, tag);
    return c.body(null, 204);
  });

  return r;
}
