import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

const XSS = '<script>alert(1)</script>';

for (const dialect of testDialects()) {
  describe(`UI [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      await createUser(t, 'bob');
    });
    after(async () => t?.close({ drop: true }));

    it('sends anonymous visitors to /login', async () => {
      const res = await new Browser(t).fetch('/projects?q=x');
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/login?next=%2Fprojects%3Fq%3Dx');
    });

    it('signs in with the login form, sets a hardened cookie, signs out', async () => {
      const b = new Browser(t);
      const res = await b.login('admin', ADMIN_PASSWORD);
      assert.equal(res.status, 303);
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('berth_session='))!;
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Lax/i);
      const dash = await b.fetch('/');
      assert.equal(dash.status, 200);
      const html = await dash.text();
      assert.match(html, /Dashboard/);
      assert.match(html, /jobs queued or running/);
      assert.match(html, /advisories updated never/);
      assert.match(html, /Content-Security-Policy|<main/);
      assert.ok(dash.headers.get('content-security-policy'));
      const csrf = await b.csrf();
      assert.equal((await b.post('/logout', { _csrf: csrf })).status, 303);
      assert.equal((await b.fetch('/')).status, 303);
    });

    it('a wrong password re-shows the form with an escaped message and username', async () => {
      const b = new Browser(t);
      const res = await b.login(XSS, 'nope');
      assert.equal(res.status, 401);
      const html = await res.text();
      assert.ok(!html.includes(XSS));
      assert.ok(html.includes('&lt;script&gt;'));
    });

    it('refuses a login post without the form token (login CSRF)', async () => {
      const b = new Browser(t);
      const res = await b.post('/login', { username: 'admin', password: ADMIN_PASSWORD });
      assert.equal(res.status, 403);
    });

    it('refuses a cross-site form post and a post without the CSRF token', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      const cross = await b.post('/projects', { _csrf: csrf, name: 'evil1' }, { origin: 'https://evil.example' });
      assert.equal(cross.status, 403);
      const noToken = await b.post('/projects', { name: 'evil2' });
      assert.equal(noToken.status, 403);
      const wrongToken = await b.post('/projects', { name: 'evil3', _csrf: 'x'.repeat(32) });
      assert.equal(wrongToken.status, 403);
      // The same cookie on the JSON API without the header is refused too.
      const api = await b.fetch('/api/v1/projects', { method: 'POST', body: JSON.stringify({ name: 'evil4' }), headers: { 'content-type': 'application/json' } });
      assert.equal(api.status, 403);
      const list = await (await t.req('/api/v1/projects', { auth: ADMIN })).json();
      assert.ok(!list.items.some((p: { name: string }) => p.name.startsWith('evil')));
    });

    it('creates a project with the form (PRG), lists, searches and paginates', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      const res = await b.post('/projects', { _csrf: csrf, name: 'web-ui', public: 'true' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/projects/web-ui');
      const show = await (await b.fetch('/projects/web-ui')).text();
      assert.match(show, /Project web-ui created/);
      for (let i = 0; i < 21; i++) await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: `bulk${String(i).padStart(2, '0')}` } });
      const list = await (await b.fetch('/projects')).text();
      assert.match(list, /Page 1 of 2/);
      assert.match(list, /href="\/projects\/bulk00"/);
      const p2 = await (await b.fetch('/projects?page=2')).text();
      assert.match(p2, /web-ui/);
      const found = await (await b.fetch('/projects?q=web')).text();
      assert.match(found, /web-ui/);
      assert.doesNotMatch(found, /bulk00/);
    });

    it("asks for Docker's insecure-registries only where Docker needs it", async () => {
      // Served at http://127.0.0.1: Docker's default insecure range (127.0.0.0/8) covers it; podman needs the flag.
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'howto-local' } });
      const local = await (await b.fetch('/projects/howto-local')).text();
      assert.match(local, /podman login --tls-verify=false 127\.0\.0\.1:8080/);
      assert.doesNotMatch(local, /insecure-registries/);
      for (const [url, hint] of [
        ['http://registry.lab.example:8080', true],
        ['https://registry.lab.example', false],
      ] as const) {
        const other = await startTestApp(dialect, { BERTH_EXTERNAL_URL: url });
        try {
          const ob = new Browser(other);
          await ob.login('admin', ADMIN_PASSWORD);
          await other.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'howto' } });
          const html = await (await ob.fetch('/projects/howto')).text();
          assert.match(html, /podman login (--tls-verify=false )?registry\.lab\.example/);
          assert.equal(/insecure-registries/.test(html), hint, url);
        } finally {
          await other.close({ drop: true });
        }
      }
    });

    it('links the REST API documentation from every page, signed in or not', async () => {
      const b = new Browser(t);
      assert.match(await (await b.fetch('/login')).text(), /<a href="\/api\/docs">REST API<\/a>/);
      await b.login('admin', ADMIN_PASSWORD);
      assert.match(await (await b.fetch('/projects')).text(), /<a href="\/api\/docs">REST API<\/a>/);
      assert.match(await (await b.fetch('/projects', { headers: { 'accept-language': 'zh-CN' } })).text(), /<a href="\/api\/docs">REST API 文档<\/a>/);
      assert.equal((await b.fetch('/api/docs')).status, 200);
    });

    it("names the caller's project role in the page's language", async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      assert.equal((await b.post('/projects', { _csrf: csrf, name: 'role-zh' })).status, 303);
      assert.match(await (await b.fetch('/projects/role-zh')).text(), /your role: admin</);
      const zh = await (await b.fetch('/projects/role-zh', { headers: { 'accept-language': 'zh-CN' } })).text();
      assert.match(zh, /您的角色：管理员</);
    });

    it('escapes script payloads everywhere a person sees them', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const search = await (await b.fetch(`/projects?q=${encodeURIComponent(XSS)}`)).text();
      assert.ok(!search.includes(XSS));
      assert.ok(search.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
      const csrf = await b.csrf();
      const bad = await b.post('/projects', { _csrf: csrf, name: XSS });
      assert.equal(bad.status, 422);
      const html = await bad.text();
      assert.ok(!html.includes(XSS));
      const users = await (await b.fetch(`/users?q=${encodeURIComponent('"><img src=x onerror=alert(1)>')}`)).text();
      assert.ok(!users.includes('<img src=x'));
      const audit = await (await b.fetch(`/audit-logs?resource=${encodeURIComponent(XSS)}`)).text();
      assert.ok(!audit.includes(XSS));
    });

    it('manages members with htmx fragments and without JavaScript', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      // htmx: CSRF in the header, fragment back
      const add = await b.post('/projects/web-ui/members', { username: 'bob', role: 'guest' }, { 'hx-request': 'true', 'x-csrf-token': csrf });
      assert.equal(add.status, 200);
      const frag = await add.text();
      assert.doesNotMatch(frag, /<html/);
      assert.match(frag, /id="members-table"/);
      assert.match(frag, /bob/);
      const bobId = /id="member-(\d+)">\s*<td>bob<\/td>/.exec(frag)?.[1];
      assert.ok(bobId, 'bob row present');
      // an error is swapped in with 422
      const dup = await b.post('/projects/web-ui/members', { username: 'bob', role: 'guest' }, { 'hx-request': 'true', 'x-csrf-token': csrf });
      assert.equal(dup.status, 422);
      assert.match(await dup.text(), /already a member/);
      // no JS: change role with a plain form post, redirected back
      const role = await b.post(`/projects/web-ui/members/${bobId}/role`, { _csrf: csrf, role: 'developer' });
      assert.equal(role.status, 303);
      const members = await (await b.fetch('/projects/web-ui/members')).text();
      assert.match(members, /<option value="developer" selected>/);
      // no JS: remove asks for confirmation first
      const confirm = await b.fetch(`/projects/web-ui/members/${bobId}/remove`);
      assert.equal(confirm.status, 200);
      assert.match(await confirm.text(), /Remove bob from web-ui\?/);
      const removed = await b.post(`/projects/web-ui/members/${bobId}/remove`, { _csrf: csrf });
      assert.equal(removed.status, 303);
      const after = await (await t.req('/api/v1/projects/web-ui/members', { auth: ADMIN })).json();
      assert.ok(!after.items.some((m: { username: string }) => m.username === 'bob'));
    });

    it('keeps the users page for system admins', async () => {
      const b = new Browser(t);
      await b.login('bob', 'bob-pw-123');
      assert.equal((await b.fetch('/users')).status, 403);
      assert.equal((await b.fetch('/audit-logs')).status, 403);
      const a = new Browser(t);
      await a.login(...ADMIN);
      const csrf = await a.csrf();
      const created = await a.post('/users', { _csrf: csrf, username: 'carol', password: 'carol-pw-123', email: '' });
      assert.equal(created.status, 303);
      const page = await (await a.fetch('/users?q=carol')).text();
      assert.match(page, /carol/);
    });

    it('oversized form bodies get 413', async () => {
      const b = new Browser(t);
      await b.login(...ADMIN);
      const csrf = await b.csrf();
      const res = await b.post('/projects', { _csrf: csrf, name: 'x'.repeat(300 * 1024) });
      assert.equal(res.status, 413);
    });

    it('serves htmx from its package and our stylesheet', async () => {
      const js = await t.req('/static/vendor/htmx.min.js');
      assert.equal(js.status, 200);
      assert.match(await js.text(), /htmx/);
      assert.equal((await t.req('/static/css/berth.css')).status, 200);
      assert.equal((await t.req('/static/../package.json')).status, 404);
      assert.equal((await t.req('/static/%2e%2e/package.json')).status, 404);
    });
  });
}
