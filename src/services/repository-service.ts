import type { Principal } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import type { PageRequest } from '../paging.js';
import { AppError, badRequest } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import type { Actor } from './audit-service.js';
import type { Authorizer } from './authorizer.js';
import type { Project, ProjectService } from './project-service.js';
import type { DeletionService } from './deletion-service.js';
import { PATH_COMPONENT as COMPONENT, SHA256_DIGEST as DIGEST, TAG } from '../registry/reference.js';

/**
 * Tags an artifact object embeds (the first, by name); the rest page from `GET …/artifacts/{reference}/tags`. An
 * artifact can have thousands of tags, and a page of artifacts must not carry them all.
 */
export const ARTIFACT_TAGS_PREVIEW = 20;
/** Referrers an artifact object embeds (the oldest); the rest page from `GET …/artifacts/{reference}/referrers`. */
export const ARTIFACT_REFERRERS_PREVIEW = 20;

/**
 * `tags`: the first {@link ARTIFACT_TAGS_PREVIEW} by name; `tagCount`: how many it has (exact up to TOTAL_CAP, else
 * null). `signers`: the project keys that signed it (its verified signatures), or for a signature the keys it
 * verified with.
 */
export type ArtifactWithTags = art.ArtifactRecord & { tags: { name: string; pushedAt: number }[]; tagCount: number | null; signers: string[] };

/** Some referrers of a subject (the first {@link ARTIFACT_REFERRERS_PREVIEW}) and how many it has (null: over TOTAL_CAP). */
export interface ReferrerPreview {
  items: ArtifactWithTags[];
  count: number | null;
}

/** Repositories, artifacts and tags as the DB knows them; deletions go through the registry API first. */
export class RepositoryService {
  constructor(
    private readonly db: DB,
    private readonly projects: ProjectService,
    private readonly authz: Authorizer,
    private readonly registry: RegistryClient,
    private readonly deletion: DeletionService,
  ) {}

  /** How many repositories and artifacts the registry holds (dashboard figures for system admins). */
  async systemCounts(): Promise<{ repositories: number; artifacts: number }> {
    return { repositories: await art.countRepositories(this.db), artifacts: await art.countArtifacts(this.db) };
  }

  /** Repositories in a project (what a project deletion would remove). */
  countInProject(projectId: number): Promise<number> {
    return art.countRepositories(this.db, projectId);
  }

  /** The full name `project/repo` after validating the repo path the API was given. */
  private fullName(project: Project, repo: string): string {
    const parts = repo.split('/');
    if (repo.length === 0 || repo.length > 255 || !parts.every((p) => COMPONENT.test(p))) throw new AppError('NAME_INVALID', 'invalid repository name', undefined, { key: 'repository_name_invalid' });
    return `${project.name}/${repo}`;
  }

  async list(p: Principal, projectName: string, opts: { q?: string; page: PageRequest }) {
    const project = await this.projects.get(p, projectName);
    return { project, ...(await art.listRepositories(this.db, { projectId: project.id, q: opts.q, page: opts.page })) };
  }

  async get(p: Principal, projectName: string, repo: string) {
    const project = await this.projects.get(p, projectName);
    const name = this.fullName(project, repo);
    const row = await art.findRepository(this.db, name);
    if (!row) throw new AppError('NAME_UNKNOWN', `repository ${name} not found`, undefined, { key: 'repository_not_found', params: { name } });
    return { project, repository: { id: row.id, name, pullCount: row.pullCount, createdAt: row.createdAt, updatedAt: row.updatedAt } };
  }

  /** A repository's artifacts, newest first; `topLevel` leaves out referrers of artifacts listed with them. */
  async artifacts(p: Principal, projectName: string, repo: string, opts: { page: PageRequest; topLevel?: boolean }) {
    const { project, repository } = await this.get(p, projectName, repo);
    const page = await art.listArtifacts(this.db, repository.id, opts);
    return { project, repository, ...page, items: await this.decorate(repository.id, page.items) };
  }

  /** Adds who signed each artifact (signatures verified against the project's keys when they were pushed). */
  async withSigners<T extends art.ArtifactRecord>(repositoryId: number, items: T[]): Promise<(T & { signers: string[] })[]> {
    const signers = await art.signersOf(
      this.db,
      repositoryId,
      items.filter((a) => a.type !== 'signature').map((a) => a.digest),
    );
    return items.map((a) => ({ ...a, signers: a.type === 'signature' ? a.signedBy : (signers.get(a.digest) ?? []) }));
  }

  /** Artifacts with their tag previews and signers. */
  private async decorate(repositoryId: number, items: art.ArtifactRecord[]): Promise<ArtifactWithTags[]> {
    const tags = await art.tagPreviews(
      this.db,
      items.map((a) => a.id),
      ARTIFACT_TAGS_PREVIEW,
    );
    return this.withSigners(
      repositoryId,
      items.map((x) => ({ ...x, tags: tags.get(x.id)?.tags ?? [], tagCount: tags.get(x.id)?.count ?? 0 })),
    );
  }

