import { createHash, randomUUID } from 'node:crypto';
import type { RegistryClient } from '../registry/client.js';
import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import type { Project } from '../db/repos/projects.js';
import { deleteReservation, insertReservation, listLiveReservations, withProjectQuotaLock } from '../db/repos/quota-reservations.js';
import { findReportSummary } from '../db/repos/scan-reports.js';
import { claimTag, releaseTagClaim } from '../db/repos/tag-claims.js';
import { getSetting, putSetting } from '../db/repos/settings.js';
import { v2Refusal, type RefusalReason, type V2Refusal } from '../errors.js';
import { IMAGE_TYPES, INDEX_TYPES } from '../registry/constants.js';
import { isReferrerType, isRunnable, typeOfRow, type ArtifactType, type ManifestDoc } from '../registry/artifact-type.js';
import type { Finding } from '../scanner/matcher.js';
import { SEVERITIES, severityRank, type Severity } from '../scanner/severity.js';
import type { ScanService } from './scan-service.js';
import { SHA256_DIGEST as DIGEST } from '../registry/reference.js';

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
/** Why the pull gate refuses, as message keys (`gate.reason_<key>` in the UI catalogues). */
export const GATE_REASONS = ['no_digest', 'not_scanned', 'not_readable', 'incomplete', 'scanning', 'scan_failed', 'vulnerable', 'unsigned', 'bad_signature'] as const;
export type GateReason = (typeof GATE_REASONS)[number];

export class PolicyService {
  private readOnlyCache: { value: ReadOnlyState | null; at: number } = { value: null, at: 0 };

  /**
   * How long a push the quota accepted counts before its import (milliseconds; written into each reservation).
   * Notifications come within seconds; a push whose event never arrives is imported by reconciliation.
   */
  reservationTtlMs = QUOTA_RESERVATION_TTL_MS;
  /**
   * Quota decisions per project queue here in this process before they take the project's lock in the database, so
   * parallel pushes through one core wait in memory rather than each holding a database connection.
   */
  private readonly quotaTurns = new Map<number, Promise<unknown>>();

  constructor(
    private readonly db: DB,
    private readonly registry: RegistryClient,
    private readonly scans: ScanService,
  ) {}

  // --- system settings ---

  private async setting<T>(name: string): Promise<T | null> {
    return (await getSetting<T>(this.db, name)) ?? null;
  }

