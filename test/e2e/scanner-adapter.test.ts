import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';

/** A conforming stub of the Harbor pluggable scanner adapter API v1.x, on loopback. */
function stubAdapter() {
  const requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  let polls = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.headers.authorization !== 'Bearer adapter-secret') {
        res.writeHead(401).end();
        return;
      }
      if (req.url === '/api/v1/metadata') {
        res.writeHead(200, { 'content-type': 'application/vnd.scanner.adapter.metadata+json; version=1.0' });
        res.end(
          JSON.stringify({
            scanner: { name: 'StubScan', vendor: 'Berth tests', version: '9.9' },
            capabilities: [
              {
                consumes_mime_types: ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'],
                produces_mime_types: ['application/vnd.security.vulnerability.report; version=1.1'],
              },
            ],
            properties: {},
          }),
        );
      } else if (req.url === '/api/v1/scan' && req.method === 'POST') {
        res.writeHead(202, { 'content-type': 'application/vnd.scanner.adapter.scan.response+json; version=1.0' });
        res.end(JSON.stringify({ id: 'scan-42' }));
      } else if (req.url === '/api/v1/scan/scan-42/report') {
        polls++;
        if (polls === 1) {
          res.writeHead(302, { 'refresh-after': '1' }).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/vnd.security.vulnerability.report; version=1.1' });
        res.end(
          JSON.stringify({
            generated_at: new Date().toISOString(),
            vulnerabilities: [
              {
                id: 'CVE-2099-0001',
                package: 'openssl',
                version: '3.0.0',
                fix_version: '3.0.1',
                severity: 'Critical',
                description: '<b>bad</b>',
                links: ['https://example.org/x', 'javascript:alert(1)'],
                preferred_cvss: { score_v3: 9.8, vector_v3: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
              },
              { id: 'CVE-2099-0002', package: 'zlib', version: '1.2', severity: 'Negligible' },
            ],
          }),
        );
      } else res.writeHead(404).end();
    });
  });
  return { server, requests, polls: () => polls };
}

for (const dialect of testDialects()) {
  describe(`external scanner adapter (Harbor pluggable scanner API) [${dialect}]`, () => {
    let b: Instance;
    let stub: ReturnType<typeof stubAdapter>;
    let url: string;
    before(async () => {
      stub = stubAdapter();
      await new Promise<void>((r) => stub.server.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(stub.server.address() as AddressInfo).port}`;
      // The stub is on loopback, which the outbound policy refuses unless a system admin allows it.
      b = await startInstance(dialect, { BERTH_OUTBOUND_ALLOW: '127.0.0.1' });
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'ext-scan' } });
    });
    after(async () => {
      await b?.destroy();
      stub?.server.close();
    });

    it('refuses to register an adapter that does not answer its metadata, or a URL that is not http(s)', async () => {
      const res = await b.api('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'stub', url } });
      assert.equal(res.status, 400);
      assert.match((await res.json()).errors[0].message, /not usable: scanner adapter metadata: HTTP 401/);
      assert.equal((await b.api('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'stub', url: 'file:///etc/passwd' } })).status, 400);
      assert.deepEqual((await (await b.api('/api/v1/scanners', { auth: ADMIN })).json()).items, []);
    });

    it('scans a project’s pushes with the adapter, polling as Refresh-After says, and the gate uses its findings', async () => {
      const reg = await b.api('/api/v1/scanners', { method: 'POST', auth: ADMIN, json: { name: 'stub', url, authorization: 'Bearer adapter-secret' } });
      assert.equal(reg.status, 201);
      assert.equal((await reg.json()).scanner.name, 'StubScan');
      const res = await b.api('/api/v1/projects/ext-scan/scanner', { method: 'PUT', auth: ADMIN, json: { scanner: 'stub' } });
      assert.equal(res.status, 200);
      assert.equal((await (await b.api('/api/v1/projects/ext-scan/scanner', { auth: ADMIN })).json()).effective, 'stub');
      await push(await ociImage(path.join(b.config.dataDir, 'img'), [{ 'etc/os-release': 'ID=debian\nVERSION_ID=12\n' }], '1'), `docker://${b.host}/ext-scan/app:1`, ADMIN);
      const digest = await inspectDigest(`docker://${b.host}/ext-scan/app:1`, ADMIN);
      const v = await eventually(async () => {
        const r = await (await b.api('/api/v1/projects/ext-scan/repositories/app/artifacts/1/vulnerabilities', { auth: ADMIN })).json().catch(() => null);
        return r?.status === 'success' ? r : null;
      }, 30_000);
      assert.equal(v.scanner, 'StubScan/9.9');
      assert.deepEqual(
        v.items.map((f: { id: string; severity: string }) => `${f.id} ${f.severity}`),
        ['CVE-2099-0001 critical', 'CVE-2099-0002 low'],
      );
      assert.deepEqual(v.items[0].links, ['https://example.org/x']);
      assert.equal(v.items[0].fixed_version, '3.0.1');
      assert.ok(stub.polls() >= 2, 'polled again after Refresh-After');
      const scan = stub.requests.find((r) => r.url === '/api/v1/scan')!;
      assert.match(String(scan.headers['content-type']), /application\/vnd\.scanner\.adapter\.scan\.request\+json; version=1\.0/);
      const body = JSON.parse(scan.body);
      assert.equal(body.artifact.repository, 'ext-scan/app');
      assert.equal(body.artifact.digest, digest);
      assert.equal(body.registry.url, b.services.registryUrl());
      const claims = JSON.parse(Buffer.from(body.registry.authorization.split(' ')[1].split('.')[1], 'base64url').toString());
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'ext-scan/app', actions: ['pull'] }]);
      await b.api('/api/v1/projects/ext-scan', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: true, severity: 'critical' } });
      assert.match(await fails('skopeo', ['inspect', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/ext-scan/app:1`]), /CVE-2099-0001/);
    });

    it('goes back to the built-in scanner when the adapter is removed', async () => {
      assert.equal((await b.api('/api/v1/projects/ext-scan/scanner', { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.equal((await (await b.api('/api/v1/projects/ext-scan/scanner', { auth: ADMIN })).json()).effective, 'built-in');
      const dev = await b.api('/api/v1/users', { method: 'POST', auth: ADMIN, json: { username: 'nodev', password: 'nodev-pw-1234' } });
      assert.equal(dev.status, 201);
      assert.equal((await b.api('/api/v1/system/scanner', { method: 'PUT', auth: ['nodev', 'nodev-pw-1234'], json: { url } })).status, 403);
      assert.equal((await b.api('/api/v1/scanners', { method: 'POST', auth: ['nodev', 'nodev-pw-1234'], json: { name: 'mine', url } })).status, 403);
      // The system default (the earlier {url} form registers it as `default`) scans projects without a pick.
      const sys = await b.api('/api/v1/system/scanner', { method: 'PUT', auth: ADMIN, json: { url, authorization: 'Bearer adapter-secret' } });
      assert.equal(sys.status, 200);
      assert.equal((await sys.json()).scanner, 'default');
      assert.equal((await (await b.api('/api/v1/projects/ext-scan/scanner', { auth: ADMIN })).json()).effective, 'default');
      assert.equal((await b.api('/api/v1/scanners/default', { method: 'DELETE', auth: ADMIN })).status, 204);
      assert.equal((await (await b.api('/api/v1/projects/ext-scan/scanner', { auth: ADMIN })).json()).effective, 'built-in');
    });
  });
}
