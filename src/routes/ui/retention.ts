import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../context.js';
import { AppError } from '../../errors.js';
import { nextRuns } from '../../jobs/schedules.js';
import { SORTS } from '../../paging.js';
import { retentionPolicySchema } from '../../services/retention-service.js';
import { pathId, type Ctx } from '../http.js';
import { cursorPager, listId, listQuery } from '../pagination.js';
import { projectPage } from './projects.js';
import { flag, parseForm, parsedAs, text } from './forms.js';
import { fmtBytes, fmtTime, i18nData, isHtmx, page, redirectWith, requireLogin, tr, errorText } from './render.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Shown beside an empty policy, labelled as an example: never as a value or a placeholder that looks like one. */
const EXAMPLE = JSON.stringify([{ repositories: '**', tags: '**', untagged: true, retain: { kind: 'latest_pushed', count: 10 } }], null, 2);

/** The kinds the simple form offers (the common rule); the JSON editor takes every kind. */
const SIMPLE_KINDS = ['latest_pushed', 'pushed_within_days'] as const;

/** The simple form's fields: one rule, from the policy when it is a single rule of a kind the form offers. */
interface SimpleRule {
  repositories: string;
  tags: string;
  kind: (typeof SIMPLE_KINDS)[number];
  n: string;
  untagged: boolean;
}

const simpleOf = (
  rules: { repositories: string; tags: string; exclude_repositories?: string; exclude_tags?: string; untagged: boolean; retain: { kind: string; count?: number; days?: number } }[],
): SimpleRule => {
  const r = rules.length === 1 ? rules[0]! : null;
  if (r && !r.exclude_repositories && !r.exclude_tags && (SIMPLE_KINDS as readonly string[]).includes(r.retain.kind))
    return { repositories: r.repositories, tags: r.tags, kind: r.retain.kind as SimpleRule['kind'], n: String(r.retain.count ?? r.retain.days ?? ''), untagged: r.untagged };
  return { repositories: '**', tags: '**', kind: 'latest_pushed', n: '', untagged: false };
};

const trimmed = (max: number) => text(max).transform((s) => s.trim());
/**
 * The policy form: the JSON editor (`rules`) or, with `mode=simple`, the one-rule fields; both with the schedule. The
 * policy built from either is parsed by `retentionPolicySchema`, as the REST body is.
 */
const retentionForm = z.object({
  mode: text(16),
  schedule: trimmed(200),
  rules: trimmed(100_000),
  kind: text(32),
  repositories: trimmed(300),
  tags: trimmed(300),
  n: trimmed(16),
  untagged: flag(),
});
const runForm = z.object({ dry_run: flag() });

/** Runs the Retention tab lists a page. */
const RUNS_PAGE = 10;
/** Decisions the run page lists a page. */
const ITEMS_PAGE = 50;

