/**
 * Manifest GETs by tag with the pull gate on, 64 connections reusing one token: through Berth (token verified by
 * Berth, live permission re-checked, the gate judging the served digest) ÷ straight from the registry with the same
 * token, in the same run. The bar is ≥ 0.9.
 */
import path from 'node:path';
import { ADMIN } from '../test/helpers/app.js';
import { ociImage } from '../test/helpers/oci.js';
import { eventually, push, startInstance } from '../test/helpers/registry.js';
import { DEBIAN_RECORDS } from '../test/fixtures/osv/records.js';
import { wrkRate } from './wrk.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLEAN = [{ 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n', 'var/lib/dpkg/status': 'Package: patched\nStatus: install ok installed\nVersion: 2.0-1\n' }];

export async function benchV2Gate(): Promise<{ name: string; ratio: number; detail: string }[]> {
  const b = await startInstance('sqlite');
  try {
    await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'bench' } });
    await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: DEBIAN_RECORDS });
    await push(await ociImage(path.join(b.config.dataDir, 'img'), CLEAN, 't'), `docker://${b.host}/bench/app:1`, ADMIN);
    await eventually(async () => (await (await b.api('/api/v1/projects/bench/repositories/app/artifacts/1/vulnerabilities', { auth: ADMIN })).json().catch(() => null))?.status === 'success', 60_000);
    await b.api('/api/v1/projects/bench', { method: 'PUT', auth: ADMIN, json: { prevent_vulnerable: true, severity: 'high' } });
    const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:bench/app:pull', { auth: ADMIN })).json()).token as string;
    const headers = { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' };
    const through = `${b.url}/v2/bench/app/manifests/1`;
    const direct = `${b.services.registryUrl()}/v2/bench/app/manifests/1`;
    await wrkRate(through, { connections: 8, seconds: 1, headers }); // warm-up, and a check that the gate lets it through
    const d = await wrkRate(direct, { connections: 64, seconds: SECONDS, headers });
    const t = await wrkRate(through, { connections: 64, seconds: SECONDS, headers });
    return [{ name: 'v2 manifest GET, gate on (64 conns)', ratio: t / d, detail: `${t.toFixed(0)} req/s through Berth, ${d.toFixed(0)} req/s straight from the registry` }];
  } finally {
    await b.destroy();
  }
}
