import { Hono } from 'hono';
import type { AppEnv } from '../../context.js';
import { isScannable, pullCommand, type ArtifactType } from '../../registry/artifact-type.js';
import type { ArtifactWithTags } from '../../services/repository-service.js';
import { FINDING_SORTS, filterFindings } from '../../scanner/findings.js';
import { SEVERITIES } from '../../scanner/severity.js';
import { OPEN_STATES } from '../../jobs/states.js';
import type { Project } from '../../services/project-service.js';
import { pageArray, SORTS, TOTAL_CAP } from '../../paging.js';
import { findingFilter, type Ctx } from '../http.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { chartWords, severityBar } from './charts.js';
import { fmtBytes, fmtTime, fragment, isHtmx, page, redirectWith, requireLogin, i18nData, localeOf, tr } from './render.js';
import { notFound, type V2Refusal } from '../../errors.js';
import { renderJobProgress } from '../../i18n/job-log.js';

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const encRepo = (repo: string) => encodeURIComponent(repo);
const platformOf = (a: { os: string | null; architecture: string | null; variant: string | null }) => (a.os && a.architecture ? `${a.os}/${a.architecture}${a.variant ? `/${a.variant}` : ''}` : '');

/** How many more there are than the preview shows: a number, `null` for "more than the count's cap", 0 for none. */
const moreOf = (shown: number, count: number | null): number | null => (count === null ? null : Math.max(0, count - shown));
/** A capped count as the pages print it. */
const countText = (count: number | null) => (count === null ? `${TOTAL_CAP}+` : String(count));

const referrerView = (x: ArtifactWithTags) => ({
  digest: x.digest,
  short: short(x.digest),
  type: x.type,
  artifactType: x.artifactType ?? x.configMediaType,
  signers: x.signers,
  tags: x.tags.map((t) => t.name),
  moreTags: moreOf(x.tags.length, x.tagCount),
  pushed: fmtTime(x.pushedAt),
});

/** What the heading of an artifact's sub-pages (its tags, its referrers) shows. */
const artifactHead = (project: string, repo: string, repository: string, digest: string) => ({
  title: `${repository}@${short(digest)}`,
  nav: 'projects',
  project,
  repo,
  repoPath: encRepo(repo),
  digest,
  short: short(digest),
});