  private putSetting(name: string, value: unknown): Promise<void> {
    return putSetting(this.db, name, value);
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
   * Decides a manifest GET/HEAD on the digest the registry is about to serve. When the project prevents vulnerable
   * images: an image manifest passes when its own finished report shows nothing at or above the project's threshold
   * that a live allowlist entry does not exempt; an index passes only if every child it lists would pass. Images
   * without a finished report (never scanned, being scanned, failed) and images whose report is `incomplete` follow
   * the project's `unscanned_policy`, block by default (an allowed incomplete image is still judged on its findings). Refusals are 412 `PROJECTPOLICYVIOLATION`, which the docker CLI prints verbatim.
   * @param digest the registry's `Docker-Content-Digest`; null (never seen from distribution) is refused.
   */
  async pullDecision(project: Project, repository: string, digest: string | null, method = 'GET'): Promise<V2Refusal | null> {
    if (!project.preventVulnerable && !project.requireSignature) return null;
    if (!digest || !DIGEST.test(digest))
      return this.violation(`Berth blocked this pull: the registry did not name the digest of ${repository}, so its scan cannot be checked`, { key: 'no_digest', params: { repository } });
    const artifact = await art.findArtifactByRepositoryName(this.db, repository, digest);
    // Per type (artifact-type.ts): signatures, attestations, SBOMs and other referrers are never gated (they run
    // nothing; `cosign verify` and `oras discover` must reach them), nor is an index that only lists such referrers
    // (the sha256-<hex> fallback tag). An artifact not imported yet is judged as an image.
    const type = artifact ? typeOfRow(artifact.type, artifact.mediaType) : 'image';
    if (artifact && isReferrerType(type)) return null;
    if (artifact && type === 'index' && (await this.listsOnlyReferrers(artifact.repositoryId, artifact.id))) return null;
    if (project.requireSignature && method === 'GET') {
      const refused = await this.signatureGate(project, repository, artifact?.repositoryId ?? null, digest);
      if (refused) return refused;
    }
    if (!project.preventVulnerable) return null;
    if (artifact && INDEX_TYPES.has(artifact.mediaType)) {
      for (const child of await art.listChildDigests(this.db, artifact.id)) {
        const refused = await this.imageDecision(project, repository, child);
        if (refused)
          return {
            ...refused,
            message: refused.message.replace('Berth blocked this pull: ', `Berth blocked this pull of the index ${repository}@${digest.slice(0, 19)}…: its child `),
            ...(refused.reason ? { reason: { ...refused.reason, index: `${repository}@${digest.slice(0, 19)}…` } } : {}),
          };
      }
      return null;
    }
    return this.imageDecision(project, repository, digest, artifact);
  }

  private violation(message: string, reason: RefusalReason & { key: GateReason }): V2Refusal {
    return v2Refusal('PROJECTPOLICYVIOLATION', message, { reason });
  }

  private async imageDecision(project: Project, repository: string, digest: string, known?: { id: number; type: string | null; mediaType: string; subject: string | null }): Promise<V2Refusal | null> {
    const artifact = known ?? (await art.findArtifactByRepositoryName(this.db, repository, digest));
    const type: ArtifactType = artifact ? typeOfRow(artifact.type, artifact.mediaType) : 'image';
    // An index's attestation manifests and SBOMs are not judged as its platforms.
    if (artifact && isReferrerType(type)) return null;
    const id = artifact?.id;
    const summary = id === undefined ? undefined : await findReportSummary(this.db, id);
    // Charts and other artifacts that do not run are CVE-gated only when a scanner produced a report for them.
    if (!isRunnable(type) && (!summary || summary.finishedAt === null || summary.status !== 'success' || summary.notApplicable)) return null;
    const ref = `${repository}@${digest.slice(0, 19)}…`;
    // an incomplete report (a layer or package database not read, an ecosystem without advisories) is no verdict,
    // nor is "not applicable" for a runnable type (wasm, a SIF without a system partition): never taken as clean
    const finished = summary?.status === 'success' && summary.finishedAt !== null;
    const incomplete = finished && summary!.incomplete;
    const notApplicable = finished && summary!.notApplicable;
    if (!summary || !finished || notApplicable || (incomplete && project.unscannedPolicy !== 'allow')) {
      if (project.unscannedPolicy === 'allow') return null;
      const [key, why]: [GateReason, string] = !summary
        ? ['not_scanned', 'has not been scanned yet']
        : notApplicable
          ? ['not_readable', `is a ${type} artifact, which Berth's scanner cannot read`]
          : incomplete
            ? ['incomplete', `could not be scanned completely (${summary.gaps} part${summary.gaps === 1 ? '' : 's'} not read or without advisories)`]
            : summary.status === 'running'
              ? ['scanning', 'is being scanned']
              : ['scan_failed', 'could not be scanned'];
      return this.violation(
        `Berth blocked this pull: ${ref} ${why}, and project ${project.name} only serves images whose scan shows nothing at or above ${project.severity}. Wait for the scan, or ask a project admin.`,
        { key, params: { ref, type, count: summary?.gaps ?? 0, project: project.name, severity: project.severity } },
      );
    }
    const threshold = severityRank(project.severity as Severity);
    // Most pulls end here: no finding at or above the threshold, so no findings are read at all.
    if (!SEVERITIES.some((s) => severityRank(s) >= threshold && summary.counts[s] > 0)) return null;
    const report = await this.scans.report(id!);
    if (!report) return null;
    const entries = await this.allowlistEntries(project);
    const blocking = report.findings.filter((f) => severityRank(f.severity) >= threshold && !allowlisted(f, entries));
    if (!blocking.length) return null;
    const ids = [...new Set(blocking.map((f) => f.aliases.find((a) => a.startsWith('CVE-')) ?? f.advisoryId))];
    return this.violation(
      `Berth blocked this pull: ${ref} has ${blocking.length} vulnerabilit${blocking.length === 1 ? 'y' : 'ies'} at or above ${project.severity} ` +
        `(${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, and ${ids.length - 5} more` : ''}), and project ${project.name} prevents vulnerable images. ` +
        `To pull it anyway, ask a project admin to add the CVEs to the project's CVE allowlist.`,
      {
        key: 'vulnerable',
        params: { ref, count: blocking.length, severity: project.severity, ids: `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` (+${ids.length - 5})` : ''}`, project: project.name },
      },
    );
  }

  /**
   * The signed-only rule: the artifact, or an index it is pulled through, must carry a cosign signature valid for
   * one of the project's keys (verified when the signature was pushed). HEAD is not gated: it serves no content,
   * and signers resolve the digest they sign with it. Refusal: 412 PROJECTPOLICYVIOLATION naming what is wrong.
   */
  private async signatureGate(project: Project, name: string, knownRepositoryId: number | null, digest: string): Promise<V2Refusal | null> {
    const repositoryId = knownRepositoryId ?? (await art.findRepository(this.db, name))?.id ?? -1;
    const parents = (await art.findParentIndexes(this.db, repositoryId, digest)).map((p) => p.digest);
    const current = new Set(project.signatureKeys.map((k) => k.name));
    const signers = await art.signersOf(this.db, repositoryId, [digest, ...parents]);
    if ([...signers.values()].flat().some((n) => current.has(n))) return null;
    const sigs = (await Promise.all([digest, ...parents].map((d) => art.findReferrers(this.db, repositoryId, d, { limit: 100 })))).flat().filter((a) => a.type === 'signature');
    const keys = [...current].join(', ');
    const why = sigs.length ? `has ${sigs.length} signature${sigs.length === 1 ? '' : 's'}, but none is valid for the project's keys (${keys})` : `is not signed`;
    return this.violation(
      `Berth blocked this pull: ${name}@${digest.slice(0, 19)}… ${why}, and project ${project.name} serves only artifacts signed by one of its keys. Sign it with cosign (cosign sign --key <one of: ${keys}> <registry>/${name}@${digest}) and pull again.`,
      { key: sigs.length ? 'bad_signature' : 'unsigned', params: { ref: `${name}@${digest.slice(0, 19)}…`, count: sigs.length, keys, project: project.name } },
    );
  }

  /** Whether an index lists referrers only (an sha256-<hex> fallback index), judged by its children's types. */
  private listsOnlyReferrers(repositoryId: number, indexId: number): Promise<boolean> {
    return art.indexListsOnlyReferrers(this.db, repositoryId, indexId);
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

  // --- read-only, immutability, deletes and quota on /v2 writes ---

  /** While garbage collection runs, writes get a retryable 503 with Retry-After. */
  async readOnlyRefusal(): Promise<V2Refusal | null> {
    const ro = await this.readOnly();
    if (!ro) return null;
    const wait = Math.max(5, Math.ceil((ro.until - Date.now()) / 1000));
    const why = ro.reason && ro.reason !== 'garbage collection' ? ` (${ro.reason})` : '';
    return v2Refusal('UNAVAILABLE', `Berth is read-only while garbage collection runs${why}: retry in a few minutes`, { headers: { 'Retry-After': String(Math.min(wait, 300)) } });
  }

  /** The immutability rule a tag falls under, if any. */
  immutableRule(project: Project, tag: string): string | null {
    for (const g of project.immutableTags) if (globToRegExp(g).test(tag)) return g;
    return null;
  }

  /** Refuses pushing over an existing immutable tag (by the registry's own view of the tag when the DB lags). */
  async immutableTagRefusal(project: Project, repository: string, reference: string): Promise<V2Refusal | null> {
    if (DIGEST.test(reference)) return null;
    const rule = this.immutableRule(project, reference);
    if (!rule) return null;
    const repo = await art.findRepository(this.db, repository);
    const inDb = repo ? await art.findArtifact(this.db, repo.id, reference) : undefined;
    const exists = inDb ?? (await this.registry.resolve(repository, reference).catch(() => null));
    if (!exists) return null;
    return immutableRefusal(project, repository, reference, rule);
  }

  /**
   * Claims a new immutable tag for the digest of the manifest being pushed, before the PUT is forwarded: the check
   * above sees only tags the database or the registry already hold, so two first pushes of one tag with different
   * digests (on one core or on replicas) would both pass it, and the tag would move. The claim is a row keyed by
   * (repository, tag) in the database every replica shares: a PUT of another digest while it lives gets the same
   * refusal as a push over an existing immutable tag; the same digest shares it (clients retry). Once it holds a fresh
   * claim the PUT looks again for the tag (the claim of a push imported meanwhile has ended, and the tag is in the
   * database then). The claim ends when the registry refuses the PUT ({@link tagClaimSettled}), when the push is
   * imported, or after {@link reservationTtlMs} (then the registry's own view of the tag guards it).
   * @returns the refusal, or the claim's holder id to settle with the registry's answer (null: no claim needed)
   */
  async claimImmutableTag(project: Project, repository: string, reference: string, body: Buffer): Promise<TagClaimDecision> {
    if (DIGEST.test(reference)) return { refusal: null, claim: null };
    const rule = this.immutableRule(project, reference);
    if (!rule) return { refusal: null, claim: null };
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const holder = randomUUID();
    const now = Date.now();
    const claim = await claimTag(this.db, { repository, tag: reference, digest, holder, now, expiresAt: now + this.reservationTtlMs });
    if (!claim.held) return { refusal: immutableRefusal(project, repository, reference, rule), claim: null };
    if (claim.fresh) {
      const refused = await this.immutableTagRefusal(project, repository, reference);
      if (refused) {
        await releaseTagClaim(this.db, repository, reference, holder);
        return { refusal: refused, claim: null };
      }
    }
    return { refusal: null, claim: { repository, tag: reference, holder } };
  }

  /** The registry's answer to a PUT holding a tag claim: a refused or failed PUT stored nothing, so its claim ends now. */
  async tagClaimSettled(claim: HeldTagClaim, stored: boolean): Promise<void> {
    // a claim not removed here ends at its expiry
    if (!stored) await releaseTagClaim(this.db, claim.repository, claim.tag, claim.holder).catch(() => undefined);
  }

  /** Listeners for quota events: a push refused over quota, or one that crossed 85 % of it (webhooks plug in here). */
  readonly onQuota: ((e: QuotaEvent) => void)[] = [];

  /**
   * Decides a manifest PUT against the project's storage quota and, when it fits, reserves what it adds until Berth
   * imports it. The registry holds a push the moment it answers, the usage counts it only once its notification is
   * applied: the reservations (in the database, so every replica sees every replica's pushes) fill that gap. A push
   * is judged against the usage plus every live reservation of the project, each distinct blob once; the decision
   * and its reservation are one transaction under the project's lock, so two replicas deciding at once take turns.
   * A reservation ends when the push is imported, when the registry refuses the PUT ({@link quotaSettled}), or after
   * {@link reservationTtlMs}. Projects without a quota return at once, without touching the database.
   * `target` names the manifest for the quota events (QUOTA_EXCEED on a refusal, QUOTA_WARNING when a push crosses
   * 85 % of the quota) and for the reservation; without it nothing is reserved.
   * @returns the refusal (412 PRECONDITION naming usage, push and quota), or null and the reservation's id (null when
   *   nothing was reserved)
   */
  async reserveQuota(project: Project, body: Buffer, target?: { repository: string; reference: string }): Promise<QuotaDecision> {
    if (project.quotaBytes === null) return { refusal: null, reservation: null };
    const before = this.quotaTurns.get(project.id) ?? Promise.resolve();
    const turn = before.catch(() => undefined).then(() => this.decideQuota(project, body, target));
    const settled = turn.catch(() => undefined);
    this.quotaTurns.set(project.id, settled);
    void settled.then(() => {
      if (this.quotaTurns.get(project.id) === settled) this.quotaTurns.delete(project.id);
    });
    return turn;
  }

  /**
   * The registry's answer to a manifest PUT that {@link reserveQuota} let through: a refused or failed PUT stored
   * nothing, so its reservation ends at once; a stored one counts until its import.
   */
  async quotaSettled(reservation: string, stored: boolean): Promise<void> {
    // The client gets the registry's answer either way: a reservation not removed here ends at its expiry.
    if (!stored) await deleteReservation(this.db, reservation).catch(() => undefined);
  }

  private async decideQuota(project: Project, body: Buffer, target?: { repository: string; reference: string }): Promise<QuotaDecision> {
    const quotaBytes = project.quotaBytes!;
    // The registry is asked for blob sizes before the lock: the lock is held for database reads and one write only.
    const blobs = await this.manifestBlobs(target?.repository ?? null, body);
    const now = Date.now();
    const decided = await withProjectQuotaLock(this.db, project.id, now, async (trx) => {
      const pending = { blobs: new Map<string, number>(), manifestBytes: 0 };
      for (const r of await listLiveReservations(trx, project.id, now)) {
        pending.manifestBytes += r.manifestBytes;
        for (const [d, n] of r.blobs) pending.blobs.set(d, n);
      }
      const held = await this.heldBlobs(trx, project, [...new Set([...blobs.keys(), ...pending.blobs.keys()])]);
      // Each distinct blob once: what the database counts, plus what reserved pushes add that it does not know yet,
      // plus what this push adds beyond both.
      let pendingBytes = pending.manifestBytes;
      for (const [d, n] of pending.blobs) if (!held.has(d)) pendingBytes += n;
      let added = body.length;
      for (const [d, n] of blobs) if (!held.has(d) && !pending.blobs.has(d)) added += n;
      const usage = (await art.projectUsageBytes(trx, project.id)) + pendingBytes;
      const fits = usage + added <= quotaBytes;
      let reservation: string | null = null;
      if (fits && target) {
        reservation = randomUUID();
        const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        await insertReservation(trx, {
          id: reservation,
          projectId: project.id,
          repository: target.repository,
          digest,
          manifestBytes: body.length,
          addedBytes: added,
          blobs,
          acceptedAt: now,
          expiresAt: now + this.reservationTtlMs,
        });
      }
      return { usage, added, fits, reservation };
    });
    const { usage, added } = decided;
    const event = { project, repository: target?.repository ?? null, reference: target?.reference ?? null, usedBytes: usage, addedBytes: added, quotaBytes };
    const warnAt = QUOTA_WARNING_SHARE * quotaBytes;
    if (decided.fits) {
      if (usage < warnAt && usage + added >= warnAt) this.quotaEvent({ ...event, exceeded: false });
      return { refusal: null, reservation: decided.reservation };
    }
    this.quotaEvent({ ...event, exceeded: true });
    return {
      refusal: v2Refusal(
        'PRECONDITION',
        `storage quota of project ${project.name} exceeded: ${fmtBytes(usage)} used + ${fmtBytes(added)} in this push > ${fmtBytes(quotaBytes)} quota. Delete images (and run garbage collection) or ask for a larger quota.`,
      ),
      reservation: null,
    };
  }

  private quotaEvent(e: QuotaEvent): void {
    for (const fn of this.onQuota) {
      try {
        fn(e);
      } catch {
        /* a listener never decides a push */
      }
    }
  }

  /**
   * The blobs an image manifest references, at their real sizes (the registry's answer; a descriptor's size is the
   * pusher's claim). Empty for an index, a malformed body or one without blobs: only its own bytes count.
   */
  private async manifestBlobs(repository: string | null, body: Buffer): Promise<Map<string, number>> {
    let doc: ManifestDoc;
    const blobs = new Map<string, number>();
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return blobs; // not ours to judge: the registry refuses malformed manifests
    }
    if (doc.mediaType && !IMAGE_TYPES.has(doc.mediaType) && !doc.layers) return blobs;
    for (const d of [doc.config, ...(doc.layers ?? [])]) if (d?.digest && DIGEST.test(d.digest) && Number.isFinite(d.size)) blobs.set(d.digest, Math.max(0, Number(d.size)));
    // A blob not uploaded keeps its declared size here; the registry refuses the manifest anyway (MANIFEST_BLOB_UNKNOWN).
    if (repository && blobs.size) {
      const real = await this.registry.blobSizes(repository, [...blobs.keys()]);
      for (const [d, n] of real) if (n !== null) blobs.set(d, n);
    }
    return blobs;
  }

  /** Which of these blobs the project's imported artifacts already hold (counted in {@link usage}). */
  private async heldBlobs(db: DB, project: Project, digests: string[]): Promise<Set<string>> {
    const have = new Set<string>();
    for (let i = 0; i < digests.length; i += 500) {
      for (const d of await art.findProjectBlobs(db, project.id, digests.slice(i, i + 500))) have.add(d);
    }
    return have;
  }

  /** Storage a project uses: each distinct blob once (at the size the registry stores), plus manifests. */
  usage(projectId: number): Promise<number> {
    return art.projectUsageBytes(this.db, projectId);
  }
}

