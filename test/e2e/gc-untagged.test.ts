import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listBlobs } from '../../src/registry/storage.js';
import { unreferencedIn } from '../../src/services/gc-planner.js';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage, ociIndex } from '../helpers/oci.js';
import { eventually, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { gcToEnd } from '../helpers/jobs.js';

describe('what garbage collection counts as unreferenced', () => {
  const g = (artifacts: [string, boolean, string?][], children: Record<string, string[]> = {}) =>
    unreferencedIn({
      artifacts: artifacts.map(([digest, tagged, subject], id) => ({ id, digest, tagged, manifestSize: 1, subject: subject ?? null })),
      children: new Map(Object.entries(children)),
    }).sort();
  const cases: [string, ReturnType<typeof g>, string[]][] = [
    [
      'an untagged orphan goes',
      g([
        ['a', true],
        ['o', false],
      ]),
      ['o'],
    ],
    [
      'children of a tagged index stay',
      g(
        [
          ['i', true],
          ['c1', false],
          ['c2', false],
          ['o', false],
        ],
        { i: ['c1', 'c2'] },
      ),
      ['o'],
    ],
    [
      'an untagged index goes with its children',
      g(
        [
          ['i', false],
          ['c1', false],
          ['t', true],
        ],
        { i: ['c1'] },
      ),
      ['c1', 'i'],
    ],
    [
      'a child shared with a kept index stays',
      g(
        [
          ['i', false],
          ['j', true],
          ['c', false],
        ],
        { i: ['c'], j: ['c'] },
      ),
      ['i'],
    ],
    [
      'a referrer of a kept image stays, with what it lists',
      g([
        ['img', true],
        ['sig', false, 'img'],
        ['sbom', false, 'sig'],
      ]),
      [],
    ],
    [
      'a referrer of a gone image goes',
      g([
        ['img', false],
        ['sig', false, 'img'],
        ['t', true],
      ]),
      ['img', 'sig'],
    ],
    [
      'the subject of a tagged referrer stays',
      g([
        ['img', false],
        ['sig', true, 'img'],
      ]),
      [],
    ],
  ];
  for (const [name, got, want] of cases) it(name, () => assert.deepEqual(got, want));
});

const tree = (dir: string) => {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
};

for (const dialect of testDialects()) {
  describe(`garbage collection of untagged manifests keeps multi-arch images whole [${dialect}]`, () => {
    let b: Instance;
    let multi: { ref: string; index: string; children: string[] };
    let orphan: string;
    let orphanBlobs: string[];
    let childBlobs: string[];
    const job = (body: Record<string, unknown>) => gcToEnd(b, body);
    const pullAll = async (name: string) => {
      const dir = path.join(b.config.dataDir, name);
      await skopeo('copy', '--all', '--retry-times', '0', '--src-creds', ADMIN.join(':'), '--src-tls-verify=false', `docker://${b.host}/gc/multi:v1`, `oci:${dir}:v1`);
      return tree(dir);
    };
    const blobsOfManifest = (dir: string, digest: string) => {
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
      return [m.config.digest, ...m.layers.map((l: { digest: string }) => l.digest)] as string[];
    };
    let pulledBefore: Record<string, string>;

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'gc' } });
      await b.api('/api/v1/projects/gc', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
      const idxDir = path.join(b.config.dataDir, 'idx');
      multi = await ociIndex(
        idxDir,
        [
          { os: 'linux', architecture: 'amd64', layers: [{ 'opt/amd64': 'a'.repeat(20_000) }] },
          { os: 'linux', architecture: 'arm64', layers: [{ 'opt/arm64': 'r'.repeat(20_000) }] },
        ],
        'v1',
      );
      await skopeo('copy', '--all', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', multi.ref, `docker://${b.host}/gc/multi:v1`);
      childBlobs = multi.children.flatMap((c) => blobsOfManifest(idxDir, c));
      const orphanDir = path.join(b.config.dataDir, 'orphan');
      await push(await ociImage(orphanDir, [{ 'opt/orphan': 'o'.repeat(30_000) }], 'tmp'), `docker://${b.host}/gc/multi:tmp`, ADMIN);
      orphan = await inspectDigest(`docker://${b.host}/gc/multi:tmp`, ADMIN);
      orphanBlobs = blobsOfManifest(orphanDir, orphan);
      await eventually(
        async () =>
          (await b.api('/api/v1/projects/gc/repositories/multi/artifacts/tmp', { auth: ADMIN })).status === 200 &&
          (await b.api(`/api/v1/projects/gc/repositories/multi/artifacts/${multi.children[1]}`, { auth: ADMIN })).status === 200,
      );
      // untag it: an orphan nothing refers to
      assert.equal((await b.api('/api/v1/projects/gc/repositories/multi/tags/tmp', { method: 'DELETE', auth: ADMIN })).status, 204);
      pulledBefore = await pullAll('before');
    });
    after(async () => b?.destroy());

    it('a dry run lists exactly the orphan, with the bytes it would free, and deletes nothing', async () => {
      const stored = listBlobs(b.services.managedRegistry()!.storageDir);
      const j = await job({ dry_run: true, delete_untagged: true });
      assert.equal(j.status, 'success', j.error);
      assert.deepEqual(
        j.result.manifests.map((m: { digest: string }) => m.digest),
        [orphan],
      );
      const expected = orphanBlobs.reduce((n, d) => n + stored.get(d)!, 0);
      assert.ok(j.result.manifests[0].bytes >= expected, `${j.result.manifests[0].bytes} < ${expected}`);
      assert.ok(j.result.bytesFreed >= expected);
      assert.deepEqual([...listBlobs(b.services.managedRegistry()!.storageDir).keys()].sort(), [...stored.keys()].sort());
      assert.equal(await inspectDigest(`docker://${b.host}/gc/multi@${orphan}`, ADMIN), orphan);
    });

    it('deletes only the orphan and its unique blobs; the index pulls byte-identical with --all', async () => {
      const j = await job({ delete_untagged: true });
      assert.equal(j.status, 'success', j.error);
      assert.equal(j.result.manifestsDeleted, 1);
      const stored = listBlobs(b.services.managedRegistry()!.storageDir);
      for (const d of orphanBlobs) assert.ok(!stored.has(d), `orphan blob ${d} freed`);
      for (const d of [...childBlobs, ...multi.children, multi.index]) assert.ok(stored.has(d), `kept ${d}`);
      for (const c of multi.children) assert.equal(await inspectDigest(`docker://${b.host}/gc/multi@${c}`, ADMIN), c);
      assert.deepEqual(await pullAll('after'), pulledBefore);
      assert.equal((await b.api(`/api/v1/projects/gc/repositories/multi/artifacts/${orphan}`, { auth: ADMIN })).status, 404);
      assert.equal((await b.api(`/api/v1/projects/gc/repositories/multi/artifacts/${multi.children[0]}`, { auth: ADMIN })).status, 200);
      const log = await (await b.api('/api/v1/audit-logs?resource_type=artifact&action=delete', { auth: ADMIN })).json();
      assert.ok(log.items.some((l: { resource: string; username: string }) => l.resource === `gc/multi@${orphan}` && l.username === 'garbage-collection'));
    });
  });
}
