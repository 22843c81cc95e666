/**
 * Version ordering per package ecosystem, for matching installed packages against OSV advisories.
 *
 * Each scheme reproduces its ecosystem's own tool (dpkg, apk-tools, rpm, `packaging`, SemVer), because an
 * advisory's "fixed in" version only means something in that ecosystem's order.
 */
import { compareApk } from './apk.js';
import { compareDpkg } from './dpkg.js';
import { compareMaven } from './maven.js';
import { comparePep440 } from './pep440.js';
import { compareRpm } from './rpm.js';
import { compareRubyGems } from './rubygems.js';
import { compareSemver } from './semver.js';

export { compareApk, isValidApk } from './apk.js';
export { compareDpkg, isValidDpkg } from './dpkg.js';
export { compareMaven, isValidMaven } from './maven.js';
export { comparePep440, isValidPep440 } from './pep440.js';
export { compareRpm, isValidRpm } from './rpm.js';
export { compareRubyGems, isValidRubyGems } from './rubygems.js';
export { compareSemver, isValidSemver } from './semver.js';

export type VersionScheme = 'dpkg' | 'apk' | 'rpm' | 'pep440' | 'semver' | 'maven' | 'rubygems';

const COMPARATORS: Readonly<Record<VersionScheme, (a: string, b: string) => number>> = {
  dpkg: compareDpkg,
  apk: compareApk,
  rpm: compareRpm,
  pep440: comparePep440,
  semver: compareSemver,
  maven: compareMaven,
  rubygems: compareRubyGems,
};

/**
 * Compares two versions in the given scheme.
 *
 * @returns a negative number if `a < b`, 0 if they are equal, a positive number if `a > b` (only the sign is
 * meaningful).
 */
export function compareVersions(scheme: VersionScheme, a: string, b: string): number {
  return COMPARATORS[scheme](a, b);
}

/**
 * Distribution ecosystems, which OSV may qualify with a release after a colon (`Debian:12`, `Alpine:v3.19`,
 * `Ubuntu:Pro:22.04:LTS`, `Red Hat:enterprise_linux:9::appstream`).
 */
const DISTRO_SCHEMES: ReadonlyMap<string, VersionScheme> = new Map<string, VersionScheme>([
  ['Debian', 'dpkg'],
  ['Ubuntu', 'dpkg'],
  ['Alpine', 'apk'],
  ['Wolfi', 'apk'],
  ['Chainguard', 'apk'],
  ['Red Hat', 'rpm'],
  ['Rocky Linux', 'rpm'],
  ['AlmaLinux', 'rpm'],
  ['openSUSE', 'rpm'],
  ['SUSE', 'rpm'],
  ['Mageia', 'rpm'],
]);

/** Language ecosystems, whose OSV names take no qualifier. */
const LANGUAGE_SCHEMES: ReadonlyMap<string, VersionScheme> = new Map<string, VersionScheme>([
  ['PyPI', 'pep440'],
  ['npm', 'semver'],
  ['Go', 'semver'],
  ['crates.io', 'semver'],
  ['Maven', 'maven'],
  ['RubyGems', 'rubygems'],
]);

/**
 * The version scheme of an OSV ecosystem name, or null when this module has no ordering for it (callers
 * should then only trust exact `versions` lists, never ranges). Names are case-sensitive, as in the OSV
 * schema.
 */
export function schemeForEcosystem(ecosystem: string): VersionScheme | null {
  const language = LANGUAGE_SCHEMES.get(ecosystem);
  if (language !== undefined) return language;
  const colon = ecosystem.indexOf(':');
  return DISTRO_SCHEMES.get(colon < 0 ? ecosystem : ecosystem.slice(0, colon)) ?? null;
}