  /**
   * The first referrers of artifacts (signatures, SBOMs, attestations attached to them) and how many each has, by
   * subject digest (bounded per subject: see `referrerPage` for the rest).
   */
  async referrers(repositoryId: number, subjects: string[]): Promise<Map<string, ReferrerPreview>> {
    const found = await art.referrerPreviews(this.db, repositoryId, subjects, ARTIFACT_REFERRERS_PREVIEW);
    const all = await this.decorate(
      repositoryId,
      [...found.values()].flatMap((f) => f.items),
    );
    const out = new Map<string, ReferrerPreview>();
    for (const [subject, f] of found) out.set(subject, { items: all.filter((a) => a.subject === subject), count: f.count });
    return out;
  }

  /** One page of an artifact's referrers, oldest first; `artifactType` narrows them as the referrers API does. */
  async referrerPage(p: Principal, projectName: string, repo: string, reference: string, f: { artifactType?: string; page: PageRequest }) {
    const { repository, artifact } = await this.artifact(p, projectName, repo, reference);
    const page = await art.listReferrers(this.db, repository.id, artifact.digest, f);
    return { repository, artifact, ...page, items: await this.decorate(repository.id, page.items) };
  }

  /** One page of an artifact's tags, by name. */
  async artifactTags(p: Principal, projectName: string, repo: string, reference: string, page: PageRequest) {
    const { repository, artifact } = await this.artifact(p, projectName, repo, reference);
    return { repository, artifact, ...(await art.listArtifactTags(this.db, artifact.id, page)) };
  }

  /** The children of the given index artifacts of a repository the caller has read (see `artifacts`). */
  async indexChildren(repositoryId: number, indexIds: number[]) {
    return art.indexChildren(this.db, repositoryId, indexIds);
  }

  async artifact(p: Principal, projectName: string, repo: string, reference: string) {
    if (!TAG.test(reference) && !DIGEST.test(reference)) throw badRequest('reference must be a tag or a sha256 digest');
    const { project, repository } = await this.get(p, projectName, repo);
    const a = await art.findArtifact(this.db, repository.id, reference);
    if (!a) throw new AppError('MANIFEST_UNKNOWN', `artifact ${repository.name}:${reference} not found`, undefined, { key: 'artifact_not_found', params: { name: `${repository.name}:${reference}` } });
    const [artifact] = await this.decorate(repository.id, [a]);
    return { project, repository, artifact: artifact!, ...(await art.artifactDetails(this.db, a.id)) };
  }

  /** The manifest document from the registry, pretty-printable (the artifact page shows it). */
  async manifestJson(repository: string, digest: string): Promise<unknown> {
    const m = await this.registry.manifest(repository, digest);
    if (!m) return null;
    return JSON.parse(m.body.toString('utf8'));
  }

  /** The image config document (bounded). */
  async configJson(repository: string, digest: string | null): Promise<unknown> {
    if (!digest) return null;
    const b = await this.registry.smallBlob(repository, digest, 1024 * 1024);
    if (!b) return null;
    try {
      return JSON.parse(b.toString('utf8'));
    } catch {
      return null;
    }
  }

  async deleteArtifact(p: Principal, actor: Actor, projectName: string, repo: string, reference: string): Promise<void> {
    const { project, repository, artifact } = await this.artifact(p, projectName, repo, reference);
    await this.authz.require(p, 'repository:delete', project);
    await this.deletion.deleteArtifacts(actor, repository.name, [artifact.digest], { reason: 'user' });
  }

  /** Deletes every repository of a project in the registry and the DB (a forced project deletion). */
  async purgeProject(p: Principal, actor: Actor, project: Project): Promise<number> {
    await this.authz.require(p, 'repository:delete', project);
    return this.deletion.deleteProjectRepositories(actor, project, { reason: 'project deleted' });
  }

  async deleteRepository(p: Principal, actor: Actor, projectName: string, repo: string): Promise<number> {
    const { project, repository } = await this.get(p, projectName, repo);
    await this.authz.require(p, 'repository:delete', project);
    return (await this.deletion.deleteRepository(actor, repository.name, { reason: 'user' })).deleted;
  }

  /** A repository's tags by name, one page. */
  async tags(p: Principal, projectName: string, repo: string, page: PageRequest) {
    const { project, repository } = await this.get(p, projectName, repo);
    return { project, repository, ...(await art.listTags(this.db, repository.id, page)) };
  }

  /** Deletes one tag and leaves the artifact (rules in {@link DeletionService.deleteTag}). */
  async deleteTag(p: Principal, actor: Actor, projectName: string, repo: string, tag: string): Promise<void> {
    if (!TAG.test(tag)) throw badRequest('invalid tag');
    const { project, repository } = await this.artifact(p, projectName, repo, tag);
    await this.authz.require(p, 'repository:delete', project);
    await this.deletion.deleteTag(actor, repository.name, tag, { reason: 'user' });
  }
}