/** Repository and artifact pages under a project, with deletions behind confirmation pages. */
export function repositoryPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);
  const host = (c: Ctx) => new URL(c.var.services.config.externalUrl).host;

  r.get('/:name/repositories/:repo', async (c) => {
    const list = listId('artifacts-ui', c.req.param('name'), c.req.param('repo'));
    const q = listQuery(c, list, SORTS.artifacts, { countTotal: false });
    // Index children are listed under their index (as Harbor does), and referrers (signatures, SBOMs, attestations)
    // under their subject, not as untagged rows of their own.
    const { project, repository, ...res } = await c.var.services.repositories.artifacts(c.var.principal, c.req.param('name'), c.req.param('repo'), { page: q.req, topLevel: true });
    const items = res.items;
    const repo = repository.name.slice(project.name.length + 1);
    const children = await c.var.services.repositories.indexChildren(
      repository.id,
      items.filter((a) => a.mediaType.includes('index') || a.mediaType.includes('manifest.list')).map((a) => a.id),
    );
    // The page's gate decisions at once (each is a few indexed reads; MariaDB's pool runs them side by side).
    const gate = new Map<number, string>();
    const decisions = await Promise.all(items.map((a) => c.var.services.policy.pullDecision(project, repository.name, a.digest)));
    items.forEach((a, i) => {
      const refusal = decisions[i];
      if (refusal) gate.set(a.id, refusalText(c, refusal));
    });
    const referrers = await c.var.services.repositories.referrers(
      repository.id,
      items.map((a) => a.digest),
    );
    const summaries = await c.var.services.scans.summaries([
      ...items.map((a) => a.id),
      ...[...children.values()].flat().flatMap((ch) => (ch.id === null ? [] : [ch.id])),
      ...[...referrers.values()].flatMap((r) => r.items.map((a) => a.id)),
    ]);
    const base = `/projects/${project.name}/repositories/${encRepo(repo)}/artifacts`;
    const view = (a: ArtifactWithTags) => ({
      digest: a.digest,
      short: short(a.digest),
      tags: a.tags.map((t) => t.name),
      // The row shows a preview of the tags; the rest are one link away (an artifact may have thousands).
      moreTags: moreOf(a.tags.length, a.tagCount),
      tagsHref: `${base}/${a.digest}/tags`,
      type: a.type,
      artifactType: a.artifactType,
      scannable: isScannable(a.type),
      signers: a.signers,
      platform: platformOf(a),
      size: fmtBytes(a.size),
      pushed: fmtTime(a.pushedAt),
      pushedBy: a.pushedBy,
      pulled: fmtTime(a.pulledAt),
      pullCount: a.pullCount,
      scan: summaries.get(a.id) ?? null,
      children: [] as { digest: string; short: string; platform: string; tags: string[]; size: string; scan: unknown }[],
      referrers: [] as unknown[],
      pull: '',
    });
    return page(c, 'pages/repositories/show', {
      title: repository.name,
      nav: 'projects',
      project: project.name,
      repo,
      repoPath: encRepo(repo),
      host: host(c),
      pullCount: repository.pullCount,
      canDelete: await c.var.services.authz.can(c.var.principal, 'repository:delete', project),
      items: items.map((a) => ({
        ...view(a),
        pull: pullCommand(a.type, host(c), repository.name, a.tags[0]?.name ?? a.digest),
        referrers: (referrers.get(a.digest)?.items ?? []).map(view),
        moreReferrers: moreOf(referrers.get(a.digest)?.items.length ?? 0, referrers.get(a.digest)?.count ?? 0),
        referrersHref: `${base}/${a.digest}/referrers`,
        blocked: gate.get(a.id) ?? null,
        children: (children.get(a.id) ?? []).map((ch) => ({
          digest: ch.digest,
          short: short(ch.digest),
          platform: ch.platform ?? '',
          tags: ch.tags,
          size: fmtBytes(ch.size),
          scan: ch.id === null ? null : (summaries.get(ch.id) ?? null),
        })),
      })),
      severities: SEVERITIES,
      pager: cursorPager(c, list, res, q),
    });
  });

  r.get('/:name/repositories/:repo/artifacts/:ref', async (c) => {
    const { project, repository, artifact: a, blobs, children } = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('ref'));
    const repo = repository.name.slice(project.name.length + 1);
    const [manifest, config] = await Promise.all([
      c.var.services.repositories.manifestJson(repository.name, a.digest).catch(() => null),
      c.var.services.repositories.configJson(repository.name, a.configDigest).catch(() => null),
    ]);
    const vulnerabilities = await vulnerabilitySection(c, project, repo, a);
    const found = (await c.var.services.repositories.referrers(repository.id, [a.digest])).get(a.digest) ?? { items: [], count: 0 };
    const referrers = found.items.map(referrerView);
    const artifactPath = `/projects/${project.name}/repositories/${encRepo(repo)}/artifacts/${a.digest}`;
    return page(c, 'pages/artifacts/show', {
      vulnerabilities,
      blocked: (await pullRow(c, project, repository.name, a)).blocked,
      title: `${repository.name}@${short(a.digest)}`,
      nav: 'projects',
      project: project.name,
      repo,
      repoPath: encRepo(repo),
      host: host(c),
      canDelete: await c.var.services.authz.can(c.var.principal, 'repository:delete', project),
      a: {
        digest: a.digest,
        short: short(a.digest),
        type: a.type,
        artifactType: a.artifactType,
        configMediaType: a.configMediaType,
        subject: a.subject,
        signers: a.signers,
        pull: pullCommand(a.type, host(c), repository.name, a.digest),
        mediaType: a.mediaType,
        size: fmtBytes(a.size),
        platform: platformOf(a),
        // The image config's own text: shown like Berth's times when it is a date, else as written.
        created: a.created && Number.isFinite(Date.parse(a.created)) ? fmtTime(Date.parse(a.created)) : a.created,
        pushed: fmtTime(a.pushedAt),
        pushedBy: a.pushedBy,
        pulled: fmtTime(a.pulledAt),
        pullCount: a.pullCount,
        tags: a.tags.map((t) => ({ name: t.name, pushed: fmtTime(t.pushedAt) })),
      },
      // Previews: the first tags and referrers, with links to their paged lists when there are more.
      allTags: moreOf(a.tags.length, a.tagCount) ? { href: `${artifactPath}/tags`, count: countText(a.tagCount) } : null,
      referrers,
      allReferrers: moreOf(found.items.length, found.count) ? { href: `${artifactPath}/referrers`, count: countText(found.count) } : null,
      layers: blobs.map((b) => ({ digest: b.digest, short: short(b.digest), mediaType: b.mediaType, size: fmtBytes(b.size) })),
      children: children.map((ch) => ({ digest: ch.digest, short: short(ch.digest), platform: ch.platform, size: fmtBytes(ch.size) })),
      // Data from inside pushed images is hostile: it is only ever rendered escaped, as text.
      manifest: manifest ? JSON.stringify(manifest, null, 2).slice(0, 200_000) : '(not available)',
      config: config ? JSON.stringify(config, null, 2).slice(0, 200_000) : null,
    });
  });

  // An artifact's tags, paged (the artifact page shows the first ones).
  r.get('/:name/repositories/:repo/artifacts/:ref/tags', async (c) => {
    const { project, repository, artifact: a } = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('ref'));
    const repo = repository.name.slice(project.name.length + 1);
    const list = listId('artifact-tags-ui', project.name, repo, a.digest);
    const q = listQuery(c, list, SORTS.tags, { defaultLimit: 100 });
    const res = await c.var.services.repositories.artifactTags(c.var.principal, project.name, repo, a.digest, q.req);
    return page(c, 'pages/artifacts/tags', {
      ...artifactHead(project.name, repo, repository.name, a.digest),
      canDelete: await c.var.services.authz.can(c.var.principal, 'repository:delete', project),
      tags: res.items.map((t) => ({ name: t.name, pushed: fmtTime(t.pushedAt) })),
      pager: cursorPager(c, list, res, q),
    });
  });

  // An artifact's referrers, paged (the artifact page shows the first ones).
  r.get('/:name/repositories/:repo/artifacts/:ref/referrers', async (c) => {
    const { project, repository, artifact: a } = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('ref'));
    const repo = repository.name.slice(project.name.length + 1);
    const list = listId('referrers-ui', project.name, repo, a.digest);
    const q = listQuery(c, list, SORTS.referrers, { defaultLimit: 50 });
    const res = await c.var.services.repositories.referrerPage(c.var.principal, project.name, repo, a.digest, { page: q.req });
    return page(c, 'pages/artifacts/referrers', {
      ...artifactHead(project.name, repo, repository.name, a.digest),
      referrers: res.items.map(referrerView),
      pager: cursorPager(c, list, res, q),
    });
  });

  r.get('/:name/repositories/:repo/artifacts/:ref/scan-status', async (c) => {
    const { project, repository, artifact } = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('ref'));
    const status = await scanStatus(c, project, repository.name.slice(project.name.length + 1), artifact);
    // The page was rendered while scanning and the scan has ended: reload it to show the new findings.
    if (!status.live && c.req.query('was') === 'running') c.header('HX-Refresh', 'true');
    return fragment(c, 'partials/artifacts/scan-status', { ...status, pullRow: await pullRow(c, project, repository.name, artifact) });
  });

  r.post('/:name/repositories/:repo/artifacts/:ref/scan', async (c) => {
    const target = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('ref'));
    const { id } = await c.var.services.scanRequests.scanArtifact(c.var.principal, c.var.actor, target);
    const { project, repository, artifact } = target;
    const repo = repository.name.slice(project.name.length + 1);
    if (isHtmx(c)) return fragment(c, 'partials/artifacts/scan-status', { ...(await scanStatus(c, project, repo, artifact, id)), pullRow: await pullRow(c, project, repository.name, artifact) });
    return redirectWith(c, `/projects/${project.name}/repositories/${encRepo(repo)}/artifacts/${artifact.digest}`, { kind: 'ok', text: tr(c)('scan.queued_flash', { id }) });
  });

  const confirm = (c: Ctx, o: { heading: string; question: string; action: string; cancel: string; label: string }) =>
    page(c, 'pages/confirm', { title: o.heading, heading: o.heading, question: o.question, action: o.action, confirmLabel: o.label, cancel: o.cancel });

  r.get('/:name/repositories/:repo/delete', async (c) => {
    const { project, repository } = await c.var.services.repositories.get(c.var.principal, c.req.param('name'), c.req.param('repo'));
    await c.var.services.authz.require(c.var.principal, 'repository:delete', project);
    const path = `/projects/${project.name}/repositories/${encRepo(c.req.param('repo'))}`;
    return confirm(c, {
      heading: tr(c)('repo.delete'),
      question: tr(c)('repo.delete_question', { name: repository.name }),
      action: `${path}/delete`,
      cancel: path,
      label: tr(c)('repo.delete'),
    });
  });
  r.post('/:name/repositories/:repo/delete', async (c) => {
    const name = c.req.param('name');
    const n = await c.var.services.repositories.deleteRepository(c.var.principal, c.var.actor, name, c.req.param('repo'));
    return redirectWith(c, `/projects/${name}`, { kind: 'ok', text: tr(c)('repo.deleted_flash', { count: n }) });
  });

  r.get('/:name/repositories/:repo/artifacts/:ref/delete', async (c) => {
    const { project, repository, artifact } = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('ref'));
    await c.var.services.authz.require(c.var.principal, 'repository:delete', project);
    const path = `/projects/${project.name}/repositories/${encRepo(c.req.param('repo'))}`;
    const tags = artifact.tags.map((t) => t.name).join(', ');
    return confirm(c, {
      heading: tr(c)('artifact.delete'),
      question: tags
        ? tr(c)('artifact.delete_question_tags', { ref: `${repository.name}@${artifact.digest}`, tags })
        : tr(c)('artifact.delete_question', { ref: `${repository.name}@${artifact.digest}` }),
      action: `${path}/artifacts/${artifact.digest}/delete`,
      cancel: `${path}/artifacts/${artifact.digest}`,
      label: tr(c)('artifact.delete'),
    });
  });
  r.post('/:name/repositories/:repo/artifacts/:ref/delete', async (c) => {
    const name = c.req.param('name');
    await c.var.services.repositories.deleteArtifact(c.var.principal, c.var.actor, name, c.req.param('repo'), c.req.param('ref'));
    return redirectWith(c, `/projects/${name}`, { kind: 'ok', text: tr(c)('artifact.deleted_flash') });
  });

  r.get('/:name/repositories/:repo/tags/:tag/delete', async (c) => {
    const { project, repository } = await c.var.services.repositories.artifact(c.var.principal, c.req.param('name'), c.req.param('repo'), c.req.param('tag'));
    await c.var.services.authz.require(c.var.principal, 'repository:delete', project);
    const path = `/projects/${project.name}/repositories/${encRepo(c.req.param('repo'))}`;
    const tag = c.req.param('tag');
    return confirm(c, {
      heading: tr(c)('artifact.delete_tag'),
      question: tr(c)('artifact.delete_tag_question', { ref: `${repository.name}:${tag}` }),
      action: `${path}/tags/${tag}/delete`,
      cancel: path,
      label: tr(c)('artifact.delete_tag'),
    });
  });
  r.post('/:name/repositories/:repo/tags/:tag/delete', async (c) => {
    const name = c.req.param('name');
    await c.var.services.repositories.deleteTag(c.var.principal, c.var.actor, name, c.req.param('repo'), c.req.param('tag'));
    return redirectWith(c, `/projects/${name}/repositories/${encRepo(c.req.param('repo'))}`, { kind: 'ok', text: tr(c)('artifact.tag_deleted_flash', { tag: c.req.param('tag') }) });
  });

  // A nested repository typed or linked with its slashes unencoded (/projects/p/repositories/team/web, or …/team/web/
  // artifacts/<ref>): the page's own address, with the repository's `/` encoded. Reached only when no route above
  // matched; a single-segment path is a plain 404.
  r.get('/:name/repositories/*', (c) => {
    const rest = c.req.path.slice(c.req.path.indexOf('/repositories/') + '/repositories/'.length).split('/');
    const at = rest.findIndex((seg, i) => i > 0 && NESTED_PAGE_SEGMENTS.has(seg));
    let repo: string;
    try {
      repo = (at === -1 ? rest : rest.slice(0, at)).map((seg) => decodeURIComponent(seg)).join('/');
    } catch {
      throw notFound('not found', { key: 'not_found' });
    }
    if (!repo.includes('/') || rest.some((seg) => seg === '' || seg === '.' || seg === '..')) throw notFound('not found', { key: 'not_found' });
    const suffix = at === -1 ? '' : `/${rest.slice(at).join('/')}`;
    const query = new URL(c.req.url).search;
    return c.redirect(`/projects/${encodeURIComponent(c.req.param('name'))}/repositories/${encRepo(repo)}${suffix}${query}`, 302);
  });

  return r;
}

