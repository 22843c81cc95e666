import type { RetentionArtifact } from '../db/repos/retention.js';
import { z } from 'zod';
import { globToRegExp } from './policy-service.js';

export const RETAIN_KINDS = ['latest_pushed', 'latest_pulled', 'pushed_within_days', 'pulled_within_days', 'always'] as const;
export type RetainKind = (typeof RETAIN_KINDS)[number];

const GLOB = /^[A-Za-z0-9_.*?\-/[\]!{},]{1,255}$/;

export const retentionRuleSchema = z
  .object({
    repositories: z.string().regex(GLOB, 'not a repository glob'),
    exclude_repositories: z.string().regex(GLOB, 'not a repository glob').optional(),
    tags: z.string().regex(GLOB, 'not a tag glob'),
    exclude_tags: z.string().regex(GLOB, 'not a tag glob').optional(),
    untagged: z.boolean().default(false),
    retain: z
      .object({ kind: z.enum(RETAIN_KINDS), count: z.number().int().min(1).max(100_000).optional(), days: z.number().int().min(1).max(36_500).optional() })
      .strict()
      .superRefine((r, ctx) => {
        if ((r.kind === 'latest_pushed' || r.kind === 'latest_pulled') && r.count === undefined) ctx.addIssue({ code: 'custom', message: `${r.kind} needs count` });
        if ((r.kind === 'pushed_within_days' || r.kind === 'pulled_within_days') && r.days === undefined) ctx.addIssue({ code: 'custom', message: `${r.kind} needs days` });
      }),
  })
  .strict();
export type RetentionRuleInput = z.infer<typeof retentionRuleSchema>;

/** One rule, as the decision reads it. */
export interface RetentionRule {
  repositories: string;
  excludeRepositories?: string;
  tags: string;
  excludeTags?: string;
  untagged: boolean;
  retain: { kind: RetainKind; count?: number; days?: number };
}

export const toRule = (r: RetentionRuleInput): RetentionRule => ({
  repositories: r.repositories,
  ...(r.exclude_repositories ? { excludeRepositories: r.exclude_repositories } : {}),
  tags: r.tags,
  ...(r.exclude_tags ? { excludeTags: r.exclude_tags } : {}),
  untagged: r.untagged,
  retain: { kind: r.retain.kind, ...(r.retain.count !== undefined ? { count: r.retain.count } : {}), ...(r.retain.days !== undefined ? { days: r.retain.days } : {}) },
});

export type { RetentionArtifact } from '../db/repos/retention.js';

export interface RetentionVerdict {
  artifact: RetentionArtifact;
  keep: boolean;
  /** why: the rule that kept it (by position), immutability, a kept index, no rule, or why it goes */
  reason: string;
}

const DAY_MS = 86_400_000;

/** Why an artifact goes (a verdict's `reason` when `keep` is false), each with its job log message key. */
export const DELETE_REASONS = {
  tagsNotRetained: { text: 'no rule retains its tags', logKey: 'retention_deleted_tags_not_retained' },
  untagged: { text: 'untagged', logKey: 'retention_deleted_untagged' },
  indexesDeleted: { text: 'its indexes are deleted', logKey: 'retention_deleted_indexes_gone' },
} as const;

/**
 * A repository glob in Harbor's doublestar style: `**` crosses `/`, `*` and `?` stay within one path segment,
 * `{a,b}` is either alternative.
 */
