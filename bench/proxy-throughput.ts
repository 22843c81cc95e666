/**
 * /v2 proxy throughput: a 200 MiB blob pushed (monolithic PUT) and pulled through core's proxy, against the same
 * client talking to the registry directly, in the same run. Prints MiB/s and the ratio proxy/direct (goal ≥ 0.9).
 * The client is curl in its own process, as docker or podman would be: a client inside core's event loop would
 * charge its own work to the proxy.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ADMIN } from '../test/helpers/app.js';
import { run, startInstance } from '../test/helpers/registry.js';

const SIZE = Number(process.env.BENCH_BLOB_MIB ?? 200) * 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const agent = new http.Agent({ keepAlive: true });

function request(url: string, init: { method: string; headers?: Record<string, string>; body?: Buffer }): Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers, agent }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchProxy(): Promise<{ name: string; ratio: number; detail: string }[]> {
  const b = await startInstance('sqlite');
  try {
    await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'bench' } });
    const token = b.services.tokens.sign('admin', [{ type: 'repository', name: 'bench/blob', actions: ['pull', 'push'] }], 3600).token;
    const auth = { authorization: `Bearer ${token}` };
    const data = randomBytes(SIZE);
    const file = path.join(b.config.dataDir, 'bench-blob');
    const direct = b.services.registryUrl();
    const viaCore = b.url;

    const pushOnce = async (base: string): Promise<{ ms: number; digest: string }> => {
      data.writeUInt32BE((Math.random() * 2 ** 32) >>> 0, 0);
      data.writeUInt32BE((Math.random() * 2 ** 32) >>> 0, 4);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const start = await request(`${base}/v2/bench/blob/blobs/uploads/`, { method: 'POST', headers: { ...auth, 'content-length': '0' } });
      if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
      const loc = new URL(String(start.headers.location), base);
      const target = `${base}${loc.pathname}${loc.search}${loc.search ? '&' : '?'}digest=${digest}`;
      fs.writeFileSync(file, data);
      const { stdout } = await run('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{time_total}',
        '-X',
        'PUT',
        '-H',
        `Authorization: ${auth.authorization}`,
        '-H',
        'Content-Type: application/octet-stream',
        '-T',
        file,
        target,
      ]);
      const [status, secs] = stdout.trim().split(' ');
      if (status !== '201') throw new Error(`upload: ${status}`);
      return { ms: Number(secs) * 1000, digest };
    };
    const pullOnce = async (base: string, digest: string): Promise<number> => {
      const { stdout } = await run('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_download} %{time_total}',
        '-H',
        `Authorization: ${auth.authorization}`,
        `${base}/v2/bench/blob/blobs/${digest}`,
      ]);
      const [status, bytes, secs] = stdout.trim().split(' ');
      if (status !== '200' || Number(bytes) !== SIZE) throw new Error(`pull: ${status} ${bytes}`);
      return Number(secs) * 1000;
    };

    const push = { direct: [] as number[], core: [] as number[] };
    const pull = { direct: [] as number[], core: [] as number[] };
    let digest = '';
    for (let i = 0; i < RUNS; i++) {
      // alternate the order so neither side always runs on a warmer machine
      for (const side of i % 2 ? (['core', 'direct'] as const) : (['direct', 'core'] as const)) {
        const r = await pushOnce(side === 'core' ? viaCore : direct);
        push[side].push(r.ms);
        digest = r.digest;
      }
      for (const side of i % 2 ? (['core', 'direct'] as const) : (['direct', 'core'] as const)) pull[side].push(await pullOnce(side === 'core' ? viaCore : direct, digest));
    }
    const mibs = (ms: number) => (SIZE / 1024 / 1024 / (ms / 1000)).toFixed(0);
    const out = [];
    for (const [name, m] of [
      ['blob push', push],
      ['blob pull', pull],
    ] as const) {
      const d = median(m.direct);
      const c = median(m.core);
      out.push({ name: `proxy ${name} ${SIZE / 1024 / 1024} MiB`, ratio: d / c, detail: `direct ${mibs(d)} MiB/s, through core ${mibs(c)} MiB/s (median of ${RUNS})` });
    }
    return out;
  } finally {
    await b.destroy();
  }
}
