/**
 * Go build information in executables (`runtime/debug.BuildInfo`, as `go version -m` prints it): the Go version
 * (the standard library's version), the main module and every dependency module with its version, replacements
 * applied. Found by streaming the file for the 16-byte-aligned `\xff Go buildinf:` header (in `.go.buildinfo`),
 * without keeping the binary: at most `MAX_INFO` bytes after the header are kept.
 *
 * Format (Go 1.18+, `src/debug/buildinfo/buildinfo.go`): the header is 32 bytes (magic, pointer size, flags); with
 * flag 2 ("inline strings") two varint-length-prefixed strings follow: the Go version and the module info, whose
 * text sits between two 16-byte sentinels. Older binaries store pointers instead: those are reported, not read.
 */
import type { Package } from './inventory.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MAX_INFO = 1024 * 1024;
const MAX_MODULES = 10_000;

export type GoScanResult = { kind: 'packages'; packages: Package[] } | { kind: 'old-format' } | { kind: 'none' };

/** Feed a file's bytes in order; `done` turns true once the build info was found (or the file is not ELF). */
export class GoBuildInfoScanner {
  private held = Buffer.alloc(0);
  private info: Buffer[] | null = null;
  private infoLen = 0;
  private elf: boolean | null = null;
  done = false;

  constructor(private readonly path: string) {}

  push(chunk: Buffer): void {
    if (this.done) return;
    if (this.info) {
      this.info.push(chunk);
      this.infoLen += chunk.length;
      if (this.infoLen >= MAX_INFO) this.done = true;
      return;
    }
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    if (this.elf === null) {
      if (buf.length < 4) {
        this.held = Buffer.from(buf);
        return;
      }
      this.elf = buf.subarray(0, 4).equals(ELF);
      if (!this.elf) {
        this.done = true;
        return;
      }
    }
    const i = buf.indexOf(MAGIC);
    if (i >= 0) {
      this.info = [buf.subarray(i)];
      this.infoLen = buf.length - i;
      this.held = Buffer.alloc(0);
      if (this.infoLen >= MAX_INFO) this.done = true;
      return;
    }
    this.held = Buffer.from(buf.subarray(Math.max(0, buf.length - MAGIC.length + 1)));
  }

  /** Whether the build info header was found (the file is a Go binary). */
  get found(): boolean {
    return this.info !== null;
  }

  /** Whether this file is worth streaming further. */
  get wanted(): boolean {
    return !this.done;
  }

  result(): GoScanResult {
    if (!this.info) return { kind: 'none' };
    return parseBuildInfo(Buffer.concat(this.info).subarray(0, MAX_INFO), this.path);
  }
}

function varint(b: Buffer, at: number): { value: number; next: number } | null {
  let value = 0;
  let shift = 0;
  for (let i = at; i < b.length && i < at + 5; i++) {
    value += (b[i]! & 0x7f) * 2 ** shift;
    if (!(b[i]! & 0x80)) return { value, next: i + 1 };
    shift += 7;
  }
  return null;
}

/** Go version `go1.22.0`, `go1.21rc2`, `go1.20` → the semver OSV's `stdlib` ranges use (`1.22.0`, `1.21.0-rc.2`). */
export function goStdlibVersion(v: string): string | null {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?/.exec(v.trim());
  if (!m) return null;
  return `${m[1]}.${m[2]}.${m[3] ?? '0'}${m[4] ? `-${m[4]}.${m[5]}` : ''}`;
}

/** Parses the build info blob that starts at the magic. */
export function parseBuildInfo(b: Buffer, path: string): GoScanResult {
  if (b.length < 32 || !b.subarray(0, MAGIC.length).equals(MAGIC)) return { kind: 'none' };
  const flags = b[15]!;
  if (!(flags & 2)) return { kind: 'old-format' };
  const strings: string[] = [];
  let at = 32;
  for (let k = 0; k < 2; k++) {
    const n = varint(b, at);
    if (!n || n.value > MAX_INFO || n.next + n.value > b.length) return { kind: 'none' };
    strings.push(b.toString('utf8', n.next, n.next + n.value));
    at = n.next + n.value;
  }
  const [goVersion, modRaw] = strings as [string, string];
  const modinfo = modRaw.length >= 33 ? modRaw.slice(16, -16) : '';
  const packages: Package[] = [];
  const std = goStdlibVersion(goVersion);
  if (std) packages.push({ type: 'golang', name: 'stdlib', version: std, path });
  const version = (v: string) => (v.startsWith('v') ? v.slice(1) : v);
  for (const line of modinfo.split('\n')) {
    const f = line.split('\t');
    if ((f[0] === 'mod' || f[0] === 'dep') && f[1] && f[2]) {
      if (f[2] === '(devel)') continue; // a main module built from a checkout has no version to match
      packages.push({ type: 'golang', name: f[1].slice(0, 256), version: version(f[2]).slice(0, 128), path });
    } else if (f[0] === '=>' && f[1] && f[2] && packages.length > (std ? 1 : 0)) {
      // the previous dependency is replaced: the replacement is what was compiled in
      const last = packages[packages.length - 1]!;
      if (last.name !== 'stdlib') packages[packages.length - 1] = { ...last, name: f[1].slice(0, 256), version: version(f[2]).slice(0, 128) };
    }
    if (packages.length >= MAX_MODULES) break;
  }
  return { kind: 'packages', packages };
}
