import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from '../../context.js';
import { notFound } from '../../errors.js';
import type { Job } from '../../jobs/runner.js';
import { renderJobLog, renderJobProgress } from '../../i18n/job-log.js';
import { cronProblem, nextRuns } from '../../jobs/schedules.js';
import { FINAL_STATES, isJobStatus, JOB_STATES } from '../../jobs/states.js';
import { RECONCILE } from '../../jobs/types/reconcile.js';
import { SCAN_ALL } from '../../jobs/types/scan.js';
import { SORTS } from '../../paging.js';
import type { SystemRequester } from '../../services/system-requester.js';
import { pathId, systemAdminOnly, type Ctx } from '../http.js';
import { CONFIG_LIST_LIMIT, cursorPager, listId, listQuery } from '../pagination.js';
import { flag, parseForm, text } from './forms.js';
import { fmtTime, fragment, isHtmx, page, redirectWith, requireLogin, tr } from './render.js';

/** What a job works on, from its payload (e.g. a scan's artifact), with a link to its page; null when none. */
function jobSubject(payload: unknown): { text: string; href: string | null } | null {
  const p = payload as { repository?: unknown; digest?: unknown } | null;
  if (!p || typeof p.repository !== 'string' || typeof p.digest !== 'string') return null;
  const slash = p.repository.indexOf('/');
  const text = `${p.repository}@${p.digest.slice(0, 19)}`;
  if (slash < 0) return { text, href: null };
  return { text, href: `/projects/${encodeURIComponent(p.repository.slice(0, slash))}/repositories/${encodeURIComponent(p.repository.slice(slash + 1))}/artifacts/${encodeURIComponent(p.digest)}` };
}

const jobView = (c: Ctx, j: Job) => ({
  id: j.id,
  type: j.type,
  subject: jobSubject(j.payload),
  status: j.status,
  progress: j.progress,
  progressText: renderJobProgress(tr(c), j),
  attempt: j.attempt,
  maxAttempts: j.maxAttempts,
  created: fmtTime(j.createdAt),
  started: fmtTime(j.startedAt),
  finished: fmtTime(j.finishedAt),
  error: j.error,
  result: j.result === null ? null : JSON.stringify(j.result).slice(0, 2000),
  // Unfinished rows poll themselves; a finished row renders without the trigger, so polling ends with the job.
  live: !FINAL_STATES.has(j.status),
  stoppable: !FINAL_STATES.has(j.status),
});

/** A job type in the reader's language (`jobs.type_<type>`, `-` read as `_`), else the type itself. */
/** Stop asks which view to answer with (the job page's panel, else a list row). */
const stopForm = z.object({ view: text(16) });
/** A schedule's cron (checked by `cronProblem`, so the form comes back with the reason) and its switch. */
const scheduleForm = z.object({ cron: text(200).transform((s) => s.trim()), enabled: flag() });

const typeLabel = (c: Ctx, type: string) => tr(c)(`jobs.type_${type.replace(/-/g, '_')}`, { defaultValue: type });

/**
 * Jobs a system admin can start from the job center (labels are message keys), each through the service REST and the
 * CLI use, which checks the permission, queues the job and audits it.
 */
const MANUAL: { type: string; label: string; run: (s: Services, by: SystemRequester) => Promise<{ id: number }> }[] = [
  { type: RECONCILE, label: 'jobs.run_reconcile', run: (s, by) => s.maintenance.reconcile(by) },
  { type: SCAN_ALL, label: 'jobs.run_scan_all', run: (s, by) => s.scanRequests.scanAll(by) },
];

