import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { depV0, elf } from '../helpers/elf.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, push, startInstance, type Instance } from '../helpers/registry.js';

const OSV = path.resolve('test', 'fixtures', 'osv-real');
const PKG = path.resolve('test', 'fixtures', 'pkgdb-real');
const osv = (f: string) => JSON.parse(fs.readFileSync(path.join(OSV, f), 'utf8')) as unknown;
const pkg = (...p: string[]) => fs.readFileSync(path.join(PKG, ...p));

type FindingJson = { id: string; package: string; installed_version: string; fixed_version: string | null; severity: string; aliases: string[]; path?: string };
type Report = { status: string; completeness: string; gaps: { layer?: string; path?: string; reason: string }[]; problems: string[]; items: FindingJson[]; summary: Record<string, number> };

const RECORDS = [
  // guava 31.1-jre: affected by the first two, fixed long before the third
  'Maven/GHSA-7g45-4rm6-3mm3.json',
  'Maven/GHSA-5mg8-w23w-74h3.json',
  'Maven/GHSA-mvr2-9pj6-7w5j.json',
  // jackson-databind 2.9.10.6 (in the war): affected by 5r5r, 288c, jjjh; fixed in exactly 2.9.10.6 for h3cw and qjw2;
  // 3x8x starts at 2.10.0
  'Maven/GHSA-5r5r-6hpj-8gg9.json',
  'Maven/GHSA-288c-cq4h-88gq.json',
  'Maven/GHSA-h3cw-g4mq-c5x2.json',
  'Maven/GHSA-qjw2-hr98-qgfh.json',
  'Maven/GHSA-jjjh-jjxp-wpff.json',
  'Maven/GHSA-3x8x-79m2-3w2w.json',
  // jackson-core 2.9.10 and commons-lang3 3.11 (in the war)
  'Maven/GHSA-h46c-h94j-95f3.json',
  'Maven/GHSA-wf8f-6423-gfxg.json',
  'Maven/GHSA-j288-q9x7-2f5v.json',
  // smallvec 1.6.0: RUSTSEC-2021-0003 (1.0.0 until 1.6.1), not RUSTSEC-2018-0018 (before 0.6.13); time 0.1.45
  'crates.io/RUSTSEC-2021-0003.json',
  'crates.io/RUSTSEC-2018-0018.json',
  'crates.io/RUSTSEC-2020-0071.json',
  // passenger 4.0.2 (4.0.1 until 4.0.5); the activesupport advisory is withdrawn
  'RubyGems/GHSA-9qj7-jvg4-qr2x.json',
  'RubyGems/GHSA-35c4-f3rq-f9g3.json',
];

