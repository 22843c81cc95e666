import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';
import { DEBIAN_LAYERS, DEBIAN_RECORDS } from '../fixtures/osv/records.js';

const CLEAN = [{ 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': 'Package: patched\nStatus: install ok installed\nVersion: 2.0-1\n' }];

for (const dialect of testDialects()) {
  describe(`policy: pull gate, allowlists, immutability, quota, deletion [${dialect}]`, () => {
    let b: Instance;
    let vulnDigest: string;
    let n = 0;
    const img = (layers = DEBIAN_LAYERS) => ociImage(path.join(b.config.dataDir, `img-${n++}`), layers, 't');
    const setProject = async (json: Record<string, unknown>) => {
      const res = await b.api('/api/v1/projects/pol', { method: 'PUT', auth: ADMIN, json });
      assert.equal(res.status, 200, await res.clone().text());
    };
    const scanned = (repo: string, ref: string) =>
      eventually(async () => (await (await b.api(`/api/v1/projects/pol/repositories/${repo}/artifacts/${ref}/vulnerabilities`, { auth: ADMIN })).json().catch(() => null))?.status === 'success', 30_000);
    const pullErr = (ref: string) => fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/pol/${ref}`]);
    const pullOk = (ref: string) => skopeo('inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/pol/${ref}`);

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pol' } });
      await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS });
      await push(await img(), `docker://${b.host}/pol/vuln:v1`, ADMIN);
      await push(await img(CLEAN), `docker://${b.host}/pol/clean:1`, ADMIN);
      vulnDigest = await inspectDigest(`docker://${b.host}/pol/vuln:v1`, ADMIN);
      await scanned('vuln', 'v1');
      await scanned('clean', '1');
      await setProject({ prevent_vulnerable: true, severity: 'high' });
    });
    after(async () => b?.destroy());

    it('blocks a vulnerable image by tag, by digest and on HEAD, naming the vulnerabilities', async () => {
      const byTag = await pullErr('vuln:v1');
      assert.match(byTag, /2 vulnerabilities at or above high/);
      assert.match(byTag, /CVE-2024-0001/);
      assert.match(byTag, /allowlist/);
      assert.match(await pullErr(`vuln@${vulnDigest}`), /2 vulnerabilities at or above high/);
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:pol/vuln:pull', { auth: ADMIN })).json()).token;
      const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
      for (const method of ['HEAD', 'GET']) {
        for (const ref of ['v1', vulnDigest]) {
          const res = await fetch(`${b.url}/v2/pol/vuln/manifests/${ref}`, { method, headers: { authorization: `Bearer ${token}`, accept } });
          assert.equal(res.status, 412, `${method} ${ref}`);
          if (method === 'GET') assert.equal((await res.json()).errors[0].code, 'PROJECTPOLICYVIOLATION');
        }
      }
      // no bypass through case or encoding
      for (const p of ['/v2/pol/VULN/manifests/v1', '/v2/pol/vuln/manifests/%76%31', `/v2/pol/vuln/manifests/${vulnDigest.toUpperCase()}`]) {
        const res = await fetch(`${b.url}${p}`, { headers: { authorization: `Bearer ${token}`, accept } });
        assert.ok(res.status >= 400 && res.status !== 200, `${p} → ${res.status}`);
      }
    });

    it('lets a clean image through', async () => {
      await skopeo('copy', '--retry-times', '0', '--src-creds', ADMIN.join(':'), '--src-tls-verify=false', `docker://${b.host}/pol/clean:1`, `oci:${b.config.dataDir}/pulled-clean:1`);
    });

    it('unblocks when the CVEs are allowlisted (project or system), and blocks again when the allowlist expires', async () => {
      await setProject({ cve_allowlist: ['CVE-2024-0001', 'cve-2021-23337'] });
      await pullOk('vuln:v1');
      await setProject({ cve_allowlist_expires_at: new Date(Date.now() - 60_000).toISOString() });
      assert.match(await pullErr('vuln:v1'), /2 vulnerabilities/);
      await setProject({ cve_allowlist: [], cve_allowlist_expires_at: null });
      const sys = await b.api('/api/v1/system/cve-allowlist', { method: 'PUT', auth: ADMIN, json: { items: ['CVE-2024-0001'] } });
      assert.equal(sys.status, 200);
      assert.match(await pullErr('vuln:v1'), /1 vulnerability at or above high/);
      await b.api('/api/v1/system/cve-allowlist', { method: 'PUT', auth: ADMIN, json: { items: ['CVE-2024-0001', 'GHSA-lodash-0001'] } });
      await pullOk('vuln:v1');
      await b.api('/api/v1/system/cve-allowlist', { method: 'PUT', auth: ADMIN, json: { items: [] } });
      assert.equal((await b.api('/api/v1/system/cve-allowlist', { method: 'PUT', auth: ADMIN, json: { items: ['<x>'] } })).status, 400);
    });

    it('blocks unscanned images by default, with a clear message; allows them when configured', async () => {
      await setProject({ auto_scan: false });
      await push(await img(CLEAN), `docker://${b.host}/pol/fresh:1`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/pol/repositories/fresh/artifacts/1', { auth: ADMIN })).status === 200);
      assert.match(await pullErr('fresh:1'), /has not been scanned yet/);
      await setProject({ unscanned_policy: 'allow' });
      await pullOk('fresh:1');
      await setProject({ unscanned_policy: 'block', prevent_vulnerable: false });
      await pullOk('vuln:v1');
      await setProject({ prevent_vulnerable: true, auto_scan: true });
    });

    it('refuses overwriting or deleting an immutable tag; new tags are fine', async () => {
      await setProject({ immutable_tags: ['v*'] });
      const err = await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', await img(CLEAN), `docker://${b.host}/pol/vuln:v1`]);
      assert.match(err, /immutable/);
      assert.equal(await inspectDigest(`docker://${b.host}/pol/vuln@${vulnDigest}`, ADMIN).catch(() => vulnDigest), vulnDigest);
      await push(await img(CLEAN), `docker://${b.host}/pol/vuln:v2`, ADMIN);
      await push(await img(CLEAN), `docker://${b.host}/pol/vuln:latest`, ADMIN);
      await push(await img(CLEAN), `docker://${b.host}/pol/vuln:latest`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/pol/repositories/vuln/artifacts/v2', { auth: ADMIN })).status === 200);
      const del = await b.api('/api/v1/projects/pol/repositories/vuln/tags/v2', { method: 'DELETE', auth: ADMIN });
      assert.equal(del.status, 412);
      assert.match((await del.json()).errors[0].message, /immutable/);
      assert.equal((await b.api(`/api/v1/projects/pol/repositories/vuln/artifacts/${vulnDigest}`, { method: 'DELETE', auth: ADMIN })).status, 412);
      await setProject({ immutable_tags: [] });
    });

    it('refuses a push past the storage quota at manifest PUT, and shows usage', async () => {
      const p = await (await b.api('/api/v1/projects/pol', { auth: ADMIN })).json();
      assert.ok(p.usage_bytes > 0);
      await setProject({ quota_bytes: p.usage_bytes + 10 });
      const err = await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', await img(DEBIAN_LAYERS), `docker://${b.host}/pol/big:1`]);
      assert.match(err, /quota/);
      // re-tagging an image the project already holds adds no bytes beyond its manifest
      await setProject({ quota_bytes: null });
    });

    it('deletes a project with repositories only when confirmed, and its images with it', async () => {
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'doomed' } });
      await push(await img(CLEAN), `docker://${b.host}/doomed/app:1`, ADMIN);
      await eventually(async () => (await b.api('/api/v1/projects/doomed/repositories/app/artifacts/1', { auth: ADMIN })).status === 200);
      const refused = await b.api('/api/v1/projects/doomed', { method: 'DELETE', auth: ADMIN });
      assert.equal(refused.status, 409);
      assert.equal((await b.api('/api/v1/projects/doomed?force=true', { method: 'DELETE', auth: ADMIN })).status, 204);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'doomed' } });
      await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/doomed/app:1`]);
      const log = await (await b.api('/api/v1/audit-logs?resource_type=project&action=delete', { auth: ADMIN })).json();
      assert.equal(log.items[0].resource, 'doomed');
      assert.equal(log.items[0].detail.repositories, 1);
    });
  });
}
