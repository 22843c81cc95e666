import type { DB } from '../db/connect.js';
import * as art from '../db/repos/artifacts.js';
import type { ReferrerDescriptor, ReferrerLister } from '../registry/referrers.js';

/** Referrers listed per response; more go on by the spec's `Link` header (the rest were invisible before). */
export const REFERRERS_PAGE = 1000;

/**
 * The referrers API's source: artifacts of the repository whose `subject` is the digest (OCI 1.1 `subject`, and
 * cosign's `sha256-<hex>.sig|.att|.sbom` tags, so `oras discover` shows those too), oldest first. A descriptor's
 * `artifactType` is the manifest's, else its config media type (distribution spec 1.1, "Listing Referrers").
 */
export function referrerLister(db: DB): ReferrerLister {
  return async (name, digest, artifactType, after) => {
    const repo = await art.findRepository(db, name);
    if (!repo) return null;
    const page = await art.listReferrers(db, repo.id, digest, { artifactType, page: { limit: REFERRERS_PAGE, ...(after ? { at: { key: [after.pushedAt, after.id], before: false } } : {}) } });
    const descriptors = page.items.map(
      (r): ReferrerDescriptor => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.manifestSize,
        artifactType: r.artifactType ?? r.configMediaType ?? 'application/vnd.oci.image.config.v1+json',
        ...(r.annotations ? { annotations: r.annotations } : {}),
      }),
    );
    return { descriptors, next: page.next ? { pushedAt: Number(page.next[0]), id: Number(page.next[1]) } : null };
  };
}
