import { randomUUID } from 'node:crypto';
import type { Package } from './inventory.js';
import type { Finding } from './matcher.js';

/** A purl for a package (https://github.com/package-url/purl-spec), with the distro as a qualifier. */
export function purl(p: Package, distro: string | null): string {
  const enc = encodeURIComponent;
  switch (p.type) {
    case 'deb':
      return `pkg:deb/${distro?.startsWith('ubuntu') ? 'ubuntu' : 'debian'}/${enc(p.name)}@${enc(p.version)}${p.arch ? `?arch=${enc(p.arch)}` : ''}${distro ? `${p.arch ? '&' : '?'}distro=${enc(distro)}` : ''}`;
    case 'apk':
      return `pkg:apk/alpine/${enc(p.name)}@${enc(p.version)}${p.arch ? `?arch=${enc(p.arch)}` : ''}`;
    case 'npm': {
      const [scope, name] = p.name.startsWith('@') ? p.name.split('/') : [undefined, p.name];
      return `pkg:npm/${scope ? `${enc(scope)}/` : ''}${enc(name ?? p.name)}@${enc(p.version)}`;
    }
    case 'pypi':
      return `pkg:pypi/${enc(p.name.toLowerCase())}@${enc(p.version)}`;
    case 'golang':
      return p.name === 'stdlib' ? `pkg:golang/stdlib@${enc(p.version)}` : `pkg:golang/${p.name.split('/').map(enc).join('/')}@v${enc(p.version)}`;
    case 'maven': {
      const [group, artifact] = p.name.includes(':') ? p.name.split(':') : [undefined, p.name];
      return `pkg:maven/${group ? `${enc(group)}/` : ''}${enc(artifact ?? p.name)}@${enc(p.version)}`;
    }
    case 'cargo':
      return `pkg:cargo/${enc(p.name)}@${enc(p.version)}`;
    case 'gem':
      return `pkg:gem/${enc(p.name)}@${enc(p.version)}`;
    case 'rpm': {
      const vendor = distro?.split(/[\s-]/)[0]?.toLowerCase() || 'rpm';
      const epoch = /^(\d+):/.exec(p.version)?.[1];
      const ver = epoch ? p.version.slice(epoch.length + 1) : p.version;
      const q = [p.arch ? `arch=${enc(p.arch)}` : '', epoch ? `epoch=${epoch}` : '', distro ? `distro=${enc(distro)}` : ''].filter(Boolean).join('&');
      return `pkg:rpm/${enc(vendor)}/${enc(p.name)}@${enc(ver)}${q ? `?${q}` : ''}`;
    }
    case 'other':
      return `pkg:generic/${enc(p.name)}@${enc(p.version)}`;
  }
}

/** CycloneDX 1.5 JSON: the image as the subject, its OS and language packages as components, findings as vulnerabilities. */
export function cycloneDx(subject: { name: string; digest: string }, os: string | null, packages: Package[], findings: Finding[]): unknown {
  const distro = os ? os.toLowerCase().split(' ').slice(0, 2).join('-') : null;
  const refs = new Map<string, string>();
  const components = packages.map((p) => {
    const ref = purl(p, distro);
    refs.set(`${p.type}|${p.name}|${p.version}`, ref);
    return {
      type: 'library',
      'bom-ref': ref,
      name: p.name,
      version: p.version,
      purl: ref,
      ...(p.license ? { licenses: [{ license: { name: p.license } }] } : {}),
      properties: [
        { name: 'berth:package:type', value: p.type },
        { name: 'berth:package:path', value: p.path },
        ...(p.sourceName ? [{ name: 'berth:package:source', value: `${p.sourceName} ${p.sourceVersion ?? ''}`.trim() }] : []),
      ],
    };
  });
  const vulnerabilities = findings.map((f) => ({
    id: f.advisoryId,
    ...(f.aliases.length ? { references: f.aliases.map((a) => ({ id: a, source: { name: a.startsWith('CVE-') ? 'NVD' : 'OSV' } })) } : {}),
    ratings: [
      {
        severity: f.severity === 'unknown' ? 'unknown' : f.severity,
        ...(f.cvssScore !== null ? { score: f.cvssScore, method: f.cvssVector?.startsWith('CVSS:4') ? 'CVSSv4' : 'CVSSv31', vector: f.cvssVector } : {}),
      },
    ],
    ...(f.summary ? { description: f.summary } : {}),
    ...(f.fixedVersion ? { recommendation: `Upgrade to ${f.fixedVersion}` } : {}),
    affects: [{ ref: refs.get(`${f.type}|${f.package}|${f.installedVersion}`) ?? f.package }],
  }));
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: new Date().toISOString(),
      tools: { components: [{ type: 'application', name: 'berth', version: '0.1.0' }] },
      component: { type: 'container', 'bom-ref': subject.digest, name: subject.name, version: subject.digest },
      ...(os ? { properties: [{ name: 'berth:os', value: os }] } : {}),
    },
    components,
    vulnerabilities,
  };
}

/** RFC 4180 CSV; cells that a spreadsheet would run as formulas are neutralised. */
export function findingsCsv(findings: Finding[]): string {
  const cell = (v: unknown) => {
    let s = v === null || v === undefined ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const head = ['advisory', 'aliases', 'severity', 'cvss_score', 'package', 'type', 'installed_version', 'source', 'fixed_version', 'path', 'summary'];
  const rows = findings.map((f) =>
    [
      f.advisoryId,
      f.aliases.join(' '),
      f.severity,
      f.cvssScore,
      f.package,
      f.type,
      f.installedVersion,
      f.sourceName ? `${f.sourceName} ${f.sourceVersion ?? ''}`.trim() : '',
      f.fixedVersion,
      f.path,
      f.summary,
    ]
      .map(cell)
      .join(','),
  );
  return [head.join(','), ...rows].join('\r\n') + '\r\n';
}