export function repositoryGlob(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '{') {
      const end = glob.indexOf('}', i + 1);
      if (end > i) {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((alt) => repositoryGlob(alt).source.slice(1, -1))
          .join('|')})`;
        i = end;
      } else re += '\\{';
    } else re += ch.replace(/[.+^$()|[\]\\!}-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A tag glob (the immutability rules' syntax), plus `{a,b}` alternatives. */
function tagGlob(glob: string): RegExp {
  const alts = /^\{([^{}]*)\}$/.exec(glob);
  if (alts)
    return new RegExp(
      alts[1]!
        .split(',')
        .map((a) => globToRegExp(a).source)
        .map((s) => `(?:${s})`)
        .join('|'),
    );
  return globToRegExp(glob);
}

/**
 * Decides what a retention run keeps and deletes; pure, so the dry run and the real run decide the same.
 *
 * Harbor's model, per repository: a repository no rule selects is left alone. In a selected repository each rule looks
 * at the artifacts with a tag its tag filter matches (and, with `untagged`, the untagged ones) and retains some of them
 * — the newest `count` by push time or by pull time, those pushed or pulled within `days`, or all; an artifact is kept
 * if any rule retains it (OR), and every other artifact of the repository goes. Never-pulled artifacts count as pulled
 * at their push time (so "pulled within" never deletes an image that nobody had a chance to pull: harbor#18479).
 * Always kept, whatever the rules: artifacts with a tag matching an immutability rule, and the platform images of a
 * kept index; untagged artifacts stay unless a rule of their repository includes untagged ones. A platform image of
 * a deleted index goes with it unless something keeps it.
 */
export function decideRetention(rules: RetentionRule[], artifacts: RetentionArtifact[], opts: { now: number; immutableTags: string[] }): RetentionVerdict[] {
  const immutable = opts.immutableTags.map((g) => globToRegExp(g));
  const compiled = rules.map((r, i) => ({
    i,
    rule: r,
    repo: repositoryGlob(r.repositories),
    repoOut: r.excludeRepositories ? repositoryGlob(r.excludeRepositories) : null,
    tag: tagGlob(r.tags),
    tagOut: r.excludeTags ? tagGlob(r.excludeTags) : null,
  }));
  const byRepo = new Map<string, RetentionArtifact[]>();
  for (const a of artifacts) byRepo.set(a.repository, [...(byRepo.get(a.repository) ?? []), a]);
  const out: RetentionVerdict[] = [];
  for (const [repo, list] of byRepo) {
    const here = compiled.filter((c) => c.repo.test(repo) && !c.repoOut?.test(repo));
    if (!here.length) {
      for (const a of list) out.push({ artifact: a, keep: true, reason: 'no rule selects this repository' });
      continue;
    }
    const keptBy = new Map<string, string>();
    const pulled = (a: RetentionArtifact) => a.pulledAt ?? a.pushedAt;
    for (const c of here) {
      const candidates = list.filter((a) => (a.tags.length ? a.tags.some((t) => c.tag.test(t) && !c.tagOut?.test(t)) : c.rule.untagged && a.parents.length === 0));
      const { kind, count = 0, days = 0 } = c.rule.retain;
      let kept: RetentionArtifact[];
      if (kind === 'always') kept = candidates;
      else if (kind === 'latest_pushed') kept = [...candidates].sort((x, y) => y.pushedAt - x.pushedAt || y.id - x.id).slice(0, count);
      else if (kind === 'latest_pulled') kept = [...candidates].sort((x, y) => pulled(y) - pulled(x) || y.pushedAt - x.pushedAt || y.id - x.id).slice(0, count);
      else if (kind === 'pushed_within_days') kept = candidates.filter((a) => a.pushedAt >= opts.now - days * DAY_MS);
      else kept = candidates.filter((a) => pulled(a) >= opts.now - days * DAY_MS);
      const what = kind === 'always' ? 'always' : kind.startsWith('latest') ? `${kind} ${count}` : `${kind} ${days}`;
      for (const a of kept) if (!keptBy.has(a.digest)) keptBy.set(a.digest, `rule ${c.i + 1} (${what})`);
    }
    const untaggedInScope = here.some((c) => c.rule.untagged);
    const verdict = new Map<string, RetentionVerdict>();
    // Top-level artifacts first, then the platform images, which follow their indexes.
    for (const a of list.filter((x) => x.parents.length === 0)) {
      const imm = a.tags.find((t) => immutable.some((re) => re.test(t)));
      if (imm) verdict.set(a.digest, { artifact: a, keep: true, reason: `immutable tag ${imm}` });
      else if (keptBy.has(a.digest)) verdict.set(a.digest, { artifact: a, keep: true, reason: keptBy.get(a.digest)! });
      else if (!a.tags.length && !untaggedInScope) verdict.set(a.digest, { artifact: a, keep: true, reason: 'untagged, and no rule includes untagged artifacts' });
      else verdict.set(a.digest, { artifact: a, keep: false, reason: a.tags.length ? DELETE_REASONS.tagsNotRetained.text : DELETE_REASONS.untagged.text });
    }
    for (const a of list.filter((x) => x.parents.length > 0)) {
      const imm = a.tags.find((t) => immutable.some((re) => re.test(t)));
      const keptParent = a.parents.find((p) => verdict.get(p)?.keep ?? true); // a parent outside the list is kept
      if (imm) verdict.set(a.digest, { artifact: a, keep: true, reason: `immutable tag ${imm}` });
      else if (keptParent) verdict.set(a.digest, { artifact: a, keep: true, reason: `listed by the kept index ${keptParent}` });
      else if (keptBy.has(a.digest)) verdict.set(a.digest, { artifact: a, keep: true, reason: keptBy.get(a.digest)! });
      else verdict.set(a.digest, { artifact: a, keep: false, reason: DELETE_REASONS.indexesDeleted.text });
    }
    out.push(...list.map((a) => verdict.get(a.digest)!));
  }
  return out;
}
