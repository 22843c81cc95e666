/**
 * Token issuing over HTTP with wrk (64 connections): Berth's /service/token for an anonymous pull of a public project
 * and for a robot, each ÷ a bare Node HTTP server that only signs one ES256 JWT per request, measured in the same run.
 * The bar is ≥ 0.7 for both.
 */
import http from 'node:http';
import { randomBytes, sign } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ADMIN, basic } from '../test/helpers/app.js';
import { startInstance } from '../test/helpers/registry.js';
import { wrkRate } from './wrk.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

export async function benchTokens(): Promise<{ name: string; ratio: number; detail: string }[]> {
  const b = await startInstance('sqlite');
  const key = b.services.tokens.keys.privateKey;
  const header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256' })).toString('base64url');
  // The baseline: the least a token server can do per request.
  const bare = http.createServer((_req, res) => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: 'bench', sub: '', aud: 'bench', exp: now + 300, nbf: now, iat: now, jti: randomBytes(16).toString('base64url'), access: [{ type: 'repository', name: 'pub/app', actions: ['pull'] }] };
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    const body = JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
  try {
    await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pub', public: true } });
    const robot = await (await b.api('/api/v1/robots', { method: 'POST', auth: ADMIN, json: { name: 'ci', permissions: [{ project: 'pub', actions: ['pull', 'push'] }] } })).json();
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/token`;
    const anonUrl = `${b.url}/service/token?service=berth-registry&scope=repository:pub/app:pull`;
    const robotUrl = `${b.url}/service/token?service=berth-registry&scope=repository:pub/app:pull,push`;
    const robotHeaders = { authorization: basic(robot.name, robot.secret) };
    for (const [u, h] of [[anonUrl, {}], [robotUrl, robotHeaders], [bareUrl, {}]] as const) await wrkRate(u, { connections: 8, seconds: 1, headers: h });
    const base1 = await wrkRate(bareUrl, { connections: 64, seconds: SECONDS });
    const anon = await wrkRate(anonUrl, { connections: 64, seconds: SECONDS });
    const rob = await wrkRate(robotUrl, { connections: 64, seconds: SECONDS, headers: robotHeaders });
    const base2 = await wrkRate(bareUrl, { connections: 64, seconds: SECONDS });
    const base = (base1 + base2) / 2;
    return [
      { name: 'token issue, anonymous public pull', ratio: anon / base, detail: `${anon.toFixed(0)} tokens/s; bare ES256 server ${base.toFixed(0)}/s` },
      { name: 'token issue, robot', ratio: rob / base, detail: `${rob.toFixed(0)} tokens/s; bare ES256 server ${base.toFixed(0)}/s` },
    ];
  } finally {
    bare.close();
    await b.destroy();
  }
}
