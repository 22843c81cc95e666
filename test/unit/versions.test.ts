import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  compareVersions,
  isValidApk,
  isValidDpkg,
  isValidMaven,
  isValidPep440,
  isValidRpm,
  isValidRubyGems,
  isValidSemver,
  schemeForEcosystem,
  type VersionScheme,
} from '../../src/scanner/versions/index.js';

const ORACLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/version-oracles');

type Relation = '<' | '=' | '>';
interface Fact {
  readonly file: string;
  readonly line: number;
  readonly a: string;
  readonly rel: Relation;
  readonly b: string;
}

const SIGN: Readonly<Record<Relation, number>> = { '<': -1, '=': 0, '>': 1 };
const LINE = /^(\S+) ([<=>]) (\S+)$/;

/**
 * Every fact of an oracle file. Blank lines and `#` / `//` comments are skipped; any other line that is not
 * `A op B` throws, so a malformed line can never be silently left unchecked.
 */
function readOracle(file: string): Fact[] {
  const facts: Fact[] = [];
  const lines = fs.readFileSync(path.join(ORACLES, file), 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const text = raw.trim();
    if (text === '' || text.startsWith('#') || text.startsWith('//')) return;
    const m = LINE.exec(text);
    if (!m) throw new Error(`${file}:${i + 1}: not "A op B": ${JSON.stringify(raw)}`);
    facts.push({ file, line: i + 1, a: m[1]!, rel: m[2] as Relation, b: m[3]! });
  });
  return facts;
}

function describeSign(n: number): string {
  return n < 0 ? '<' : n > 0 ? '>' : '=';
}

/** The facts the comparator gets wrong, either way round, each rendered as a readable message. */
function mismatches(scheme: VersionScheme, facts: readonly Fact[]): string[] {
  const out: string[] = [];
  for (const f of facts) {
    const want = SIGN[f.rel];
    const fwd = Math.sign(compareVersions(scheme, f.a, f.b));
    const rev = Math.sign(compareVersions(scheme, f.b, f.a));
    if (fwd !== want || rev !== -want) {
      out.push(`${f.file}:${f.line}: ${f.a} ${f.rel} ${f.b} — got ${f.a} ${describeSign(fwd)} ${f.b} and ${f.b} ${describeSign(rev)} ${f.a}`);
    }
  }
  return out;
}

function assertAllAgree(scheme: VersionScheme, facts: readonly Fact[]): void {
  assert.ok(facts.length > 0, 'no facts to check');
  const bad = mismatches(scheme, facts);
  assert.equal(bad.length, 0, `${bad.length} of ${facts.length} facts disagree with ${scheme}:\n${bad.slice(0, 20).join('\n')}`);
}

/** Parses a hand-written table in the oracle line format, so the tables read like the oracle files. */
function table(name: string, text: string): Fact[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l, i) => {
      const m = LINE.exec(l);
      if (!m) throw new Error(`bad table line ${JSON.stringify(l)}`);
      return { file: name, line: i + 1, a: m[1]!, rel: m[2] as Relation, b: m[3]! };
    });
}

const ORACLE_FILES: ReadonlyArray<readonly [string, VersionScheme, number]> = [
  // [file, scheme, minimum number of facts] — the minimum guards against a truncated or mis-parsed file.
  ['debian-versions.txt', 'dpkg', 30],
  ['debian-versions-generated.txt', 'dpkg', 14_000],
  ['alpine-versions.txt', 'apk', 500],
  ['alpine-versions-generated.txt', 'apk', 13_000],
  ['redhat-versions.txt', 'rpm', 150],
  ['pypi-versions.txt', 'pep440', 35],
  ['pypi-versions-generated.txt', 'pep440', 12_000],
  ['semver-versions.txt', 'semver', 80],
  ['maven-versions.txt', 'maven', 90],
  ['maven-versions-generated.txt', 'maven', 14_000],
  ['rubygems-versions.txt', 'rubygems', 20],
  ['rubygems-versions-generated.txt', 'rubygems', 4_000],
];

