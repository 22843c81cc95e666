import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TarReader, type TarEntry } from '../../src/scanner/tar-reader.js';
import { tarLayer } from '../helpers/oci.js';

type Seen = { entry: TarEntry; data: string | null };

/** Reads a tar fed in chunks of `size` bytes; files whose name matches `want` have their data collected. */
async function readTar(tar: Buffer, size = tar.length, want: (e: TarEntry) => boolean = () => true): Promise<Seen[]> {
  const seen: Seen[] = [];
  const reader = new TarReader((entry) => {
    const s: Seen = { entry, data: null };
    seen.push(s);
    if (!want(entry)) return null;
    const chunks: Buffer[] = [];
    return {
      write: (c) => void chunks.push(Buffer.from(c)),
      end: () => {
        s.data = Buffer.concat(chunks).toString('latin1');
      },
    };
  });
  for (let i = 0; i < tar.length; i += size) {
    const r = reader.push(tar.subarray(i, i + size));
    if (r) await r;
  }
  reader.end();
  return seen;
}

/** A tar made by GNU tar from files in a temporary directory. */
function gnuTar(files: Record<string, string>, format: 'gnu' | 'pax' | 'ustar'): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tar-'));
  try {
    for (const [name, body] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), body);
    }
    const r = spawnSync('tar', [`--format=${format}`, '--sort=name', '-C', dir, '-cf', '-', ...Object.keys(files)], { maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 0, r.stderr?.toString());
    return r.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A ustar header block with a valid checksum. */
function header(name: string, opts: { type?: string; size?: number; sizeField?: Buffer; linkname?: string } = {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  if (opts.sizeField) opts.sizeField.copy(b, 124);
  else b.write(`${(opts.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  b.write('00000000000\0', 136);
  b.write(opts.type ?? '0', 156);
  if (opts.linkname) b.write(opts.linkname, 157, 100);
  b.write('ustar\0', 257);
  b.write('00', 263);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}
const padded = (s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
};

describe('tar reader', () => {
  it('reads the same entries and data however the stream is chunked', async () => {
    const tar = await tarLayer({ 'etc/os-release': 'ID=debian\n', 'usr/bin/big': 'x'.repeat(70_000), empty: '', 'var/lib/dpkg/status': 'Package: a\n' });
    const whole = await readTar(tar);
    assert.deepEqual(
      whole.map((s) => [s.entry.name, s.entry.type, s.entry.size, s.data?.length]),
      [
        ['etc/os-release', 'file', 10, 10],
        ['usr/bin/big', 'file', 70_000, 70_000],
        ['empty', 'file', 0, 0],
        ['var/lib/dpkg/status', 'file', 11, 11],
      ],
    );
    for (const size of [1, 7, 511, 512, 513, 4096]) assert.deepEqual(await readTar(tar, size), whole, `chunks of ${size}`);
  });

  it('skips the data of entries nobody wants without losing its place', async () => {
    const tar = await tarLayer({ a: 'x'.repeat(1000), b: 'wanted', c: 'y'.repeat(513) });
    const seen = await readTar(tar, 100, (e) => e.name === 'b');
    assert.deepEqual(
      seen.map((s) => [s.entry.name, s.data]),
      [
        ['a', null],
        ['b', 'wanted'],
        ['c', null],
      ],
    );
  });

  it('reads GNU long names and pax paths, as GNU tar writes them', async () => {
    const long = `usr/lib/python3/dist-packages/${'a'.repeat(120)}.dist-info/METADATA`;
    const uni = 'usr/share/doc/ünïcode/README';
    for (const format of ['gnu', 'pax'] as const) {
      const seen = await readTar(gnuTar({ [long]: 'Name: a\n', [uni]: 'x' }, format), 512);
      const files = seen.filter((s) => s.entry.type === 'file');
      assert.deepEqual(
        files.map((s) => [s.entry.name, s.data]),
        [
          [long, 'Name: a\n'],
          [uni, 'x'],
        ],
        format,
      );
    }
    // ustar: the prefix field carries the directories
    const deep = `${'d'.repeat(90)}/${'e'.repeat(40)}/file`;
    const seen = await readTar(gnuTar({ [deep]: 'z' }, 'ustar'));
    assert.deepEqual(seen.at(-1)!.entry.name, deep);
  });

  it('gives links and directories no data whatever their size field says, as containerd reads them', async () => {
    // a symbolic link claiming 1024 bytes of data, then what its "data" would hide: a dpkg database
    const hidden = Buffer.concat([header('var/lib/dpkg/status', { size: 11 }), padded('Package: x\n')]);
    const tar = Buffer.concat([header('etc/link', { type: '2', size: hidden.length, linkname: '/etc/passwd' }), hidden, Buffer.alloc(1024)]);
    const seen = await readTar(tar);
    assert.deepEqual(
      seen.map((s) => [s.entry.name, s.entry.type, s.entry.size, s.entry.linkname, s.data]),
      [
        ['etc/link', 'symlink', 0, '/etc/passwd', ''],
        ['var/lib/dpkg/status', 'file', 11, '', 'Package: x\n'],
      ],
    );
  });

  it('reads base-256 sizes and stops on a bad checksum, a huge special header or a stream that ends inside an entry', async () => {
    const size = Buffer.alloc(12);
    size[0] = 0x80;
    size[11] = 5;
    const b256 = Buffer.concat([header('f', { sizeField: size }), padded('hello'), Buffer.alloc(1024)]);
    assert.deepEqual(
      (await readTar(b256)).map((s) => s.data),
      ['hello'],
    );
    const bad = Buffer.from(b256);
    bad[0] = 0x67;
    await assert.rejects(readTar(bad), /Invalid tar header/);
    await assert.rejects(readTar(Buffer.concat([header('././@LongLink', { type: 'L', size: 2 * 1024 * 1024 }), Buffer.alloc(512)])), /over the 1048576-byte limit/);
    const tar = await tarLayer({ a: 'x'.repeat(2000) });
    await assert.rejects(readTar(tar.subarray(0, 1000)), /Unexpected end of data/);
    await assert.rejects(readTar(tar.subarray(0, 300)), /Unexpected end of data/);
  });

  it('waits for a sink that returns promises, and tells an unfinished entry when the stream fails', async () => {
    const order: string[] = [];
    let aborted = false;
    const reader = new TarReader((e) => ({
      write: async (c) => {
        await new Promise((r) => setTimeout(r, 1));
        order.push(`${e.name}:${c.length}`);
      },
      end: async () => {
        await new Promise((r) => setTimeout(r, 1));
        order.push(`${e.name}:end`);
      },
      abort: () => {
        aborted = true;
      },
    }));
    const tar = await tarLayer({ a: 'x'.repeat(600), b: 'y' });
    for (let i = 0; i < tar.length; i += 700) await reader.push(tar.subarray(i, i + 700));
    reader.end();
    assert.deepEqual(order, ['a:188', 'a:412', 'a:end', 'b:1', 'b:end']);
    const cut = new TarReader(() => ({
      write: () => undefined,
      end: () => undefined,
      abort: () => {
        aborted = true;
      },
    }));
    await cut.push(tar.subarray(0, 700));
    assert.throws(() => cut.end(), /Unexpected end of data/);
    cut.abort();
    assert.equal(aborted, true);
  });
});
