import type { Migration } from 'kysely';
import { accountsProjects } from './2026-11-29-001-accounts-projects.js';
import { sessionsLogins } from './2026-11-29-002-sessions-logins.js';
import { registry } from './2026-11-29-003-registry.js';
import { jobs } from './2026-11-29-004-jobs.js';
import { scanner } from './2026-11-29-005-scanner.js';
import { policy } from './2026-11-29-006-policy.js';
import { generations } from './2026-11-29-007-generations.js';
import { nopadNames } from './2026-11-29-040-nopad-names.js';
import { scannerRegistrations } from './2026-11-29-041-scanner-registrations.js';
import { scanCompleteness } from './2026-11-29-020-scan-completeness.js';
import { registryWrites } from './2026-11-29-050-registry-writes.js';
import { groups } from './2026-11-29-030-groups.js';
import { externalUsers } from './2026-11-29-031-external-users.js';
import { artifactTypes } from './2026-11-29-060-artifact-types.js';
import { webhooks } from './2026-11-29-070-webhooks.js';
import { reportFindings } from './2026-11-29-071-report-findings.js';
import { retention } from './2026-11-29-072-retention.js';
import { reportFindingsAdvisory } from './2026-11-29-073-report-findings-advisory.js';
import { scheduleLastJob } from './2026-11-29-080-schedule-last-job.js';
import { userPreferences } from './2026-11-29-081-user-preferences.js';
import { listIndexes } from './2026-11-29-090-list-indexes.js';
import { projectScanTotals } from './2026-11-30-100-project-scan-totals.js';
import { quotaReservations } from './2026-11-30-120-quota-reservations.js';
import { jobLogKeys } from './2026-11-30-130-job-log-keys.js';
import { boundedLists } from './2026-11-30-150-bounded-lists.js';
import { loginFailuresFirstAt } from './2026-11-30-180-login-failures-first-at.js';
import { tagClaims } from './2026-11-30-200-tag-claims.js';
import { repositoryArtifactCount } from './2026-11-30-230-repository-artifact-count.js';
import { tagPushOrder } from './2026-11-30-190-tag-push-order.js';
import { jobProgressKeys } from './2026-11-30-191-job-progress-keys.js';

/** Every migration, by its dated name; names sort in the order they run. */
export const migrations: Record<string, Migration> = {
  '2026-11-29-001-accounts-projects': accountsProjects,
  '2026-11-29-002-sessions-logins': sessionsLogins,
  '2026-11-29-003-registry': registry,
  '2026-11-29-004-jobs': jobs,
  '2026-11-29-005-scanner': scanner,
  '2026-11-29-006-policy': policy,
  '2026-11-29-007-generations': generations,
  '2026-11-29-040-nopad-names': nopadNames,
  '2026-11-29-041-scanner-registrations': scannerRegistrations,
  '2026-11-29-020-scan-completeness': scanCompleteness,
  '2026-11-29-050-registry-writes': registryWrites,
  '2026-11-29-030-groups': groups,
  '2026-11-29-031-external-users': externalUsers,
  '2026-11-29-060-artifact-types': artifactTypes,
  '2026-11-29-070-webhooks': webhooks,
  '2026-11-29-071-report-findings': reportFindings,
  '2026-11-29-072-retention': retention,
  '2026-11-29-073-report-findings-advisory': reportFindingsAdvisory,
  '2026-11-29-080-schedule-last-job': scheduleLastJob,
  '2026-11-29-081-user-preferences': userPreferences,
  '2026-11-29-090-list-indexes': listIndexes,
  '2026-11-30-100-project-scan-totals': projectScanTotals,
  '2026-11-30-120-quota-reservations': quotaReservations,
  '2026-11-30-130-job-log-keys': jobLogKeys,
  '2026-11-30-150-bounded-lists': boundedLists,
  '2026-11-30-180-login-failures-first-at': loginFailuresFirstAt,
  '2026-11-30-200-tag-claims': tagClaims,
  '2026-11-30-230-repository-artifact-count': repositoryArtifactCount,
  '2026-11-30-190-tag-push-order': tagPushOrder,
  '2026-11-30-191-job-progress-keys': jobProgressKeys,
};