/** The path segments that start a repository's sub-pages (after the repository's own segments). */
const NESTED_PAGE_SEGMENTS = new Set(['artifacts', 'tags', 'delete']);

/**
 * The artifact page's Pull row: the pull gate asked the same way /v2 asks it (one policy function), so it says why a
 * pull would be refused instead of offering the command. Sent again with every scan-status poll: a rescan changes
 * the verdict ("being scanned") while the page stays open.
 */
async function pullRow(c: Ctx, project: Project, repository: string, artifact: { digest: string; type: ArtifactType }) {
  const refusal = await c.var.services.policy.pullDecision(project, repository, artifact.digest);
  return { blocked: refusal ? refusalText(c, refusal) : null, pull: pullCommand(artifact.type, new URL(c.var.services.config.externalUrl).host, repository, artifact.digest) };
}

/** The scan state of an artifact for the status partial: running (with the job's progress), done, failed, or none. */
async function scanStatus(c: Ctx, project: Project, repo: string, artifact: { id: number; digest: string; type: ArtifactType }, queuedJob?: number) {
  const s = c.var.services;
  const { id: artifactId, digest } = artifact;
  const report = await s.scans.report(artifactId);
  const base = `/projects/${project.name}/repositories/${encRepo(repo)}/artifacts/${digest}`;
  const jobId = queuedJob ?? report?.jobId ?? null;
  const job = jobId !== null ? await s.jobs.get(jobId) : undefined;
  const running = (job && OPEN_STATES.includes(job.status)) || report?.status === 'running';
  // "not scannable", never a clean result, for types the scanner does not read (whether or not a report says so yet)
  const reportNa = report?.status === 'success' && report.finishedAt !== null && report.completeness === 'not_applicable';
  const notApplicable = reportNa || (!isScannable(artifact.type) && !running);
  const state = notApplicable ? 'not_applicable' : running ? 'running' : !report ? 'none' : report.status === 'error' ? 'error' : 'success';
  return {
    base,
    state,
    live: running,
    jobId,
    progress: job?.progress ?? 0,
    progressText: job ? (renderJobProgress(tr(c), job) ?? (job.status === 'pending' ? tr(c)('jobprogress.queued') : null)) : null,
    error: report?.error,
    reason: reportNa ? (report!.problems[0] ?? null) : tr(c)('scan.type_not_scanned', { type: tr(c)(`artifact.type_${artifact.type}`) }),
    finished: fmtTime(report?.finishedAt),
    scanner: report?.scanner,
    os: report?.os,
    dbUpdated: fmtTime(report?.dbUpdatedAt),
    canScan: !notApplicable && (await s.authz.can(c.var.principal, 'artifact:scan', project)),
    csrf: c.var.session?.csrfToken ?? '',
  };
}

