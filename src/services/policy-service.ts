import type { RegistryHandle } from '../context.js';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import { findProjectByName, type Project } from '../db/repos/projects.js';
import { IMAGE_TYPES } from '../registry/constants.js';
import type { ProxyRefusal, V2Request } from '../registry/proxy.js';
import type { Finding } from '../scanner/matcher.js';
import { severityRank, type Severity } from '../scanner/severity.js';
import type { ScanService } from './scan-service.js';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** `v*`, `release-?.?`, `[0-9]*` → an anchored regex; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end > i + 1) {
        let set = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        re += `[${set}]`;
        i = end;
      } else re += '\\[';
    } else re += ch.replace(/[.+^${}()|\\\]-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface Allowlist {
  items: string[];
  expiresAt: number | null;
}

/** Whether an allowlist entry exempts a finding: the advisory id, or a CVE it names (aliases, upstream). */
export function allowlisted(f: Finding, entries: ReadonlySet<string>): boolean {
  if (entries.has(f.advisoryId.toUpperCase())) return true;
  return f.aliases.some((a) => entries.has(a.toUpperCase()));
}

const fmtBytes = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`);

/**
 * Policy on what flows through `/v2`: the vulnerable-pull gate, read-only mode during garbage collection, tag
 * immutability and storage quotas. Decisions read the DB (shared by all replicas); the read-only flag is cached for
 * a second on the hot path.
 */
export class PolicyService {
  private readOnlyCache: { value: ReadOnlyState | null; at: number } = { value: null, at: 0 };

  constructor(
    private readonly db: DB,
    private readonly registry: RegistryHandle,
    private readonly scans: ScanService,
  ) {}

  // --- system settings ---

  private async setting<T>(name: string): Promise<T | null> {
    const r = await this.db.selectFrom('system_settings').select('value').where('name', '=', name).executeTakeFirst();
    if (!r) return null;
    try {
      return JSON.parse(r.value) as T;
    } catch {
      return null;
    }
  }

  private async putSetting(name: string, value: unknown): Promise<void> {
    const now = Date.now();
    const v = JSON.stringify(value);
    const res = await this.db.updateTable('system_settings').set({ value: v, updated_at: now }).where('name', '=', name).executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) return;
    try {
      await this.db.insertInto('system_settings').values({ name, value: v, updated_at: now }).execute();
    } catch {
      await this.db.updateTable('system_settings').set({ value: v, updated_at: now }).where('name', '=', name).execute();
    }
  }

  async systemAllowlist(): Promise<Allowlist> {
    return (await this.setting<Allowlist>('cve_allowlist')) ?? { items: [], expiresAt: null };
  }

  async setSystemAllowlist(a: Allowlist): Promise<Allowlist> {
    const clean = { items: [...new Set(a.items.map((x) => x.toUpperCase()))], expiresAt: a.expiresAt };
    await this.putSetting('cve_allowlist', clean);
    return clean;
  }

  // --- read-only mode (garbage collection) ---

  async readOnly(): Promise<ReadOnlyState | null> {
    const now = Date.now();
    if (now - this.readOnlyCache.at < 1000) return this.readOnlyCache.value;
    const s = await this.setting<ReadOnlyState>('read_only');
    // The flag carries its own expiry: a GC that died (or a core killed -9) cannot leave the registry read-only.
    const value = s && s.until > now ? s : null;
    this.readOnlyCache = { value, at: now };
    return value;
  }

  async setReadOnly(state: ReadOnlyState | null): Promise<void> {
    await this.putSetting('read_only', state ?? { reason: '', until: 0, jobId: null });
    this.readOnlyCache = { value: null, at: 0 };
  }

  // --- the pull gate ---

  /**
   * Decides a manifest GET/HEAD. When the project prevents vulnerable images: findings at or above its threshold
   * that no live allowlist entry exempts → 412 naming them. Images without a finished report (never scanned, being
   * scanned for the first time, failed) follow the project's `unscanned_policy`, block by default. A child of an index
   * without its own report is judged by its index's report (which covers every platform).
   */
  async pullGate(req: V2Request): Promise<ProxyRefusal | null> {
    const project = await findProjectByName(this.db, req.project!);
    if (!project || !project.preventVulnerable) return null;
    const name = req.name!;
    const repo = await art.findRepository(this.db, name);
    let digest: string | null = DIGEST.test(req.reference!) ? req.reference! : null;
    if (!digest && repo) digest = (await art.findArtifact(this.db, Number(repo.id), req.reference!))?.digest ?? null;
    if (!digest) digest = await this.registry.client.resolve(name, req.reference!).catch(() => null);
    if (!digest) return null; // the registry will answer 404 itself
    const artifact = repo ? await art.findArtifact(this.db, Number(repo.id), digest) : undefined;
    let report = artifact ? await this.scans.report(artifact.id) : undefined;
    if ((!report || report.finishedAt === null) && repo) {
      const parent = await this.db
        .selectFrom('artifact_children as c')
        .innerJoin('artifacts as p', 'p.id', 'c.parent_id')
        .select('p.id')
        .where('c.child_digest', '=', digest)
        .where('p.repository_id', '=', Number(repo.id))
        .executeTakeFirst();
      if (parent) report = await this.scans.report(Number(parent.id));
    }
    const ref = `${name}@${digest.slice(0, 19)}…`;
    if (!report || report.finishedAt === null || report.status === 'error') {
      if (project.unscannedPolicy === 'allow') return null;
      const why = !report ? 'has not been scanned yet' : report.status === 'running' ? 'is being scanned' : 'could not be scanned';
      return {
        status: 412,
        code: 'DENIED',
        message: `Berth blocked this pull: ${ref} ${why}, and project ${project.name} only serves images whose scan shows nothing at or above ${project.severity}. Wait for the scan, or ask a project admin.`,
      };
    }
    const threshold = severityRank(project.severity as Severity);
    const entries = await this.allowlistEntries(project);
    const blocking = report.findings.filter((f) => severityRank(f.severity) >= threshold && !allowlisted(f, entries));
    if (!blocking.length) return null;
    const ids = [...new Set(blocking.map((f) => f.aliases.find((a) => a.startsWith('CVE-')) ?? f.advisoryId))];
    return {
      status: 412,
      code: 'DENIED',
      message:
        `Berth blocked this pull: ${ref} has ${blocking.length} vulnerabilit${blocking.length === 1 ? 'y' : 'ies'} at or above ${project.severity} ` +
        `(${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, and ${ids.length - 5} more` : ''}), and project ${project.name} prevents vulnerable images. ` +
        `To pull it anyway, ask a project admin to add the CVEs to the project's CVE allowlist.`,
    };
  }

  /** Live (not expired) allowlist entries of the system and the project, upper-cased. */
  async allowlistEntries(project: Project): Promise<Set<string>> {
    const now = Date.now();
    const out = new Set<string>();
    const sys = await this.systemAllowlist();
    if (sys.expiresAt === null || sys.expiresAt > now) for (const x of sys.items) out.add(x.toUpperCase());
    if (project.cveAllowlistExpiresAt === null || project.cveAllowlistExpiresAt > now) for (const x of project.cveAllowlist) out.add(x.toUpperCase());
    return out;
  }

  // --- immutability and quota, on manifest PUT ---

  /** The immutability rule a tag falls under, if any. */
  immutableRule(project: Project, tag: string): string | null {
    for (const g of project.immutableTags) if (globToRegExp(g).test(tag)) return g;
    return null;
  }

  /** Refuses overwriting an existing immutable tag, or a push past the project's quota. */
  async manifestPut(req: V2Request, body: Buffer): Promise<ProxyRefusal | null> {
    const project = await findProjectByName(this.db, req.project!);
    if (!project) return null; // the token service never granted push: the registry refuses it
    const ref = req.reference!;
    if (!DIGEST.test(ref)) {
      const rule = this.immutableRule(project, ref);
      if (rule) {
        const repo = await art.findRepository(this.db, req.name!);
        const inDb = repo ? await art.findArtifact(this.db, Number(repo.id), ref) : undefined;
        const exists = inDb ?? (await this.registry.client.resolve(req.name!, ref).catch(() => null));
        if (exists) {
          return { status: 412, code: 'DENIED', message: `tag ${req.name}:${ref} is immutable in project ${project.name} (rule "${rule}"): push under a new tag instead` };
        }
      }
    }
    if (project.quotaBytes !== null) {
      const added = await this.newBytes(req, project, body);
      if (added > 0) {
        const usage = await this.usage(project.id);
        if (usage + added > project.quotaBytes) {
          return {
            status: 412,
            code: 'DENIED',
            message: `storage quota of project ${project.name} exceeded: ${fmtBytes(usage)} used + ${fmtBytes(added)} in this push > ${fmtBytes(project.quotaBytes)} quota. Delete images (and run garbage collection) or ask for a larger quota.`,
          };
        }
      }
    }
    return null;
  }

  /** Bytes of blobs an image manifest references that the project does not hold yet. */
  private async newBytes(req: V2Request, project: Project, body: Buffer): Promise<number> {
    let doc: { mediaType?: string; config?: { digest?: string; size?: number }; layers?: { digest?: string; size?: number }[] };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return 0; // not ours to judge: the registry refuses malformed manifests
    }
    if (doc.mediaType && !IMAGE_TYPES.has(doc.mediaType) && !doc.layers) return body.length;
    const blobs = new Map<string, number>();
    for (const d of [doc.config, ...(doc.layers ?? [])]) if (d?.digest && DIGEST.test(d.digest) && Number.isFinite(d.size)) blobs.set(d.digest, Math.max(0, Number(d.size)));
    if (!blobs.size) return body.length;
    // Real sizes from the registry: a descriptor's declared size is the pusher's claim. A blob not uploaded keeps its
    // declared size here; the registry refuses the manifest anyway (MANIFEST_BLOB_UNKNOWN).
    const real = await this.registry.client.blobSizes(req.name!, [...blobs.keys()]);
    for (const [d, n] of real) if (n !== null) blobs.set(d, n);
    const have = new Set<string>();
    const digests = [...blobs.keys()];
    for (let i = 0; i < digests.length; i += 500) {
      const rows = await this.db
        .selectFrom('artifact_blobs as b')
        .innerJoin('artifacts as a', 'a.id', 'b.artifact_id')
        .innerJoin('repositories as r', 'r.id', 'a.repository_id')
        .select('b.digest')
        .distinct()
        .where('r.project_id', '=', project.id)
        .where('b.digest', 'in', digests.slice(i, i + 500))
        .execute();
      for (const r of rows) have.add(r.digest);
    }
    return body.length + [...blobs].filter(([d]) => !have.has(d)).reduce((n, [, s]) => n + s, 0);
  }

  /** Storage a project uses: each distinct blob once (at the size the registry stores), plus manifests. */
  async usage(projectId: number): Promise<number> {
    const blobs = await this.db
      .selectFrom((eb) =>
        eb
          .selectFrom('artifact_blobs as b')
          .innerJoin('artifacts as a', 'a.id', 'b.artifact_id')
          .innerJoin('repositories as r', 'r.id', 'a.repository_id')
          .where('r.project_id', '=', projectId)
          .select((e) => ['b.digest', e.fn.max<number>('b.size').as('size')])
          .groupBy('b.digest')
          .as('d'),
      )
      .select((e) => e.fn.sum<number>('d.size').as('n'))
      .executeTakeFirst();
    const manifests = await this.db
      .selectFrom('artifacts as a')
      .innerJoin('repositories as r', 'r.id', 'a.repository_id')
      .where('r.project_id', '=', projectId)
      .select((e) => e.fn.sum<number>('a.manifest_size').as('n'))
      .executeTakeFirst();
    return Number(blobs?.n ?? 0) + Number(manifests?.n ?? 0);
  }
}

export interface ReadOnlyState {
  reason: string;
  until: number;
  jobId: number | null;
}
