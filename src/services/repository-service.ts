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

/** `signers`: the project keys that signed it (its verified signatures), or for a signature the keys it verified with. */
export type ArtifactWithTags = art.ArtifactRecord & { tags: { name: string; pushedAt: number }[]; signers: string[] };

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
    return { project, repository, ...page, items: await this.withSigners(repository.id, page.items) };
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

  /** The referrers of artifacts (signatures, SBOMs, attestations attached to them), by subject digest. */
  async referrers(repositoryId: number, subjects: string[]): Promise<Map<string, ArtifactWithTags[]>> {
    const found = await art.referrersOf(this.db, repositoryId, subjects);
    const all = [...found.values()].flat();
    const tags = await art.tagsOf(
      this.db,
      all.map((a) => a.id),
    );
    const out = new Map<string, ArtifactWithTags[]>();
    for (const a of await this.withSigners(
      repositoryId,
      all.map((x) => ({ ...x, tags: tags.get(x.id) ?? [] })),
    )) {
      out.set(a.subject!, [...(out.get(a.subject!) ?? []), a]);
    }
    return out;
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
    const tags = (await art.tagsOf(this.db, [a.id])).get(a.id) ?? [];
    const [artifact] = await this.withSigners(repository.id, [{ ...a, tags }]);
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
    return (await this.deletion.deleteRepository(actor, repository.name, { reason: 'user' })).deleted.length;
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