/** The job center and the schedules page: system admins only. */
export function jobPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin, systemAdminOnly('only system admins see jobs'));

  r.get('/', async (c) => {
    const type = c.req.query('type')?.slice(0, 64) ?? '';
    const status = c.req.query('status') ?? '';
    const st = isJobStatus(status) ? status : undefined;
    const list = listId('jobs-ui', type, st);
    const q = listQuery(c, list, SORTS.newestFirst, { defaultLimit: 50, countTotal: false });
    const res = await c.var.services.jobs.listPage({ type: type || undefined, status: st, page: q.req });
    const shown = res.items;
    const registered = c.var.services.jobs.registeredTypes();
    return page(c, 'pages/jobs/index', {
      title: tr(c)('jobs.title'),
      nav: 'jobs',
      types: registered,
      states: JOB_STATES,
      filter: { type, status },
      items: shown.map((j) => jobView(c, j)),
      pager: cursorPager(c, list, res, q),
      actions: MANUAL.filter((a) => registered.includes(a.type)).map(({ type, label }) => ({ type, label })),
    });
  });

  r.post('/run/:type', async (c) => {
    const type = c.req.param('type');
    const manual = MANUAL.find((a) => a.type === type);
    if (!manual) throw notFound('no such job type', { key: 'not_found' });
    const { id } = await manual.run(c.var.services, { principal: c.var.principal, actor: c.var.actor });
    return redirectWith(c, `/jobs/${id}`, { kind: 'ok', text: tr(c)('jobs.queued_flash', { id, type: typeLabel(c, type) }) });
  });

  const load = async (c: Ctx) => {
    const job = await c.var.services.jobs.get(pathId(c, 'id'));
    if (!job) throw notFound('job not found', { key: 'job_not_found' });
    return job;
  };
  const panelData = async (c: Ctx, job: Job) => {
    const lines = await c.var.services.jobs.logLines(job.id, 0, 1000);
    // Keyed lines in the viewer's language; lines from before keys as they were written.
    const t = tr(c);
    return { j: jobView(c, job), log: lines.map((l) => `${fmtTime(l.at)} [${l.level}] #${l.attempt} ${renderJobLog(t, l)}`), csrf: c.var.session?.csrfToken ?? '' };
  };

  r.get('/:id', async (c) => {
    const job = await load(c);
    return page(c, 'pages/jobs/show', { title: tr(c)('jobs.job', { id: job.id }), nav: 'jobs', ...(await panelData(c, job)) });
  });
  r.get('/:id/row', async (c) => fragment(c, 'partials/jobs/row', { j: jobView(c, await load(c)) }));
  r.get('/:id/panel', async (c) => fragment(c, 'partials/jobs/panel', await panelData(c, await load(c))));

  r.get('/:id/stop', async (c) => {
    const job = await load(c);
    return page(c, 'pages/confirm', {
      title: tr(c)('jobs.stop_title'),
      heading: tr(c)('jobs.stop_title'),
      question: tr(c)('jobs.stop_question', { id: job.id, type: typeLabel(c, job.type), status: tr(c)(`jobs.state_${job.status}`) }),
      action: `/jobs/${job.id}/stop`,
      confirmLabel: tr(c)('jobs.stop_title'),
      cancel: `/jobs/${job.id}`,
    });
  });
  r.post('/:id/stop', async (c) => {
    const id = pathId(c, 'id');
    const form = await parseForm(c, stopForm);
    const status = await c.var.services.jobs.requestStop(id);
    if (status === null) throw notFound('job not found', { key: 'job_not_found' });
    await c.var.services.audit.record(c.var.actor, 'stop', 'job', String(id), { status });
    const job = (await c.var.services.jobs.get(id))!;
    if (isHtmx(c)) return form.view === 'panel' ? fragment(c, 'partials/jobs/panel', await panelData(c, job)) : fragment(c, 'partials/jobs/row', { j: jobView(c, job) });
    return redirectWith(c, `/jobs/${id}`, { kind: 'ok', text: tr(c)('jobs.stopped_flash', { id, status: tr(c)(`jobs.state_${status}`) }) });
  });

  return r;
}

/** The page position of a schedules request (`?limit=…&cursor=…` or empty), carried through its forms and redirect. */
const pageAt = (c: Ctx) => {
  const keep = new URLSearchParams();
  for (const k of ['limit', 'cursor', 'page']) {
    const v = c.req.query(k);
    if (v) keep.set(k, v);
  }
  return keep.size ? `?${keep.toString()}` : '';
};

export function schedulePages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin, systemAdminOnly('only system admins change schedules'));

  const listPage = async (c: Ctx, edit?: { name: string; cron: string; enabled: boolean; error: string }, status = 200) => {
    const list = listId('schedules');
    // Each form posts to its schedule's URL with the page's query (limit, cursor), so a 422 answer shows the same page.
    const q = listQuery(c, list, SORTS.schedules, { defaultLimit: CONFIG_LIST_LIMIT });
    const res = await c.var.services.scheduler.page(q.req);
    const items = res.items.map((s) => {
      const shown = edit?.name === s.name ? { ...s, cron: edit.cron, enabled: edit.enabled } : s;
      return {
        name: s.name,
        jobType: typeLabel(c, s.jobType),
        cron: shown.cron,
        enabled: shown.enabled,
        lastFire: s.lastRun ? { at: fmtTime(s.lastRun.at), jobId: s.lastRun.jobId } : null,
        nextRuns: cronProblem(s.cron) ? [] : nextRuns(s.cron, 5).map((d) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC'),
        error: edit?.name === s.name ? edit.error : null,
      };
    });
    return page(c, 'pages/jobs/schedules', { title: tr(c)('schedules.title'), nav: 'jobs', items, pager: cursorPager(c, list, res, q, '/schedules'), at: pageAt(c) }, status);
  };

  r.get('/', (c) => listPage(c));

  r.get('/preview', (c) => {
    const expr = c.req.query('cron') ?? '';
    const problem = cronProblem(expr);
    if (problem) return fragment(c, 'partials/jobs/preview', { error: problem, runs: [] });
    return fragment(c, 'partials/jobs/preview', { error: null, runs: nextRuns(expr.trim(), 5).map((d) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC') });
  });

  r.post('/:name', async (c) => {
    const name = c.req.param('name');
    const { cron, enabled } = await parseForm(c, scheduleForm);
    const problem = cronProblem(cron);
    if (problem) return listPage(c, { name, cron, enabled, error: problem }, 422);
    const s = await c.var.services.scheduler.update(name, { cron, enabled });
    if (!s) throw notFound('schedule not found', { key: 'not_found' });
    await c.var.services.audit.record(c.var.actor, 'update', 'schedule', name, { cron, enabled });
    return redirectWith(c, `/schedules${pageAt(c)}`, { kind: 'ok', text: tr(c)('schedules.saved_flash', { name }) });
  });

  return r;
}