/** The project's Retention tab: rules (JSON), schedule, dry run and run buttons, and the runs (paged). */
export function retentionPages(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireLogin);

  const show = async (c: Ctx, name: string, override: { rules?: string; schedule?: string; error?: string; simple?: SimpleRule } = {}, status = 200) => {
    const policy = await c.var.services.retention.get(c.var.principal, name);
    const list = listId('retention-runs', name);
    const q = listQuery(c, list, SORTS.retentionRuns, { defaultLimit: RUNS_PAGE });
    const { project, page: runs } = await c.var.services.retention.runs(c.var.principal, name, q.req);
    const jobs = runs.items;
    const body = c.var.services.views.render('partials/retention/show', {
      ...i18nData(c),
      project: project.name,
      csrf: c.var.session?.csrfToken ?? '',
      rules: override.rules ?? (policy.rules.length ? JSON.stringify(policy.rules, null, 2) : ''),
      schedule: override.schedule ?? policy.schedule ?? '',
      nextRun: policy.schedule ? fmtTime(nextRuns(policy.schedule, 1)[0]?.getTime()) : '',
      saved: policy.updatedAt !== null && policy.rules.length > 0,
      savedAt: fmtTime(policy.updatedAt),
      simple: override.simple ?? simpleOf(policy.rules),
      simpleKinds: SIMPLE_KINDS,
      example: EXAMPLE,
      error: override.error,
      runs: jobs.map((j) => {
        const res = (j.result ?? {}) as { dry_run?: boolean; deleted_count?: number; bytes?: number; total?: number };
        return {
          id: j.id,
          status: j.status,
          dry: (j.payload as { dryRun?: boolean }).dryRun,
          trigger: (j.payload as { trigger?: string }).trigger,
          at: fmtTime(j.createdAt),
          deleted: res.deleted_count ?? '',
          total: res.total ?? '',
          bytes: res.bytes !== undefined ? fmtBytes(res.bytes) : '',
        };
      }),
      // A 422 form answer is rendered at the POST's URL: the pager's links lead to the tab's GET page.
      pager: cursorPager(c, list, runs, q, `/projects/${project.name}/retention`),
    });
    return projectPage(c, 'retention', body, project, status);
  };

  r.get('/:name/retention', (c) => show(c, c.req.param('name')));

  r.post('/:name/retention', async (c) => {
    const name = c.req.param('name');
    const form = await parseForm(c, retentionForm);
    const { schedule } = form;
    if (form.mode === 'simple') return saveSimple(c, name, form, schedule);
    const rulesText = form.rules;
    let rules: unknown;
    try {
      rules = rulesText ? JSON.parse(rulesText) : [];
    } catch {
      return show(c, name, { rules: rulesText, schedule, error: tr(c)('retention.invalid_json') }, 422);
    }
    try {
      await c.var.services.retention.put(c.var.principal, c.var.actor, name, parsedAs(retentionPolicySchema, { rules, schedule: schedule || null }));
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 400) throw err;
      return show(c, name, { rules: rulesText, schedule, error: errorText(c, err) }, 422);
    }
    return redirectWith(c, `/projects/${name}/retention`, { kind: 'ok', text: tr(c)('retention.saved') });
  });

  /**
   * The simple form: one rule (keep the N most recently pushed, or those pushed within N days, of the tags matching a
   * pattern), saved through the same service call as the JSON editor, so the same validation answers.
   */
  const saveSimple = async (c: Ctx, name: string, form: z.output<typeof retentionForm>, schedule: string) => {
    const kindRaw = form.kind;
    const simple: SimpleRule = {
      repositories: form.repositories || '**',
      tags: form.tags || '**',
      kind: (SIMPLE_KINDS as readonly string[]).includes(kindRaw) ? (kindRaw as SimpleRule['kind']) : 'latest_pushed',
      n: form.n,
      untagged: form.untagged,
    };
    const n = /^\d{1,6}$/.test(simple.n) ? Number(simple.n) : Number.NaN;
    if (!Number.isInteger(n) || n < 1) return show(c, name, { simple, schedule, error: tr(c)('retention.simple_n_invalid') }, 422);
    const rule = {
      repositories: simple.repositories,
      tags: simple.tags,
      untagged: simple.untagged,
      retain: simple.kind === 'latest_pushed' ? { kind: simple.kind, count: n } : { kind: simple.kind, days: n },
    };
    try {
      await c.var.services.retention.put(c.var.principal, c.var.actor, name, parsedAs(retentionPolicySchema, { rules: [rule], schedule: schedule || null }));
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 400) throw err;
      return show(c, name, { simple, schedule, error: errorText(c, err) }, 422);
    }
    return redirectWith(c, `/projects/${name}/retention`, { kind: 'ok', text: tr(c)('retention.saved') });
  };

  // A real run asks first (without JavaScript through this page; the button carries hx-confirm too).
  r.get('/:name/retention/run', async (c) => {
    const name = c.req.param('name');
    await c.var.services.retention.get(c.var.principal, name);
    return page(c, 'pages/confirm', {
      title: tr(c)('retention.confirm_title'),
      heading: tr(c)('retention.confirm_heading'),
      question: tr(c)('retention.confirm_question', { project: name }),
      action: `/projects/${name}/retention/run`,
      confirmLabel: tr(c)('retention.confirm_title'),
      cancel: `/projects/${name}/retention`,
    });
  });

  r.post('/:name/retention/run', async (c) => {
    const name = c.req.param('name');
    const { dry_run: dryRun } = await parseForm(c, runForm);
    let id: number;
    try {
      id = await c.var.services.retention.run(c.var.principal, c.var.actor, name, { dryRun });
    } catch (err) {
      // No saved rules: the tab again, saying so (a run of an unsaved draft is not what a Harbor user expects); the
      // htmx "Run now" form gets the message swapped in where its button was.
      if (!(err instanceof AppError) || err.code !== 'PRECONDITION') throw err;
      if (isHtmx(c)) return c.html(`<p class="error" role="alert">${escapeHtml(errorText(c, err))}</p>`, 422);
      return show(c, name, { error: errorText(c, err) }, 422);
    }
    return redirectWith(c, `/projects/${name}/retention/runs/${id}`, { kind: 'ok', text: tr(c)(dryRun ? 'retention.queued_dry' : 'retention.queued') });
  });

  // One run, for project admins (the job center is for system admins): what was or would be deleted.
  r.get('/:name/retention/runs/:id', async (c) => {
    const name = c.req.param('name');
    const id = pathId(c, 'id');
    const { project, job } = await c.var.services.retention.getRun(c.var.principal, name, id);
    const res = (job.result ?? {}) as { deleted_count?: number; failed_count?: number; bytes?: number; total?: number };
    const list = listId('retention-items', project.name, id, undefined);
    const q = listQuery(c, list, SORTS.retentionItems, { defaultLimit: ITEMS_PAGE });
    const items = await c.var.services.retention.runItems(c.var.principal, name, id, { page: q.req });
    const body = c.var.services.views.render('partials/retention/run', {
      ...i18nData(c),
      project: project.name,
      job: { id: job.id, status: job.status, progress: job.progress, error: job.error, dry: (job.payload as { dryRun?: boolean }).dryRun, at: fmtTime(job.createdAt) },
      total: res.total ?? 0,
      count: res.deleted_count ?? 0,
      bytes: fmtBytes(res.bytes ?? 0),
      failedCount: res.failed_count ?? 0,
      items: items.items.map((d) => ({ ...d, size: d.outcome === 'failed' ? '' : fmtBytes(d.size), short: d.digest.slice(7, 19), more: Math.max(0, d.tagCount - d.tags.length) })),
      pager: cursorPager(c, list, items, q),
      running: job.status === 'pending' || job.status === 'scheduled' || job.status === 'running',
    });
    return projectPage(c, 'retention', body, project);
  });

  return r;
}