/** The artifact page's vulnerability section: status, severity bar, filterable findings with pagination. */
async function vulnerabilitySection(c: Ctx, project: Project, repo: string, artifact: { id: number; digest: string; type: ArtifactType }): Promise<string> {
  const s = c.var.services;
  const { digest } = artifact;
  const report = await s.scans.report(artifact.id);
  const status = await scanStatus(c, project, repo, artifact);
  const done = report && report.finishedAt !== null && report.status !== 'error' && status.state !== 'not_applicable' ? report : null;
  const filter = findingFilter(c);
  const all = done ? filterFindings(done.findings, filter) : [];
  // keyset pages, as the REST list (see api/v1/scans.ts): a cursor holds a finding's place in this report
  const list = listId('report-findings', digest, done?.finishedAt ?? null, filter.severity, filter.package, filter.fixable ? 'true' : undefined, filter.q, filter.sort);
  const q = listQuery(c, list, SORTS.reportFindings, { defaultLimit: 50 });
  const index = new Map((done?.findings ?? []).map((f, i) => [f, i]));
  const page = pageArray(all, (f) => index.get(f)!, q.req);
  return s.views.render('partials/artifacts/findings', {
    ...i18nData(c),
    project: project.name,
    repoPath: encRepo(repo),
    digest,
    pageBase: status.base,
    status,
    report: done,
    bar: done ? severityBar(done.counts, undefined, undefined, chartWords(tr(c))) : '',
    severities: SEVERITIES,
    sorts: FINDING_SORTS,
    filter,
    filtered: !!(filter.severity || filter.package || filter.q || filter.fixable),
    findings: page.items,
    pager: cursorPager(c, list, page, q),
  });
}

/**
 * Why the pull gate refuses, for the page: in English the very words /v2 gives the docker CLI; in another language
 * the same reason from the catalogue (`gate.reason_<key>`), with the severity in that language too.
 */
export function refusalText(c: Ctx, refusal: V2Refusal): string {
  if (localeOf(c) === 'en' || !refusal.reason) return refusal.message;
  const t = tr(c);
  const { key, params, index } = refusal.reason;
  const severity = typeof params.severity === 'string' ? t(`severity.${params.severity}`) : '';
  const text = t(`gate.reason_${key}`, { ...params, severity });
  return index ? t('gate.via_index', { index, reason: text }) : text;
}
