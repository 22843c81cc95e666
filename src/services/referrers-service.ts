import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import type { ReferrerDescriptor, ReferrerLister } from '../registry/referrers.js';

/** Referrers listed per response; the spec allows paging with `Link`, which Berth does not need at this bound. */
const MAX_REFERRERS = 1000;

/**
 * The referrers API's source: artifacts of the repository whose `subject` is the digest (OCI 1.1 `subject`, and
 * cosign's `sha256-<hex>.sig|.att|.sbom` tags, so `oras discover` shows those too), oldest first. A descriptor's
 * `artifactType` is the manifest's, else its config media type (distribution spec 1.1, "Listing Referrers").
 */
export function referrerLister(db: DB): ReferrerLister {
  return async (name, digest, artifactType) => {
    const repo = await art.findRepository(db, name);
    if (!repo) return null;
    const rows = await art.findReferrers(db, repo.id, digest, { artifactType, limit: MAX_REFERRERS });
    return rows.map(
      (r): ReferrerDescriptor => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.manifestSize,
        artifactType: r.artifactType ?? r.configMediaType ?? 'application/vnd.oci.image.config.v1+json',
        ...(r.annotations ? { annotations: r.annotations } : {}),
      }),
    );
  };
}