/** The refusal of a push over an immutable tag that exists or another push has claimed (412 PRECONDITION). */
function immutableRefusal(project: Project, repository: string, tag: string, rule: string): V2Refusal {
  return v2Refusal('PRECONDITION', `tag ${repository}:${tag} is immutable in project ${project.name} (rule "${rule}"): push under a new tag instead`);
}

/** An immutable tag a manifest PUT holds until the registry answers (and, when stored, until its import). */
export interface HeldTagClaim {
  repository: string;
  tag: string;
  holder: string;
}

/** The claim decision on a manifest PUT: the refusal, or the claim to settle (null: the tag needs none). */
export type TagClaimDecision = { refusal: V2Refusal; claim: null } | { refusal: null; claim: HeldTagClaim | null };

/** A quota decision on a manifest PUT: the refusal, or the reservation that counts the push until its import. */
export type QuotaDecision = { refusal: V2Refusal; reservation: null } | { refusal: null; reservation: string | null };

/** How long a push the quota accepted counts before its import: notifications come within seconds; reconciliation repairs. */
export const QUOTA_RESERVATION_TTL_MS = 5 * 60_000;

/** Share of a quota whose crossing by a push raises QUOTA_WARNING (Harbor's default warning level). */
export const QUOTA_WARNING_SHARE = 0.85;

export interface QuotaEvent {
  project: Project;
  repository: string | null;
  reference: string | null;
  usedBytes: number;
  addedBytes: number;
  quotaBytes: number;
  /** true: the push was refused; false: it crossed the warning level */
  exceeded: boolean;
}

export interface ReadOnlyState {
  reason: string;
  until: number;
  jobId: number | null;
}
