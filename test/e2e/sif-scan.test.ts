import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ScanService } from '../../src/services/scan-service.js';
import { RegistryClient } from '../../src/registry/client.js';
import { ADMIN } from '../helpers/app.js';
import { ociArtifact, type BuiltArtifact } from '../helpers/artifacts.js';
import { testDialects } from '../helpers/db.js';
import { eventually, fails, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { buildSif, DATA, FS, PART, sifOf, squashfs } from '../helpers/sif.js';

const fixture = (...p: string[]) => path.resolve('test', 'fixtures', ...p);
const json = (...p: string[]) => JSON.parse(fs.readFileSync(fixture(...p), 'utf8')) as unknown;

/** The real Debian records carry no severity: one with a CVSS vector, written as Debian's feed does, for the gate. */
const LIBC = {
  id: 'DEBIAN-CVE-2099-0101',
  modified: '2026-01-01T00:00:00Z',
  upstream: ['CVE-2099-0101'],
  affected: [{ package: { ecosystem: 'Debian:9', name: 'glibc' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.24-11+deb9u5' }] }] }],
  severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
};

type Report = {
  status: string;
  completeness: string;
  os: string | null;
  gaps: { layer?: string; path?: string; reason: string }[];
  problems: string[];
  items: { id: string; package: string; installed_version: string; aliases: string[] }[];
};

/** A SIF pushed as `apptainer push oras://` does: SIF config, one SIF layer titled with the file name. */
const sifArtifact = (data: Buffer) => ({
  config: { mediaType: 'application/vnd.sylabs.sif.config.v1+json', data: '{}' },
  layers: [{ mediaType: 'application/vnd.sylabs.sif.layer.v1.sif', data, annotations: { 'org.opencontainers.image.title': 'app.sif' } }],
});

for (const dialect of testDialects()) {
  describe(`SIF scanning: Apptainer images stored as OCI artifacts [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    const dir = () => path.join(b.config.dataDir, `sif-${n++}`);
    const status = fs.readFileSync(fixture('sif', 'debian-9-stretch_status'));
    const goBinary = fs.readFileSync(fixture('pkgdb-real', 'go-binary', 'binary_with_module_replacement-linux-amd64'));
    /** a Debian 9 container: the real stretch dpkg database (dpkg 1.18.25, glibc 2.24-11+deb9u4 in three binaries) and a real go1.22.0 binary */
    const rootfs = {
      'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 9 (stretch)"\nNAME="Debian GNU/Linux"\nVERSION_ID="9"\nID=debian\n',
      'var/lib/dpkg/status': status,
      'usr/local/bin/app': goBinary,
      'usr/share/doc/README': 'not read',
    };
    const push = async (sif: Buffer, repo: string): Promise<BuiltArtifact> => {
      const built = ociArtifact(dir(), sifArtifact(sif), 'latest');
      await skopeo('copy', '--retry-times', '0', '--preserve-digests', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', built.ref, `docker://${b.host}/hpc/${repo}:latest`);
      return built;
    };
    const vulns = async (repo: string) => {
      const res = await b.api(`/api/v1/projects/hpc/repositories/${repo}/artifacts/latest/vulnerabilities?limit=100`, { auth: ADMIN });
      return res.status === 200 ? ((await res.json()) as Report) : null;
    };
    /** the report once finished (auto-scan on push) */
    const finished = (repo: string) =>
      eventually(async () => {
        const v = await vulns(repo);
        return v && v.status === 'success' ? v : null;
      }, 90_000);

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'hpc' } })).status, 201);
      const res = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: [json('sif', 'DLA-3022-1.json'), json('osv-real', 'Go', 'GO-2024-2598.json'), LIBC] });
      assert.equal((await res.json()).invalid, 0);
    });
    after(async () => b?.destroy());

    it('scans a SIF on push: the real vulnerable dpkg and the Go standard library are found, the report is complete', async () => {
      const built = await push(sifOf(dir(), rootfs, ['usr/local/bin/app']), 'lolcow');
      const v = await finished('lolcow');
      assert.deepEqual(v.items.map((f) => `${f.id} ${f.package} ${f.installed_version}`).sort(), [
        'DEBIAN-CVE-2099-0101 libc-bin 2.24-11+deb9u4',
        'DEBIAN-CVE-2099-0101 libc6 2.24-11+deb9u4',
        'DEBIAN-CVE-2099-0101 multiarch-support 2.24-11+deb9u4',
        'DLA-3022-1 dpkg 1.18.25',
        'GO-2024-2598 stdlib 1.22.0',
      ]);
      assert.ok(v.items.find((f) => f.id === 'DLA-3022-1')!.aliases.includes('CVE-2022-1664'));
      assert.equal(v.completeness, 'complete', JSON.stringify(v.gaps));
      assert.deepEqual(v.gaps, []);
      assert.equal(v.os, 'Debian GNU/Linux 9 (stretch)');
      const art = await (await b.api('/api/v1/projects/hpc/repositories/lolcow/artifacts/latest', { auth: ADMIN })).json();
      assert.equal(art.type, 'sif');
      assert.equal(art.digest, built.digest);
      assert.equal(art.scan_status, 'complete');
      // the whole inventory came from the SIF: 74 Debian packages, the Go standard library and modules
      const sbom = await b.api('/api/v1/projects/hpc/repositories/lolcow/artifacts/latest/sbom', { auth: ADMIN });
      assert.equal(sbom.status, 200);
      const components = ((await sbom.json()).components ?? []) as { name: string; version: string }[];
      assert.equal(components.filter((c) => c.name === 'dpkg' && c.version === '1.18.25').length, 1);
      assert.ok(components.length >= 75, `${components.length} components`);
    });

    it('a manual scan reads it again (from the cached inventory) with the same result, and the gate blocks it', async () => {
      const res = await b.api('/api/v1/projects/hpc/repositories/lolcow/artifacts/latest/scan', { method: 'POST', auth: ADMIN });
      assert.equal(res.status, 202);
      const job = (await res.json()) as { id: number };
      await eventually(async () => {
        const j = await (await b.api(`/api/v1/jobs/${job.id}`, { auth: ADMIN })).json();
        return j.status === 'success' ? j : null;
      }, 60_000);
      const v = await finished('lolcow');
      assert.deepEqual(v.items.map((f) => f.id).sort(), ['DEBIAN-CVE-2099-0101', 'DEBIAN-CVE-2099-0101', 'DEBIAN-CVE-2099-0101', 'DLA-3022-1', 'GO-2024-2598']);
      const cached = await b.db.selectFrom('layer_inventories').select('digest').where('digest', 'like', 'sif:sha256:%').execute();
      assert.equal(cached.length, 1);
      assert.equal((await b.api('/api/v1/projects/hpc', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: true, severity: 'critical' } })).status, 200);
      try {
        const err = await fails('skopeo', ['inspect', '--raw', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/hpc/lolcow:latest`]);
        assert.match(err, /CVE-2099-0101/);
      } finally {
        assert.equal((await b.api('/api/v1/projects/hpc', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: false } })).status, 200);
      }
    });

    it('without shared storage, the SIF is fetched through the registry API into a private temporary copy, removed after', async () => {
      const { db } = b;
      const { advisories, log } = b.services;
      // core's own registry client, without the managed storage: every blob goes through the registry API
      const client = new RegistryClient(
        () => b.services.registryUrl(),
        (access) => b.services.tokens.internal(access),
      );
      const digest = (await (await b.api('/api/v1/projects/hpc/repositories/lolcow/artifacts/latest', { auth: ADMIN })).json()).digest as string;
      await db.deleteFrom('layer_inventories').where('digest', 'like', 'sif:%').execute();
      const copies = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('berth-sifblob-')).length;
      const before = copies();
      const logs: string[] = [];
      const progress = { signal: new AbortController().signal, progress: async () => undefined, log: async (m: string) => void logs.push(m) };
      const viaApi = new ScanService(db, client, () => null, advisories, log);
      const rep = await viaApi.scan('hpc/lolcow', digest, null, progress);
      assert.equal(rep.completeness, 'complete', JSON.stringify(rep.gaps));
      assert.deepEqual([...new Set(rep.findings.map((f) => f.advisoryId))].sort(), ['DEBIAN-CVE-2099-0101', 'DLA-3022-1', 'GO-2024-2598']);
      // job log lines are catalogue keys now (joblog.scan_sif_read: "read SIF …")
      assert.ok(logs.includes('scan_sif_read'), logs.join('\n'));
      assert.equal(copies(), before);
      // a SIF larger than the artifact's scan budget is not copied at all: a gap
      await db.deleteFrom('layer_inventories').where('digest', 'like', 'sif:%').execute();
      const small = new ScanService(db, client, () => null, advisories, log, undefined, { maxRatio: 100, maxImageBytes: 1000 });
      const capped = await small.scan('hpc/lolcow', digest, null, progress);
      assert.equal(capped.completeness, 'incomplete');
      assert.match(capped.gaps[0]!.reason, /over the artifact's scan budget of 1000 bytes: not read/);
      assert.deepEqual(capped.findings, []);
      assert.equal(copies(), before);
    });

    it('a corrupted SIF is incomplete, names the SIF layer and the reason, and is never clean', async () => {
      const good = sifOf(dir(), rootfs);
      const truncated = good.subarray(0, good.length - 8192);
      const built = await push(truncated, 'broken');
      const v = await finished('broken');
      assert.equal(v.completeness, 'incomplete');
      assert.deepEqual(v.items, []);
      assert.equal(v.gaps.length, 1);
      const manifest = JSON.parse(built.manifest.toString('utf8'));
      assert.equal(v.gaps[0]!.layer, manifest.layers[0].digest);
      assert.match(v.gaps[0]!.reason, /SIF could not be read: .*truncated/);
      // a squashfs overwritten with garbage after its magic
      const part = good.readBigInt64LE(128 + 585 + 17);
      const garbled = Buffer.from(good);
      garbled.fill(0x5a, Number(part) + 4, Number(part) + 8192);
      await push(garbled, 'garbled');
      const g = await finished('garbled');
      assert.equal(g.completeness, 'incomplete');
      assert.match(g.gaps.map((x) => x.reason).join('\n'), /squashfs could not be read|could not be extracted/);
    });

    it('a SIF without a system partition is not_applicable, with the reason', async () => {
      const dataOnly = buildSif([
        { dataType: DATA.deffile, data: Buffer.from('Bootstrap: scratch\n') },
        { dataType: DATA.partition, data: squashfs(dir(), rootfs), fsType: FS.squashfs, partType: PART.data },
      ]);
      await push(dataOnly, 'data');
      const v = await finished('data');
      assert.equal(v.completeness, 'not_applicable');
      assert.deepEqual(v.items, []);
      assert.match(v.problems[0]!, /no system partition/);
      // and an OCI-SIF (the image as OCI blobs inside the SIF) is a gap: incomplete
      await push(buildSif([{ dataType: DATA.ociBlob, data: Buffer.from('{}') }]), 'ocisif');
      const o = await finished('ocisif');
      assert.equal(o.completeness, 'incomplete');
      assert.match(o.gaps[0]!.reason, /OCI-SIF/);
    });
  });
}
