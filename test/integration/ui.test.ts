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
      assert.match(html, /<span class="num">Advisories<\/span><span>last updated never<\/span>/);
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

    it("says form errors in the reader's language, while the REST API keeps English", async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      const zh = { 'accept-language': 'zh-CN' };
      const text = async (res: Response, status: number) => {
        assert.equal(res.status, status);
        return res.text();
      };
      // Validation of a name.
      const badZh = await text(await b.post('/projects', { _csrf: csrf, name: 'Bad_Name' }, zh), 422);
      assert.match(badZh, /项目名称只能由小写字母和数字组成/);
      assert.doesNotMatch(badZh, /must be lowercase/);
      assert.match(await text(await b.post('/projects', { _csrf: csrf, name: 'Bad_Name' }), 422), /project name must be lowercase letters and digits/);
      // Duplicates: a project, a robot.
      assert.equal((await b.post('/projects', { _csrf: csrf, name: 'err-zh' })).status, 303);
      assert.match(await text(await b.post('/projects', { _csrf: csrf, name: 'err-zh' }, zh), 422), /项目“err-zh”已存在/);
      const robot = { _csrf: csrf, name: 'ci', project: 'err-zh', grant_project: 'err-zh', pull: '1' };
      assert.equal((await b.post('/projects/err-zh/robots', robot, zh)).status, 201);
      const twice = await text(await b.post('/projects/err-zh/robots', robot, zh), 422);
      assert.match(twice, /机器人账户“robot\$err-zh\+ci”已存在/);
      assert.doesNotMatch(twice, /already exists/);
      assert.match(await text(await b.post('/projects/err-zh/robots', robot), 422), /robot &quot;robot\$err-zh\+ci&quot; already exists|robot "robot\$err-zh\+ci" already exists/);
      // Not found, on the error page and in an htmx fragment.
      assert.match(await text(await b.fetch('/projects/no-such-zh', { headers: zh }), 404), /项目“no-such-zh”不存在/);
      assert.match(await text(await b.fetch('/projects/no-such-zh', { headers: { ...zh, 'hx-request': 'true' } }), 404), /<p class="error" role="alert">项目“no-such-zh”不存在<\/p>/);
      assert.match(await text(await b.fetch('/no/such/page', { headers: zh }), 404), /页面不存在/);
      // Permission refusals: a user who is not a system admin; a member without the right.
      const bob = new Browser(t);
      await bob.login('bob', 'bob-pw-123');
      assert.match(await text(await bob.fetch('/audit-logs', { headers: zh }), 403), /只有系统管理员可以执行此操作/);
      assert.match(await text(await bob.fetch('/audit-logs'), 403), /only system admins may do this/);
      await t.req('/api/v1/projects/err-zh/members', { method: 'POST', auth: ADMIN, json: { username: 'bob', role: 'guest' } });
      assert.match(await text(await bob.fetch('/projects/err-zh/settings', { headers: zh }), 403), /你无权在此项目中执行此操作/);
      // The CSRF refusal comes after the language is known.
      assert.match(await text(await b.post('/projects', { name: 'x1' }, zh), 403), /CSRF 令牌缺失或无效/);
      // REST: English whatever the Accept-Language.
      const api = await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'Bad_Name' }, headers: zh });
      assert.equal(api.status, 400);
      assert.match((await api.json()).errors[0].message, /^project name must be lowercase letters and digits/);
    });

    it("shows a project's robot accounts as its tab, with one translated heading and permissions", async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      assert.equal((await b.post('/projects', { _csrf: csrf, name: 'rb-tab' })).status, 303);
      assert.equal((await b.post('/projects/rb-tab/robots', { _csrf: csrf, name: 'ci', project: 'rb-tab', grant_project: 'rb-tab', pull: '1', push: '1' })).status, 201);
      const show = await (await b.fetch('/projects/rb-tab')).text();
      assert.match(show, /<a href="\/projects\/rb-tab\/robots">Robot accounts<\/a>/);
      const en = await (await b.fetch('/projects/rb-tab/robots')).text();
      assert.match(en, /<a href="\/projects">Projects<\/a> \/ rb-tab/, 'the project header');
      assert.match(en, /<a href="\/projects\/rb-tab\/robots" aria-current="page">Robot accounts<\/a>/, 'the tab, active');
      assert.match(en, /<h2>Robot accounts of <a href="\/projects\/rb-tab">rb-tab<\/a><\/h2>/);
      assert.match(en, /data-actions="pull,push">rb-tab: pull, push</);
      assert.match(en, /<form method="post" action="\/projects\/rb-tab\/robots"/);
      const zh = await (await b.fetch('/projects/rb-tab/robots', { headers: { 'accept-language': 'zh-CN' } })).text();
      assert.match(zh, /<h2><a href="\/projects\/rb-tab">rb-tab<\/a> 的机器人账户<\/h2>/);
      assert.match(zh, /data-actions="pull,push">rb-tab：拉取、推送</);
      assert.doesNotMatch(zh, /属于/);
      // The tab makes robots of its own project only, whatever the form names.
      assert.equal((await b.post('/projects', { _csrf: csrf, name: 'rb-other' })).status, 303);
      assert.equal((await b.post('/projects/rb-tab/robots', { _csrf: csrf, name: 'ci2', project: 'rb-other', grant_project: 'rb-other', pull: '1' })).status, 201);
      const made = await (await b.fetch('/api/v1/robots?project=rb-tab')).json();
      assert.ok(
        made.items.some((r: { name: string }) => r.name === 'robot$rb-tab+ci2'),
        JSON.stringify(made.items.map((r: { name: string }) => r.name)),
      );
      // The old address leads to the tab.
      const old = await b.fetch('/robots?project=rb-tab');
      assert.equal(old.status, 302);
      assert.equal(old.headers.get('location'), '/projects/rb-tab/robots');
      // Someone who may not manage the project's robots gets no tab and no list.
      const bob = new Browser(t);
      await bob.login('bob', 'bob-pw-123');
      await t.req('/api/v1/projects/rb-tab/members', { method: 'POST', auth: ADMIN, json: { username: 'bob', role: 'developer' } });
      assert.doesNotMatch(await (await bob.fetch('/projects/rb-tab')).text(), /\/robots"/);
      assert.equal((await bob.fetch('/projects/rb-tab/robots')).status, 403);
    });

    it('offers "critical" (not "critical or higher") as the top blocking level, in both languages', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      assert.equal((await b.post('/projects', { _csrf: csrf, name: 'sev-sel' })).status, 303);
      const en = await (await b.fetch('/projects/sev-sel/settings')).text();
      assert.match(en, /<option value="high"[^>]*>high or higher<\/option><option value="critical"[^>]*>critical<\/option>/);
      const zh = await (await b.fetch('/projects/sev-sel/settings', { headers: { 'accept-language': 'zh-CN' } })).text();
      assert.match(zh, /<option value="high"[^>]*>高危及以上<\/option><option value="critical"[^>]*>严重<\/option>/);
    });

    it('names audit actions, resource types, job types and states in the page language, keeping the raw values in data attributes (not as tooltips)', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const csrf = await b.csrf();
      assert.equal((await b.post('/projects', { _csrf: csrf, name: 'audit-zh' })).status, 303);
      const zh = { headers: { 'accept-language': 'zh-CN' } };
      const audit = await (await b.fetch('/audit-logs', zh)).text();
      assert.match(audit, /<td data-action="login">登录<\/td>/);
      assert.match(audit, /<td data-action="create">创建<\/td><td><span class="muted" data-type="project">项目<\/span> audit-zh/);
      assert.match(audit, /data-type="user">用户</);
      // A code as a tooltip is English on a Chinese page (the newcomer walkthrough read `add_member` there).
      assert.doesNotMatch(audit, /title="(?:login|create|project|user)"/);
      assert.match(await (await b.fetch('/audit-logs')).text(), /<td data-action="create">create<\/td><td><span class="muted" data-type="project">project<\/span> audit-zh/);
      const queued = await t.req('/api/v1/system/reconcile', { method: 'POST', auth: ADMIN });
      assert.equal(queued.status, 202);
      const jobs = await (await b.fetch('/jobs', zh)).text();
      assert.match(jobs, /<td data-type="reconcile"><span>对账同步<\/span>/);
      assert.match(jobs, /<option value="scan-all">全部扫描<\/option>/);
      assert.match(jobs, /data-status="(pending|scheduled|running|success|error)">(等待中|已调度|运行中|成功|错误)</);
      assert.doesNotMatch(jobs, />reconcile</);
    });

    it('asks the admin to change the password generated at first start, until they do', async () => {
      const fresh = await startTestApp(dialect, { BERTH_ADMIN_PASSWORD: '' });
      try {
        const generated = fresh.generatedAdminPassword;
        assert.ok(generated && generated.length >= 16);
        const b = new Browser(fresh);
        assert.equal((await b.login('admin', generated)).status, 303);
        const notice = /<div class="banner banner-password" role="alert">([^<]*)<a href="\/account\/password">([^<]*)<\/a><\/div>/;
        assert.match(await (await b.fetch('/')).text(), notice);
        const zh = notice.exec(await (await b.fetch('/projects', { headers: { 'accept-language': 'zh-CN' } })).text());
        assert.match(zh?.[1] ?? '', /首次启动时生成的密码/);
        // Another system admin, with a password of their own, is not asked.
        await fresh.req('/api/v1/users', { method: 'POST', auth: ['admin', generated], json: { username: 'ops', password: 'ops-pw-1234', admin: true } });
        const ops = new Browser(fresh);
        await ops.login('ops', 'ops-pw-1234');
        assert.doesNotMatch(await (await ops.fetch('/')).text(), /banner-password/);
        // A wrong current password changes nothing; the right one clears the notice for good.
        const csrf = await b.csrf();
        assert.equal((await b.post('/account/password', { _csrf: csrf, old_password: 'wrong-one', new_password: 'admin-chosen-1', confirm_password: 'admin-chosen-1' })).status, 422);
        assert.match(await (await b.fetch('/')).text(), /banner-password/);
        // A confirmation that differs (or is missing) changes nothing, and says why, with the rules the form states.
        for (const confirm of ['admin-chosen-2', undefined]) {
          const res = await b.post('/account/password', { _csrf: csrf, old_password: generated, new_password: 'admin-chosen-1', ...(confirm ? { confirm_password: confirm } : {}) });
          assert.equal(res.status, 422);
          const html = await res.text();
          assert.match(html, /role="alert">The new password and its confirmation differ\. Nothing was changed\./);
          assert.match(html, /At least 8 and at most 256 characters\./);
        }
        assert.match(await (await b.fetch('/')).text(), /banner-password/);
        assert.equal((await new Browser(fresh).login('admin', generated)).status, 303, 'the password is unchanged');
        assert.equal((await b.post('/account/password', { _csrf: csrf, old_password: generated, new_password: 'admin-chosen-1', confirm_password: 'admin-chosen-1' })).status, 303);
        assert.doesNotMatch(await (await b.fetch('/')).text(), /banner-password/);
        // A restart generates nothing and asks nothing.
        const again = await fresh.restart();
        assert.equal(again.generatedAdminPassword, null);
        const b2 = new Browser(again);
        assert.equal((await b2.login('admin', 'admin-chosen-1')).status, 303);
        assert.doesNotMatch(await (await b2.fetch('/')).text(), /banner-password/);
        await again.close({ drop: true });
      } catch (err) {
        await fresh.close({ drop: true }).catch(() => {});
        throw err;
      }
    });

    it('marks "Browser default" as the language choice until the user picks one', async () => {
      const b = new Browser(t);
      await b.login('admin', ADMIN_PASSWORD);
      const selected = async () =>
        [...(await (await b.fetch('/projects', { headers: { 'accept-language': 'zh-CN' } })).text()).matchAll(/<option value="([^"]+)" selected>/g)]
          .map((m) => m[1])
          .filter((v) => ['en', 'zh-CN', 'auto'].includes(v!));
      assert.deepEqual(await selected(), ['auto']);
      const csrf = await b.csrf();
      assert.equal((await b.post('/language', { _csrf: csrf, lang: 'zh-CN', next: '/projects' })).status, 303);
      assert.deepEqual(await selected(), ['zh-CN']);
      assert.equal((await b.post('/language', { _csrf: csrf, lang: 'auto', next: '/projects' })).status, 303);
      assert.deepEqual(await selected(), ['auto']);
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