describe('version oracles', () => {
  it('covers every oracle file in the fixtures directory', () => {
    const present = fs
      .readdirSync(ORACLES)
      .filter((f) => f.endsWith('.txt'))
      .sort();
    assert.deepEqual(present, ORACLE_FILES.map(([f]) => f).sort());
  });
  for (const [file, scheme, min] of ORACLE_FILES) {
    it(`${scheme}: every fact in ${file}`, () => {
      const facts = readOracle(file);
      assert.ok(facts.length >= min, `only ${facts.length} facts read from ${file}`);
      assertAllAgree(scheme, facts);
      // Each side of every fact must also equal itself: the order is reflexive.
      for (const f of facts) for (const v of [f.a, f.b]) assert.equal(compareVersions(scheme, v, v), 0, `${v} != ${v}`);
    });
  }
});

describe('dpkg', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'dpkg',
      table(
        'dpkg',
        `
        # tilde sorts before everything, even the end of the string
        1.0~rc1 < 1.0
        1.0~~ < 1.0~
        1.0~ < 1.0
        1.0~rc1 < 1.0~rc2
        1.0~rc1-1 < 1.0-1
        2.30-21ubuntu1~18.04.9 < 2.30-21ubuntu1
        # epochs beat everything else; missing epoch is 0
        1:0.1 > 9.9
        0:1.0 = 1.0
        00:1.0 = 1.0
        2:1.0 > 1:9.9
        # binNMU and security/backport suffixes
        1.0-1+b1 > 1.0-1
        1.0-1+b2 > 1.0-1+b1
        1.0-1+deb12u1 > 1.0-1
        1.0-1+deb12u1 < 1.0-2
        1.0-1~bpo12+1 < 1.0-1
        # the revision starts after the LAST hyphen
        1.0-beta-1 < 1.0-beta-2
        1.0-rc1-1 > 1.0-1
        # missing revision equals revision 0
        1.0 = 1.0-0
        1.0 < 1.0-1
        # letters sort before non-letters, numbers numerically
        1.0a < 1.0+
        1.0a < 1.0.
        1.0 < 1.0a
        1.9 < 1.10
        1.010 = 1.10
        1.0+dfsg < 1.0.1
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1.0', '1:1.0-1', '1.0-1+b1', '2.30-21ubuntu1~18.04.9', '1:2.0:3-1', '0', '1.0-beta-1']) assert.ok(isValidDpkg(v), v);
    for (const v of ['', 'a1.0', 'x:1.0', ':1.0', '1.0-', '1.0-1_2', '1.0 1', '1.0:1', '1.0-1:2']) assert.ok(!isValidDpkg(v), v);
  });

  const hasDpkg = fs.existsSync('/usr/bin/dpkg');
  it('agrees with dpkg --compare-versions on a random sample of oracle facts', { skip: hasDpkg ? false : 'dpkg is not installed' }, () => {
    const facts = [...readOracle('debian-versions.txt'), ...readOracle('debian-versions-generated.txt')];
    // A fixed-seed PRNG (mulberry32) keeps the sample reproducible from run to run.
    let seed = 0x5eed1234;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const OP: Readonly<Record<string, string>> = { '<': 'lt', '=': 'eq', '>': 'gt' };
    const bad: string[] = [];
    for (let k = 0; k < 300; k++) {
      const f = facts[Math.floor(random() * facts.length)]!;
      // Ask dpkg about the relation our comparator computes, so this checks the code, not just the file.
      const ours = describeSign(compareVersions('dpkg', f.a, f.b));
      const r = spawnSync('/usr/bin/dpkg', ['--compare-versions', f.a, OP[ours]!, f.b], { encoding: 'utf8' });
      if (r.status !== 0) bad.push(`${f.file}:${f.line}: ours ${f.a} ${ours} ${f.b}, dpkg disagrees (exit ${r.status}) ${r.stderr.trim()}`);
    }
    assert.equal(bad.length, 0, bad.slice(0, 20).join('\n'));
  });
});

describe('apk', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'apk',
      table(
        'apk',
        `
        # pre-release suffixes sort before the release, post-release ones after
        1.2_alpha < 1.2_beta
        1.2_beta < 1.2_pre
        1.2_pre < 1.2_rc
        1.2_rc9 < 1.2
        1.2 < 1.2_cvs
        1.2_cvs < 1.2_svn
        1.2_svn < 1.2_git
        1.2_git < 1.2_hg
        1.2_hg < 1.2_p
        1.2_p1 < 1.2_p2
        1.2_rc1 < 1.2_rc2
        1.2_git20230101 < 1.2_git20240101
        1.2_p1 < 1.2.1
        # revisions
        1.2-r0 < 1.2-r1
        1.2-r9 < 1.2-r10
        1.2-r10 < 1.2.1-r0
        1.2 = 1.2-r0
        1-r = 1-r0
        1-r1 = 1-r01
        1.2_rc1-r5 < 1.2-r0
        # letters
        1.2a < 1.2b
        1.2 < 1.2a
        1.2z < 1.2.1
        # leading zeros in a later number compare as strings
        1.01 < 1.1
        1.001 < 1.01
        # commit hashes carry no order
        1.2~abc123-r0 = 1.2~def456-r0
        # numbers of any length
        20240101.999999999999999999 < 20240101.1000000000000000000
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1.2.3', '1.2.3-r0', '1.2.3_rc1-r2', '1.2a_p1', '1.2_git20240101~abc123-r4']) assert.ok(isValidApk(v), v);
    for (const v of ['', 'a', '1.2.', '1.2_blah', '1.2-r1-1', '1-r', 'x1.2', '1.2A']) assert.ok(!isValidApk(v), v);
  });
});

