import assert from 'node:assert/strict';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN, basic, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { eventually } from '../helpers/registry.js';
import { createHttpServer } from '../../src/server.js';

/** What the server may read of a hostile body before it answers: far below the body the client announces. */
const CAP = 24 * 1024 * 1024;
const ANNOUNCED = 300 * 1024 * 1024;

interface Answer {
  status: number;
  sent: number;
  body: string;
}

/**
 * Streams a body of `ANNOUNCED` bytes (prefix, then zeros) and stops at the first answer. Fails when CAP bytes went
 * out without an answer: the server was reading the body before deciding. No clock is involved: the client sends
 * only as fast as the server's socket takes bytes, so a server that does not read gets no more than its buffers.
 */
function streamUntilAnswered(port: number, path: string, headers: Record<string, string>, prefix = Buffer.alloc(0), chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers: chunked ? headers : { ...headers, 'content-length': String(ANNOUNCED) } });
    let sent = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, sent, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      });
      res.on('error', () => resolve({ status: res.statusCode!, sent, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const zeros = Buffer.alloc(64 * 1024);
    req.write(prefix);
    sent += prefix.length;
    const pump = () => {
      while (!answered) {
        if (sent >= CAP) {
          req.destroy();
          reject(new Error(`${path}: ${sent} bytes sent and no answer yet: the body was read before the request was refused`));
          return;
        }
        sent += zeros.length;
        if (!req.write(zeros)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

const BOUNDARY = '----berthprobe';
const multipartPrefix = (csrf: string | null) =>
  Buffer.from(
    (csrf === null ? '' : `--${BOUNDARY}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n`) +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="all.zip"\r\nContent-Type: application/zip\r\n\r\n`,
  );

/** Signs in through the real listener; returns the session cookie and its CSRF token. */
async function uiSession(base: string, user: [string, string]): Promise<{ cookie: string; csrf: string }> {
  const form = await fetch(`${base}/login`);
  const loginCookie = form.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .join('; ');
  const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: token, username: user[0], password: user[1], next: '/' }),
  });
  assert.equal(res.status, 303);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .filter((c) => c.startsWith('berth_session='))
    .join('; ');
  const page = await (await fetch(`${base}/account/password`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page)![1]! };
}

for (const dialect of testDialects()) {
  describe(`security probes: request bodies are refused before they are read [${dialect}]`, () => {
    let t: TestApp;
    let server: Server;
    let port: number;
    let base: string;
    let guest: [string, string];
    before(async () => {
      t = await startTestApp(dialect);
      server = createHttpServer(t.services, t.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      port = (server.address() as AddressInfo).port;
      base = `http://127.0.0.1:${port}`;
      guest = await createUser(t, 'guest2', 'guest2-pw-1234');
    });
    after(async () => {
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      await t?.close({ drop: true });
    });

    it('a guest’s 300 MiB UI upload with a valid CSRF token is refused (403) while it is still being sent', async () => {
      const s = await uiSession(base, guest);
      const a = await streamUntilAnswered(port, '/vulndb/import', { cookie: s.cookie, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, multipartPrefix(s.csrf));
      assert.equal(a.status, 403);
      assert.ok(a.sent < ANNOUNCED);
    });

    it('a signed-in upload without a CSRF token (or with it after the file) is refused while it is still being sent', async () => {
      const s = await uiSession(base, guest);
      for (const chunked of [false, true]) {
        for (const path of ['/vulndb/import', '/api/v1/vulndb/import', '/projects']) {
          const a = await streamUntilAnswered(port, path, { cookie: s.cookie, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, multipartPrefix(null), chunked);
          // A form route refuses an announced 300 MiB by its length (413) before anything else.
          if (path === '/projects' && !chunked) {
            assert.equal(a.status, 413);
            continue;
          }
          assert.equal(a.status, 403, `${path} chunked=${chunked}`);
          assert.match(a.body, /CSRF/, path);
        }
      }
      const admin = await uiSession(base, ADMIN);
      const a = await streamUntilAnswered(port, '/vulndb/import', { cookie: admin.cookie, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, multipartPrefix(null));
      assert.equal(a.status, 403, 'even an admin’s form needs its token first');
    });

    it('REST: guests (403) and anonymous callers (401) are refused before their upload is read, chunked or not', async () => {
      for (const chunked of [false, true]) {
        const g = await streamUntilAnswered(port, '/api/v1/vulndb/import', { authorization: basic(...guest), 'content-type': 'application/zip' }, Buffer.alloc(0), chunked);
        assert.equal(g.status, 403, `guest, chunked=${chunked}`);
        const anon = await streamUntilAnswered(port, '/api/v1/vulndb/import', { 'content-type': 'application/zip' }, Buffer.alloc(0), chunked);
        assert.equal(anon.status, 401, `anonymous, chunked=${chunked}`);
        const wrong = await streamUntilAnswered(port, '/api/v1/vulndb/import', { authorization: basic('guest2', 'not-the-password'), 'content-type': 'application/json' }, Buffer.from('['), chunked);
        assert.equal(wrong.status, 401, `bad password, chunked=${chunked}`);
      }
    });

    it('every other route has a default body limit (413 after at most the limit, chunked or not)', async () => {
      for (const chunked of [false, true]) {
        for (const [path, headers] of [
          ['/api/v1/projects', { authorization: basic(...guest), 'content-type': 'application/json' }],
          ['/service/token', {}],
          ['/login', { 'content-type': 'application/x-www-form-urlencoded' }],
          ['/nothing-here', { 'content-type': 'text/plain' }],
        ] as const) {
          const a = await streamUntilAnswered(port, path, headers, Buffer.from('{"name":"'), chunked);
          assert.ok([413, 403, 404, 405].includes(a.status), `${path} chunked=${chunked}: ${a.status}`);
        }
      }
      const big = await streamUntilAnswered(port, '/api/v1/projects', { authorization: basic(...guest), 'content-type': 'application/json' }, Buffer.from('{"name":"'), true);
      assert.equal(big.status, 413);
    });

    it('admins upload through a bounded number of slots: a third concurrent upload waits its turn (503)', async () => {
      const open: http.ClientRequest[] = [];
      const started = async () => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/vulndb/import',
          headers: { authorization: basic(...ADMIN), 'content-type': 'application/zip', 'content-length': String(10 * 1024 * 1024) },
        });
        req.on('error', () => {});
        req.write(Buffer.alloc(1024));
        open.push(req);
      };
      try {
        await started();
        await started();
        // The two uploads hold their slots once the server has begun receiving them.
        await eventually(async () => t.services.uploads.inUse === 2, 20_000);
        const third = await streamUntilAnswered(port, '/api/v1/vulndb/import', { authorization: basic(...ADMIN), 'content-type': 'application/zip' });
        assert.equal(third.status, 503);
      } finally {
        for (const r of open) r.destroy();
      }
      // Slots come back when the clients go away.
      await eventually(async () => t.services.uploads.inUse === 0, 20_000);
    });

    it('an admin’s uploads still import (REST JSON, REST multipart, UI form)', async () => {
      const record = (id: string) => ({
        id,
        modified: '2024-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'PyPI', name: 'probe' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0' }] }] }],
      });
      const json = await fetch(`${base}/api/v1/vulndb/import`, {
        method: 'POST',
        headers: { authorization: basic(...ADMIN), 'content-type': 'application/json' },
        body: JSON.stringify([record('PROBE-1')]),
      });
      assert.equal(json.status, 200, await json.clone().text());
      assert.equal((await json.json()).imported, 1);
      const fd = new FormData();
      fd.append('file', new Blob([JSON.stringify(record('PROBE-2'))], { type: 'application/json' }), 'probe.json');
      const mp = await fetch(`${base}/api/v1/vulndb/import`, { method: 'POST', headers: { authorization: basic(...ADMIN) }, body: fd });
      assert.equal(mp.status, 200, await mp.clone().text());
      assert.equal((await mp.json()).imported, 1);
      const bad = await fetch(`${base}/api/v1/vulndb/import`, { method: 'POST', headers: { authorization: basic(...ADMIN), 'content-type': 'application/json' }, body: '{nope' });
      assert.equal(bad.status, 400);
      const s = await uiSession(base, ADMIN);
      const ui = new FormData();
      ui.append('_csrf', s.csrf);
      ui.append('file', new Blob([JSON.stringify(record('PROBE-3'))], { type: 'application/json' }), 'probe3.json');
      const page = await fetch(`${base}/vulndb/import`, { method: 'POST', headers: { cookie: s.cookie }, body: ui });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /1 new/);
      assert.equal(t.services.uploads.inUse, 0);
    });
  });
}
