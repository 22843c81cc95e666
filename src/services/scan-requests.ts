import type { Principal } from '../auth/principal.js';
import type { DB } from '../db/connect.js';
import { findProjectByName } from '../db/repos/projects.js';
import { findAdvisoryDbUpdatedAt } from '../db/repos/advisories.js';
import { countOpenScansOfProject, findReportSummary } from '../db/repos/scan-reports.js';
import type { JobQueue } from '../jobs/queue.js';
import { enqueueScan, PRIORITY_PUSH, pushScanPriority, SCAN_ALL, SCAN_IMAGE } from '../jobs/types/scan.js';
import type { Actor, AuditService } from './audit-service.js';
import type { Authorizer } from './authorizer.js';
import type { PushedArtifact } from './registry-sync.js';
import { SCANNER_VERSION } from './scan-service.js';
import { requireSystemRequester, type SystemRequester } from './system-requester.js';

/** The artifact a scan is asked for, as `RepositoryService.artifact` resolves it. */
export interface ScanTarget {
  project: { id: number; name: string; public: boolean };
  repository: { name: string };
  artifact: { id: number; digest: string };
}

/**
 * Who may ask for a scan, and how it is queued, for every way in: a user's request (REST and UI), a scan of
 * everything (REST, the jobs page's schedule), and auto-scan on push (registry sync). The queueing rule itself (one
 * open scan per artifact, priorities) is {@link enqueueScan}.
 */
export class ScanRequests {
  constructor(
    private readonly db: DB,
    private readonly jobs: JobQueue,
    private readonly authz: Authorizer,
    private readonly audit: AuditService,
    /** the external adapter that scans a project's images, or null for the built-in scanner */
    private readonly adapterFor: (projectId: number) => Promise<unknown> = async () => null,
  ) {}

  /**
   * A user's scan of one artifact: needs `artifact:scan` on its project (else `DENIED`, or `NOT_FOUND` for a project
   * the caller cannot see, from the authorizer), queued at push priority (ahead of bulk scans) and audited.
   * A scan of the artifact already queued or running is returned instead of a second one. Returns the job id.
   */
  async scanArtifact(principal: Principal, actor: Actor, t: ScanTarget): Promise<{ id: number }> {
    await this.authz.require(principal, 'artifact:scan', t.project);
    const { id } = await enqueueScan(this.jobs, { id: t.artifact.id, repository: t.repository.name, digest: t.artifact.digest }, { reason: 'manual', priority: PRIORITY_PUSH });
    await this.audit.record(actor, 'scan', 'artifact', `${t.repository.name}@${t.artifact.digest}`, { job: id });
    return { id };
  }

  /**
   * A scan of every artifact, for system admins and the operator only (REST and the job center alike), audited.
   * Throws `UNAUTHORIZED` for an anonymous caller and `DENIED` for anyone else. Returns the job id.
   */
  async scanAll(by: SystemRequester): Promise<{ id: number }> {
    requireSystemRequester(by);
    const { id } = await this.jobs.enqueue(SCAN_ALL, { reason: 'manual', by: by.actor.name });
    await this.audit.record(by.actor, 'scan_all', 'system', 'artifacts', { job: id });
    return { id };
  }

  /**
   * Auto-scan on push: a pushed artifact in a project with `auto_scan` on gets a scan at push priority, stepped down
   * per scan of the same project still open (`pushScanPriority`), so one project's burst cannot starve another's.
   * Registered as a listener of the registry sync.
   */
  readonly onArtifactPushed = async (a: PushedArtifact): Promise<void> => {
    const project = await findProjectByName(this.db, a.repository.split('/')[0]!);
    if (!project?.autoScan) return;
    if (await this.judgedByCurrentAdvisories(a.artifactId, project.id)) return;
    const open = await countOpenScansOfProject(this.db, SCAN_IMAGE, project.name, PRIORITY_PUSH);
    await enqueueScan(this.jobs, { id: a.artifactId, repository: a.repository, digest: a.digest }, { reason: 'push', priority: pushScanPriority(open) });
  };

  /**
   * Whether the artifact's report already judges it against the advisories loaded now: by this version of the
   * built-in scanner, finished without error, and complete having read the advisory database as it is now (the
   * update the scan read when it began, not when it finished: a scan running through an import matched the older
   * advisories), or not applicable. A digest pushed again (under another tag, or the same one) then needs no second
   * scan; anything less (no report, an error, gaps, older advisories, another scanner or scanner version, a project
   * scanned by an adapter, whose advisories Berth cannot know) is scanned on push.
   */
  private async judgedByCurrentAdvisories(artifactId: number, projectId: number): Promise<boolean> {
    const report = await findReportSummary(this.db, artifactId);
    if (!report || report.status !== 'success' || report.finishedAt === null || report.incomplete) return false;
    if (report.scanner !== SCANNER_VERSION || (await this.adapterFor(projectId)) !== null) return false;
    if (report.notApplicable) return true;
    const advisoriesAt = await findAdvisoryDbUpdatedAt(this.db);
    // The very update the database is at: a later one stamped by a replica whose clock runs behind is not older.
    return advisoriesAt !== null && report.dbUpdatedAt === advisoriesAt;
  }
}