describe('rpm', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'rpm',
      table(
        'rpm',
        `
        # epoch first; missing epoch is 0
        1:1.0-1 > 2.0-1
        0:1.0-1 = 1.0-1
        # release after the last hyphen
        1.0-1.el9 < 1.0-2.el9
        1.0-1.el9_2.1 > 1.0-1.el9_2
        3.10.0-1160.el7 < 3.10.0-1160.2.1.el7
        # tilde pre-releases, caret snapshots
        1.0~rc1 < 1.0
        1.0 < 1.0^git1
        1.0^git1 < 1.0.1
        # numbers beat letters; numbers compare numerically
        1.0a < 1.0.1
        1.10 > 1.9
        1.0010 = 1.10
        # separators are interchangeable
        1_0 = 1.0
        # a missing release sorts before any release
        1.0 < 1.0-0
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1.0', '1.0-1.el9', '2:1.0-1', '1.0~rc1^git2-1']) assert.ok(isValidRpm(v), v);
    for (const v of ['', '-1', '1.0-', '1.0-1-2', ':1.0', '1.0 1', 'a:1']) assert.ok(!isValidRpm(v), v);
  });
});

describe('pep440', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'pep440',
      table(
        'pep440',
        `
        # dev < pre < final < post; a bare dev release precedes the pre-releases
        1.0.dev1 < 1.0a1
        1.0a1.dev1 < 1.0a1
        1.0a1 < 1.0a2
        1.0a2 < 1.0b1
        1.0b1 < 1.0rc1
        1.0rc1 < 1.0
        1.0 < 1.0.post1.dev1
        1.0.post1.dev1 < 1.0.post1
        1.0.post1 < 1.0.1
        # trailing zeros, epochs
        1.0 = 1.0.0
        1.0.0.0 = 1
        1!0.1 > 2.0
        0!1.0 = 1.0
        # spellings normalise
        1.0a1 = 1.0-alpha.1
        1.0b2 = 1.0.beta2
        1.0rc1 = 1.0c1
        1.0rc1 = 1.0-pre1
        1.0rc1 = 1.0preview1
        1.0.post1 = 1.0-1
        1.0.post1 = 1.0-r1
        1.0.post0 = 1.0.post
        v1.0 = 1.0
        1.0A1 = 1.0a1
        1.0.DEV1 = 1.0.dev1
        # local versions sort after the public version; numbers above strings
        1.0 < 1.0+local
        1.0+abc < 1.0+1
        1.0+1 < 1.0+2
        1.0+1 < 1.0+1.1
        1.0+ubuntu-1 = 1.0+ubuntu.1
        1.0+local < 1.0.post1
        # legacy (non PEP 440) versions sort before all valid ones
        trunk < 0.0.1.dev0
        0.1-bulbasaur < 0.1
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1.0', '1!1.0a1.post2.dev3+local.1', 'v1.0', '1.0-1', ' 1.0 ', '1.0.PREVIEW1']) assert.ok(isValidPep440(v), v);
    for (const v of ['', 'trunk', '0.1-bulbasaur', '1.0+', '1.0+loc al', '1.0.x', '1..0']) assert.ok(!isValidPep440(v), v);
  });
});

