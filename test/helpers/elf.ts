import zlib from 'node:zlib';

export interface ElfOptions {
  /** 32-bit ELF (default 64-bit) */
  class32?: boolean;
  /** big-endian (default little-endian) */
  bigEndian?: boolean;
  /** the loaded segment's content after the headers (machine code, read-only data) */
  loaded?: Buffer;
  /** non-loaded sections, in file order, after the loaded segment (`.dep-v0`, `.comment`, debug info) */
  sections?: { name: string; data: Buffer }[];
}

/**
 * A minimal ELF executable laid out as linkers write one: the ELF header, one program header (a PT_LOAD segment
 * covering the headers and `loaded`), then the non-loaded sections, `.shstrtab`, and the section header table.
 */
export function elf(opts: ElfOptions = {}): Buffer {
  const is64 = !opts.class32;
  const le = !opts.bigEndian;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const loaded = opts.loaded ?? Buffer.alloc(8192, 0x90);
  const sections = opts.sections ?? [];
  const names = ['', ...sections.map((s) => s.name), '.shstrtab'];
  const nameOffsets: number[] = [];
  let strtab = '';
  for (const n of names) {
    nameOffsets.push(Buffer.byteLength(strtab));
    strtab += `${n}\0`;
  }
  const shstrtab = Buffer.from(strtab);
  const loadEnd = ehsize + phentsize + loaded.length;
  const layout: { off: number; data: Buffer }[] = [];
  let at = loadEnd;
  for (const s of sections) {
    layout.push({ off: at, data: s.data });
    at += s.data.length;
  }
  const shstrOff = at;
  at += shstrtab.length;
  const shoff = at + ((8 - (at % 8)) % 8);
  const shnum = names.length;
  const out = Buffer.alloc(shoff + shnum * shentsize);
  const w16 = (v: number, o: number) => (le ? out.writeUInt16LE(v, o) : out.writeUInt16BE(v, o));
  const w32 = (v: number, o: number) => (le ? out.writeUInt32LE(v, o) : out.writeUInt32BE(v, o));
  const wa = (v: number, o: number) => (is64 ? (le ? out.writeBigUInt64LE(BigInt(v), o) : out.writeBigUInt64BE(BigInt(v), o)) : w32(v, o));
  out.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1], 0);
  w16(2, 16); // ET_EXEC
  w16(is64 ? 62 : 3, 18); // x86-64 / i386
  w32(1, 20);
  wa(0x400000 + ehsize + phentsize, 24); // entry
  wa(ehsize, is64 ? 32 : 28); // phoff
  wa(shoff, is64 ? 40 : 32); // shoff
  w16(ehsize, is64 ? 52 : 40);
  w16(phentsize, is64 ? 54 : 42);
  w16(1, is64 ? 56 : 44);
  w16(shentsize, is64 ? 58 : 46);
  w16(shnum, is64 ? 60 : 48);
  w16(shnum - 1, is64 ? 62 : 50);
  // PT_LOAD over [0, loadEnd)
  const ph = ehsize;
  w32(1, ph);
  if (is64) {
    w32(5, ph + 4);
    wa(0, ph + 8);
    wa(0x400000, ph + 16);
    wa(0x400000, ph + 24);
    wa(loadEnd, ph + 32);
    wa(loadEnd, ph + 40);
    wa(0x1000, ph + 48);
  } else {
    wa(0, ph + 4);
    wa(0x400000, ph + 8);
    wa(0x400000, ph + 12);
    wa(loadEnd, ph + 16);
    wa(loadEnd, ph + 20);
    w32(5, ph + 24);
    w32(0x1000, ph + 28);
  }
  loaded.copy(out, ehsize + phentsize);
  for (const l of layout) l.data.copy(out, l.off);
  shstrtab.copy(out, shstrOff);
  const sh = (i: number, type: number, off: number, size: number) => {
    const b = shoff + i * shentsize;
    w32(nameOffsets[i]!, b);
    w32(type, b + 4);
    if (is64) {
      wa(off, b + 24);
      wa(size, b + 32);
      wa(1, b + 48);
    } else {
      w32(off, b + 16);
      w32(size, b + 20);
      w32(1, b + 32);
    }
  };
  for (const [i, s] of sections.entries()) sh(i + 1, 1, layout[i]!.off, s.data.length); // PROGBITS
  sh(shnum - 1, 3, shstrOff, shstrtab.length); // STRTAB
  return out;
}

/** The `.dep-v0` content cargo-auditable writes: the package list as zlib-compressed JSON. */
export function depV0(packages: { name: string; version: string; source: string; kind?: string; dependencies?: number[]; root?: boolean }[]): Buffer {
  return zlib.deflateSync(Buffer.from(JSON.stringify({ packages })));
}
