/**
 * Scanner benchmarks, each a ratio against a baseline from the same run:
 * - cold scan of a realistic Debian image against `zcat` of its layers (goal: scan ≤ 1.5× zcat, i.e. ratio ≥ 0.67);
 * - warm rescan (cached layer inventories: matching only) against the cold scan (goal: ≥ 20× faster);
 * - matching on a large synthetic advisory database against fetching the candidate rows alone.
 *
 * The image: debootstrap needs a Debian mirror, and benchmarks only talk to loopback, so the image is made of this
 * Debian machine's own files instead: its dpkg database (~900 packages), /usr/bin and /usr/lib, plus Berth's
 * node_modules as language packages. Real binaries, real package database, ~1.3 GB uncompressed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN } from '../test/helpers/app.js';
import { eventually, push, startInstance } from '../test/helpers/registry.js';
import { matchInventory } from '../src/scanner/matcher.js';
import { mergeLayers, type LayerInventory } from '../src/scanner/layer-walker.js';

const LAYERS: string[][] = [['etc/os-release', 'usr/lib/os-release', 'var/lib/dpkg'], ['usr/bin'], ['usr/lib/x86_64-linux-gnu']];

function buildLayout(dir: string): string {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const descs = [];
  const diffIds = [];
  for (const [i, paths] of [...LAYERS, ['node_modules']].entries()) {
    const file = path.join(dir, `layer${i}.tar.gz`);
    const cwd = paths[0] === 'node_modules' ? process.cwd() : '/';
    const r = spawnSync('tar', ['--ignore-failed-read', '--warning=none', '-C', cwd, '-czf', file, ...paths], { stdio: 'ignore' });
    if (r.status !== 0 && r.status !== 1) throw new Error(`tar failed for ${paths.join(' ')}`);
    const gz = fs.readFileSync(file);
    const digest = createHash('sha256').update(gz).digest('hex');
    fs.renameSync(file, path.join(dir, 'blobs', 'sha256', digest));
    const raw = execFileSync('sh', ['-c', `zcat '${path.join(dir, 'blobs', 'sha256', digest)}' | sha256sum`])
      .toString()
      .split(' ')[0];
    diffIds.push(`sha256:${raw}`);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${digest}`, size: gz.length });
  }
  const put = (b: Buffer) => {
    const d = createHash('sha256').update(b).digest('hex');
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', d), b);
    return { digest: `sha256:${d}`, size: b.length };
  };
  const cfg = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} })));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: descs }),
  );
  const m = put(manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }),
  );
  return `oci:${dir}:bench`;
}

/** Synthetic OSV records over the real package names: `perPackage` advisories each, half of them affecting. */
function syntheticAdvisories(names: string[], perPackage: number): unknown[] {
  const out = [];
  let n = 0;
  for (const name of names) {
    for (let i = 0; i < perPackage; i++) {
      n++;
      out.push({
        id: `BENCH-${n}`,
        modified: '2026-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: i % 2 ? '0.1-1' : '99:99-1' }] }] }],
        severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
      });
    }
  }
  return out;
}

export async function benchScan(): Promise<{ name: string; ratio: number; detail: string }[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-scan-'));
  const b = await startInstance('sqlite');
  try {
    const src = buildLayout(path.join(work, 'layout'));
    await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'bench' } });
    await b.api('/api/v1/projects/bench', { method: 'PUT', auth: ADMIN, json: { auto_scan: false } });
    await push(src, `docker://${b.host}/bench/debian:1`, ADMIN);
    await eventually(async () => (await b.api('/api/v1/projects/bench/repositories/debian/artifacts/1', { auth: ADMIN })).status === 200, 30_000);

    // Baseline: zcat of every layer blob as stored, to /dev/null.
    const blobs = fs
      .readdirSync(path.join(work, 'layout', 'blobs', 'sha256'))
      .map((f) => path.join(work, 'layout', 'blobs', 'sha256', f))
      .filter((f) => fs.statSync(f).size > 100_000 || f.endsWith(''));
    const layerFiles = blobs.filter((f) =>
      fs
        .readFileSync(f)
        .subarray(0, 2)
        .equals(Buffer.from([0x1f, 0x8b])),
    );
    let t0 = performance.now();
    for (const f of layerFiles) execFileSync('sh', ['-c', `zcat '${f}' > /dev/null`]);
    const zcatMs = performance.now() - t0;
    const uncompressed = layerFiles.reduce(
      (n, f) =>
        n +
        Number(
          execFileSync('sh', ['-c', `zcat '${f}' | wc -c`])
            .toString()
            .trim(),
        ),
      0,
    );

    const scanOnce = async () => {
      const t = performance.now();
      const job = await (await b.api('/api/v1/projects/bench/repositories/debian/artifacts/1/scan', { method: 'POST', auth: ADMIN })).json();
      await eventually(async () => (await b.services.jobs.get(job.id))?.status === 'success', 600_000);
      return performance.now() - t;
    };
    await b.services.db.deleteFrom('layer_inventories').execute();
    const coldMs = await scanOnce();
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) warm.push(await scanOnce());
    const warmMs = warm.sort((x, y) => x - y)[2]!;

    // Matching on a large synthetic database over the image's real packages.
    const rows = await b.services.db.selectFrom('layer_inventories').select('data').execute();
    const inv = mergeLayers(rows.map((r) => JSON.parse(r.data) as LayerInventory));
    const names = [...new Set(inv.packages.filter((p) => p.type === 'deb').map((p) => p.sourceName ?? p.name))];
    const perPackage = 100;
    const records = syntheticAdvisories(names, perPackage);
    for (let i = 0; i < records.length; i += 5000) await b.services.advisories.importValues([records.slice(i, i + 5000)]);
    const ecos = ['Debian:12'];
    t0 = performance.now();
    const fetched = await b.services.advisories.candidates(ecos, names);
    const fetchMs = performance.now() - t0;
    t0 = performance.now();
    const findings = await matchInventory(b.services.advisories, inv);
    const matchMs = performance.now() - t0;

    const mib = (n: number) => (n / 1024 / 1024).toFixed(0);
    return [
      {
        name: 'cold scan vs zcat',
        ratio: zcatMs / coldMs,
        detail: `zcat ${Math.round(zcatMs)} ms, cold scan ${Math.round(coldMs)} ms, ${layerFiles.length} layers, ${mib(uncompressed)} MiB uncompressed, ${inv.packages.length} packages (goal ≥ 0.67)`,
      },
      { name: 'warm rescan vs cold', ratio: coldMs / warmMs, detail: `cold ${Math.round(coldMs)} ms, warm ${Math.round(warmMs)} ms (median of 5; goal ≥ 20)` },
      {
        name: 'matching vs row fetch',
        ratio: fetchMs / matchMs,
        detail: `${records.length} advisories, ${fetched.length} candidate rows for ${names.length} source packages: fetch ${Math.round(fetchMs)} ms, full match ${Math.round(matchMs)} ms → ${findings.length} findings, ${Math.round(fetched.length / (matchMs / 1000))} rows/s`,
      },
    ];
  } finally {
    await b.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