describe('semver', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'semver',
      table(
        'semver',
        `
        # the SemVer 2.0.0 §11 example chain
        1.0.0-alpha < 1.0.0-alpha.1
        1.0.0-alpha.1 < 1.0.0-alpha.beta
        1.0.0-alpha.beta < 1.0.0-beta
        1.0.0-beta < 1.0.0-beta.2
        1.0.0-beta.2 < 1.0.0-beta.11
        1.0.0-beta.11 < 1.0.0-rc.1
        1.0.0-rc.1 < 1.0.0
        # numeric identifiers sort below alphanumeric ones
        1.0.0-1 < 1.0.0-a
        1.0.0-2 < 1.0.0-10
        1.0.0-a10 < 1.0.0-a2
        # build metadata is ignored
        1.0.0+build.1 = 1.0.0+build.2
        1.0.0-rc.1+x = 1.0.0-rc.1
        # tolerated: leading v, missing minor/patch
        v1.2.3 = 1.2.3
        1.2 = 1.2.0
        1 = 1.0.0
        1.2 < 1.2.1
        1.2-beta < 1.2.0
        # Go pseudo-versions order by their timestamp
        v0.0.0-20230101000000-abcdef123456 < v0.0.0-20240101000000-123456abcdef
        v1.2.4-0.20230101000000-abcdef123456 < v1.2.4
        v1.2.4-0.20230101000000-abcdef123456 > v1.2.3
        # unparseable strings sort before every version
        latest < 0.0.0-0
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1.2.3', 'v1.2.3', '1.2', '1', '1.0.0-rc.1+build.5', '1.0.0-x-y.0', '0.0.0-0']) assert.ok(isValidSemver(v), v);
    for (const v of ['', 'v', 'latest', '1.2.3.4', '01.2.3', '1.2.3-01', '1.2.3-', '1.2.3+', '1.2.3-a..b', '1.2.x']) assert.ok(!isValidSemver(v), v);
  });
});

describe('maven', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'maven',
      table(
        'maven',
        `
        # qualifiers: alpha < beta < milestone < rc < snapshot < release < sp, unknown ones after, alphabetically
        1.0-alpha1 < 1.0-beta1
        1.0-beta1 < 1.0-milestone1
        1.0-milestone1 < 1.0-rc1
        1.0-rc1 < 1.0-SNAPSHOT
        1.0-SNAPSHOT < 1.0
        1.0 < 1.0-sp1
        1.0-sp1 < 1.0-foo
        1.0-bar < 1.0-foo
        # short forms, aliases, case
        1.0-a1 = 1.0-alpha-1
        1.0-b2 = 1.0-beta-2
        1.0-m3 = 1.0-milestone-3
        1.0-cr1 = 1.0-rc1
        1.0-RC1 = 1.0-rc1
        1.0.Final = 1.0
        1.0-ga = 1.0
        1.0.RELEASE = 1.0
        # trailing zeros and null values go
        1 = 1.0.0
        1.0-0 = 1
        2.0.0-0.0 = 2
        # numbers numerically; a number after - is above a qualifier, after . above everything
        1.9 < 1.10
        1.0-1 < 1.0-2
        1.0 < 1.0-1
        1.0-1 < 1.0.1
        1.0-xyz < 1.0-1
        # the versions advisories use
        31.1-jre < 32.0.0-android
        2.9.10.6 < 2.9.10.7
        2.9.10.6 < 2.10.0
        2.15.0-rc2 < 2.15.0
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1', '1.0', '31.1-jre', '2.15.0-rc2', '1.0.Final']) assert.ok(isValidMaven(v), v);
    for (const v of ['', 'latest', '1.0 beta', ' ']) assert.ok(!isValidMaven(v), v);
  });
});