for (const dialect of testDialects()) {
  describe(`scanner: Java archives, cargo-auditable Rust binaries and Ruby gems, matched against real advisories [${dialect}]`, () => {
    let b: Instance;
    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'lang' } });
      const res = await b.api('/api/v1/vulndb/import', { method: 'POST', auth: ADMIN, json: RECORDS.map(osv) });
      const stats = await res.json();
      assert.equal(stats.invalid, 0);
      assert.equal(stats.imported, RECORDS.length - 1, 'the withdrawn advisory is not stored');
    });
    after(async () => b?.destroy());

    it('finds one finding per vulnerability in a jar, a war, a cargo-auditable binary and a gem, and nothing in their fixed neighbours', async () => {
      // a Rust tool as cargo-auditable links it: the `.dep-v0` section after the loaded segment
      const rustTool = elf({
        sections: [
          { name: '.comment', data: Buffer.from('rustc version 1.75.0 (82e1608df 2023-12-21)\0') },
          {
            name: '.dep-v0',
            data: depV0([
              { name: 'smallvec', version: '1.6.0', source: 'crates.io' },
              { name: 'time', version: '0.1.45', source: 'crates.io', dependencies: [] },
              { name: 'time', version: '0.3.47', source: 'crates.io' },
              { name: 'rustool', version: '0.1.0', source: 'local', dependencies: [0, 1, 2], root: true },
            ]),
          },
        ],
      });
      const gemspec = (name: string, version: string) =>
        `# -*- encoding: utf-8 -*-\n# stub: ${name} ${version} ruby lib\n\nGem::Specification.new do |s|\n  s.name = "${name}".freeze\n  s.version = "${version}"\n  s.licenses = ["MIT".freeze]\nend\n`;
      const image = await ociImage(
        path.join(b.config.dataDir, 'lang-image'),
        [
          { 'etc/os-release': 'ID=debian\nVERSION_ID="12"\n' },
          { 'app/lib/guava-31.1-jre.jar': pkg('java', 'guava-31.1-jre.jar'), 'usr/local/tomcat/webapps/ROOT.war': pkg('java', 'maven.war') },
          { 'usr/local/bin/rustool': { file: rustTool, mode: 0o755 }, 'usr/local/bin/uses_serde_json': { file: pkg('rust-cargo-auditable', 'uses_serde_json'), mode: 0o755 } },
          {
            'usr/local/bundle/specifications/passenger-4.0.2.gemspec': gemspec('passenger', '4.0.2'),
            'usr/local/bundle/specifications/activesupport-4.2.1.gemspec': gemspec('activesupport', '4.2.1'),
            'usr/local/bundle/specifications/rake-13.0.3.gemspec': pkg('gemspec', 'rake-13.0.3.gemspec'),
          },
        ],
        't',
      );
      await push(image, `docker://${b.host}/lang/app:t`, ADMIN);
      const url = '/api/v1/projects/lang/repositories/app/artifacts/t/vulnerabilities?limit=100';
      const v = await eventually(async () => {
        const res = await b.api(url, { auth: ADMIN });
        if (res.status !== 200) return null;
        const r = (await res.json()) as Report;
        return r.status === 'success' ? r : null;
      }, 90_000);
      assert.deepEqual(v.items.map((f) => `${f.package} ${f.installed_version} ${f.id} ${f.fixed_version}`).sort(), [
        'com.fasterxml.jackson.core:jackson-core 2.9.10 GHSA-h46c-h94j-95f3 2.15.0',
        'com.fasterxml.jackson.core:jackson-core 2.9.10 GHSA-wf8f-6423-gfxg 2.13.0',
        'com.fasterxml.jackson.core:jackson-databind 2.9.10.6 GHSA-288c-cq4h-88gq 2.9.10.7',
        'com.fasterxml.jackson.core:jackson-databind 2.9.10.6 GHSA-5r5r-6hpj-8gg9 2.9.10.8',
        'com.fasterxml.jackson.core:jackson-databind 2.9.10.6 GHSA-jjjh-jjxp-wpff 2.12.7.1',
        'com.google.guava:guava 31.1-jre GHSA-5mg8-w23w-74h3 32.0.0-android',
        'com.google.guava:guava 31.1-jre GHSA-7g45-4rm6-3mm3 32.0.0-android',
        'org.apache.commons:commons-lang3 3.11 GHSA-j288-q9x7-2f5v 3.18.0',
        'passenger 4.0.2 GHSA-9qj7-jvg4-qr2x 4.0.5',
        'smallvec 1.6.0 RUSTSEC-2021-0003 1.6.1',
        'time 0.1.45 RUSTSEC-2020-0071 0.2.0',
      ]);
      const f = (id: string) => v.items.find((x) => x.id === id)!;
      assert.ok(f('GHSA-7g45-4rm6-3mm3').aliases.includes('CVE-2023-2976'));
      assert.ok(f('RUSTSEC-2021-0003').aliases.includes('CVE-2021-25900'));
      assert.equal(f('GHSA-5r5r-6hpj-8gg9').severity, 'high');
      assert.equal(v.summary.total, 11);
      assert.equal(v.completeness, 'complete', JSON.stringify(v.gaps));

      // the SBOM lists what was read, with each ecosystem's purl
      const sbom = await (await b.api('/api/v1/projects/lang/repositories/app/artifacts/t/sbom', { auth: ADMIN })).json();
      const purls = (sbom.components as { purl: string }[]).map((c) => c.purl);
      for (const p of [
        'pkg:maven/com.google.guava/guava@31.1-jre',
        'pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10.6',
        'pkg:cargo/serde_json@1.0.135',
        'pkg:cargo/smallvec@1.6.0',
        'pkg:gem/rake@13.0.3',
      ])
        assert.ok(purls.includes(p), `${p} in ${purls.join(' ')}`);
      assert.ok(!purls.some((p) => p.includes('rustool')), 'the local root crate is not a crates.io package');
    });

    it('calls a report with an unreadable jar incomplete and names the file', async () => {
      const guava = pkg('java', 'guava-31.1-jre.jar');
      const image = await ociImage(
        path.join(b.config.dataDir, 'lang-broken'),
        [{ 'app/lib/guava-31.1-jre.jar': guava.subarray(0, guava.length - 4096), 'app/lib/ok.jar': pkg('java', 'jackson-annotations-2.15.0-rc2.jar') }],
        't',
      );
      await push(image, `docker://${b.host}/lang/broken:t`, ADMIN);
      const v = await eventually(async () => {
        const res = await b.api('/api/v1/projects/lang/repositories/broken/artifacts/t/vulnerabilities', { auth: ADMIN });
        const r = res.status === 200 ? ((await res.json()) as Report) : null;
        return r?.status === 'success' ? r : null;
      }, 90_000);
      assert.equal(v.completeness, 'incomplete');
      assert.deepEqual(
        v.gaps.map((g) => g.path),
        ['app/lib/guava-31.1-jre.jar'],
      );
      assert.match(v.gaps[0]!.reason, /not a readable archive/);
    });
  });
}
