/**
 * Token issuing through the whole HTTP stack (robot credentials, one scope), against the bare ES256 signature the
 * token is built on, in the same run. The ratio says what share of raw signing speed the endpoint keeps.
 */
import { sign } from 'node:crypto';
import { ADMIN, startTestApp } from '../test/helpers/app.js';

const N = Number(process.env.BENCH_TOKENS ?? 3000);

export async function benchTokens(): Promise<{ name: string; ratio: number; detail: string }[]> {
  const t = await startTestApp('sqlite');
  try {
    await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'bench' } });
    const robot = await (await t.req('/api/v1/robots', { method: 'POST', auth: ADMIN, json: { name: 'ci', permissions: [{ project: 'bench', actions: ['pull', 'push'] }] } })).json();
    const auth: [string, string] = [robot.name, robot.secret];
    const key = t.services.tokens.keys.privateKey;
    const payload = Buffer.from('x'.repeat(400));
    let t0 = performance.now();
    for (let i = 0; i < N; i++) sign('sha256', payload, { key, dsaEncoding: 'ieee-p1363' });
    const rawPerSec = N / ((performance.now() - t0) / 1000);
    const url = '/service/token?service=berth-registry&scope=repository:bench/app:pull,push';
    for (let i = 0; i < 50; i++) await t.req(url, { auth });
    t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const res = await t.req(url, { auth });
      if (res.status !== 200) throw new Error(`token: ${res.status}`);
      await res.arrayBuffer();
    }
    const perSec = N / ((performance.now() - t0) / 1000);
    return [{ name: 'token issue (robot, 1 scope)', ratio: perSec / rawPerSec, detail: `${perSec.toFixed(0)} tokens/s through the endpoint, raw ES256 signing ${rawPerSec.toFixed(0)}/s` }];
  } finally {
    await t.close({ drop: true });
  }
}