describe('rubygems', () => {
  it('hand-picked cases', () => {
    assertAllAgree(
      'rubygems',
      table(
        'rubygems',
        `
        # letters make a pre-release, below the release
        1.0.a < 1.0
        1.0.rc1 < 1.0
        1.0.beta < 1.0.rc
        1.0a1 = 1.0.a.1
        # a hyphen means .pre.
        1.0-1 = 1.0.pre.1
        1.0-1 < 1.0
        # trailing zeros, in the release and in the pre-release part
        1.0 = 1
        1.0.0.0 = 1
        1.a.0 = 1.a
        # numbers numerically
        1.9 < 1.10
        4.0.2 < 4.0.5
        3.0.20 < 3.0.21
        `,
      ),
    );
  });

  it('validates syntax', () => {
    for (const v of ['1', '1.0', '1.0.rc1', '1.0-1', '0.2.9']) assert.ok(isValidRubyGems(v), v);
    for (const v of ['', 'a', '1..0', '1.0 1', '1.0-']) assert.ok(!isValidRubyGems(v), v);
  });
});

describe('schemeForEcosystem', () => {
  const cases: ReadonlyArray<readonly [string, VersionScheme | null]> = [
    ['Debian', 'dpkg'],
    ['Debian:12', 'dpkg'],
    ['Ubuntu', 'dpkg'],
    ['Ubuntu:22.04', 'dpkg'],
    ['Ubuntu:Pro:22.04:LTS', 'dpkg'],
    ['Alpine', 'apk'],
    ['Alpine:v3.19', 'apk'],
    ['Red Hat', 'rpm'],
    ['Red Hat:enterprise_linux:9::appstream', 'rpm'],
    ['Rocky Linux', 'rpm'],
    ['Rocky Linux:9', 'rpm'],
    ['AlmaLinux', 'rpm'],
    ['AlmaLinux:8', 'rpm'],
    ['openSUSE', 'rpm'],
    ['openSUSE:Leap 15.5', 'rpm'],
    ['SUSE', 'rpm'],
    ['SUSE:Linux Enterprise Server 15 SP5', 'rpm'],
    ['Mageia', 'rpm'],
    ['Mageia:9', 'rpm'],
    ['PyPI', 'pep440'],
    ['npm', 'semver'],
    ['Go', 'semver'],
    ['crates.io', 'semver'],
    ['NuGet', null],
    ['Packagist', null],
    ['RubyGems', 'rubygems'],
    ['Maven', 'maven'],
    ['debian', null],
    ['PyPI:foo', null],
    ['Debianish', null],
    ['', null],
  ];
  for (const [ecosystem, scheme] of cases) {
    it(`${JSON.stringify(ecosystem)} → ${scheme}`, () => assert.equal(schemeForEcosystem(ecosystem), scheme));
  }
});
