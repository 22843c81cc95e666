import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { serveReferrers, type ReferrerDescriptor, type ReferrerPosition } from '../../src/registry/referrers.js';

/**
 * The `/v2/<name>/referrers/<digest>` answer pages by the distribution spec's `Link` header: a subject with more
 * referrers than one answer holds lists the rest on the next pages (before, everything past the first 1000 was
 * invisible). Walked over real HTTP on loopback with a lister of 7 referrers, 3 a page.
 */
describe('referrers API pages by Link header', () => {
  const ALL: (ReferrerDescriptor & { pushedAt: number; id: number })[] = Array.from({ length: 7 }, (_, i) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${String(i).repeat(64)}`,
    size: 10,
    artifactType: i % 2 ? 'application/vnd.dev.cosign.artifact.sig.v1+json' : 'application/spdx+json',
    pushedAt: 1000 + i,
    id: 50 + i,
  }));
  const PAGE = 3;
  const seen: (ReferrerPosition | null)[] = [];
  let server: Server;
  let base: string;

  before(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      void serveReferrers({
        name: 'p1/app',
        digest: `sha256:${'f'.repeat(64)}`,
        rawUrl: url,
        req,
        res,
        list: async (_name, _digest, artifactType, after) => {
          seen.push(after);
          const rows = ALL.filter(
            (r) => (artifactType === undefined || r.artifactType === artifactType) && (!after || r.pushedAt > after.pushedAt || (r.pushedAt === after.pushedAt && r.id > after.id)),
          );
          const page = rows.slice(0, PAGE);
          const last = page[page.length - 1];
          return { descriptors: page.map(({ pushedAt: _p, id: _i, ...d }) => d), next: rows.length > PAGE && last ? { pushedAt: last.pushedAt, id: last.id } : null };
        },
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const walk = async (first: string) => {
    const digests: string[] = [];
    let url: string | null = first;
    let pages = 0;
    while (url) {
      const res: Response = await fetch(`${base}${url}`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { manifests: { digest: string }[] };
      assert.ok(body.manifests.length <= PAGE);
      digests.push(...body.manifests.map((m) => m.digest));
      const link = res.headers.get('link');
      url = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
      assert.ok(++pages < 20);
    }
    return { digests, pages };
  };

  it('follows Link to every referrer exactly once, in order', async () => {
    const { digests, pages } = await walk(`/v2/p1/app/referrers/sha256:${'f'.repeat(64)}`);
    assert.deepEqual(
      digests,
      ALL.map((r) => r.digest),
    );
    assert.equal(pages, 3);
  });

  it('keeps the artifactType filter on the next pages', async () => {
    const type = 'application/spdx+json';
    const { digests } = await walk(`/v2/p1/app/referrers/sha256:${'f'.repeat(64)}?artifactType=${encodeURIComponent(type)}`);
    assert.deepEqual(
      digests,
      ALL.filter((r) => r.artifactType === type).map((r) => r.digest),
    );
  });

  it('refuses a position it did not send', async () => {
    for (const bad of ['x', '1', '1.2.3', '-1.2', `${'9'.repeat(20)}.1`]) {
      const res = await fetch(`${base}/v2/p1/app/referrers/sha256:${'f'.repeat(64)}?last=${encodeURIComponent(bad)}`);
      assert.equal(res.status, 400, bad);
    }
  });
});
