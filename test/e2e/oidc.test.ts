import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ADMIN } from '../helpers/app.js';
import { launchChromium, shot } from '../helpers/browser.js';
import { testDialects } from '../helpers/db.js';
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { buildImage, fails, push, startInstance, type Instance } from '../helpers/registry.js';

type Access = { type: string; name: string; actions: string[] };

// The "done when": an OIDC user signs in through the browser flow and pushes with their CLI secret.
for (const dialect of testDialects()) {
  describe(`OpenID Connect sign-in with oidc-provider and Chromium [${dialect}]`, () => {
    let b: Instance;
    let op: TestProvider;
    let browser: Browser;
    before(async () => {
      b = await startInstance(dialect);
      op = await startOidcProvider(b.url);
      browser = await launchChromium();
      const res = await b.api('/api/v1/system/auth', {
        method: 'PUT',
        auth: ADMIN,
        json: { mode: 'oidc', oidc: { issuer: op.issuer, client_id: OIDC_CLIENT_ID, client_secret: OIDC_CLIENT_SECRET, admin_group: 'berth-admins', accept_id_token: true } },
      });
      assert.equal(res.status, 200, await res.clone().text());
      const view = await res.json();
      assert.equal(view.oidc.client_secret_set, 'settings');
      assert.ok(!JSON.stringify(view).includes(OIDC_CLIENT_SECRET));
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'oproj' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects/oproj/members', { method: 'POST', auth: ADMIN, json: { group: 'oidc-devs', role: 'developer' } })).status, 201);
    });
    after(async () => {
      await browser?.close();
      await b?.destroy();
      await op?.close();
    });

    const access = async (scope: string, auth: [string, string]): Promise<{ status: number; actions: string[] }> => {
      const res = await b.api(`/service/token?service=berth-registry&scope=${encodeURIComponent(scope)}`, { auth });
      if (res.status !== 200) return { status: res.status, actions: [] };
      const body = await res.json();
      return { status: 200, actions: (JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()).access as Access[])[0]!.actions };
    };

    it('signs in through the provider (PKCE, state, nonce), pushes with the CLI secret, and signs out at the provider', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      try {
        await page.goto(`${b.url}/login`);
        await page.click('#oidc-login');
        await page.waitForURL((u) => u.href.startsWith(op.issuer));
        await page.fill('input[name=login]', 'olivia');
        await page.fill('input[name=password]', 'anything');
        await page.click('button[type=submit]');
        await page.click('button:has-text("Continue")'); // consent
        await page.waitForURL(`${b.url}/`);
        assert.match((await page.textContent('.usermenu')) ?? '', /olivia/);

        // the user was created with the provider's groups; the group's project role applies
        const u = await b.services.accounts.getUserByName('olivia');
        assert.equal(u?.authSource, 'oidc');
        assert.equal(u?.email, 'olivia@example.org');
        await page.goto(`${b.url}/account/profile`);
        assert.match(await page.content(), /oidc-devs/);
        await page.click('#cli-secret-generate');
        const secret = ((await page.textContent('#cli-secret')) ?? '').trim();
        assert.ok(secret.length >= 30);
        await page.screenshot({ path: shot('oidc-profile') });

        await push(await buildImage({ 'etc/motd': 'from oidc' }), `docker://${b.host}/oproj/app:v1`, ['olivia', secret]);
        assert.deepEqual((await access('repository:oproj/app:pull,push', ['olivia', secret])).actions, ['pull', 'push']);
        assert.match(
          await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', 'olivia:not-the-secret', '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/oproj/app:v2`]),
          /401|unauthorized|invalid username\/password/i,
        );

        // an ID token from the provider works as the password too (enabled above); it belongs to its user only
        const idToken = (await ctx.cookies()).find((c) => c.name === 'berth_oidc_logout')?.value;
        assert.ok(idToken);
        assert.deepEqual((await access('repository:oproj/app:push', ['olivia', idToken])).actions, ['push']);
        assert.equal((await access('repository:oproj/app:push', ['oscar', idToken])).status, 401);
        assert.equal((await access('repository:oproj/app:push', ['olivia', `${idToken.slice(0, -4)}AAAA`])).status, 401, 'a forged signature');

        // a new secret replaces the old one at once
        await page.click('#cli-secret-generate');
        const secret2 = ((await page.textContent('#cli-secret')) ?? '').trim();
        assert.notEqual(secret2, secret);
        assert.equal((await access('repository:oproj/app:push', ['olivia', secret])).status, 401);
        assert.deepEqual((await access('repository:oproj/app:push', ['olivia', secret2])).actions, ['push']);

        // sign out: Berth's session ends and the provider asks to end its own
        await page.goto(`${b.url}/`);
        await page.click('button:has-text("Sign out")');
        await page.click('#provider-logout');
        await page.waitForURL((u) => u.href.startsWith(op.issuer));
        await page.click('button:has-text("Yes, sign me out")');
        await page.waitForURL((u) => u.href.startsWith(`${b.url}/login`));
        await page.goto(`${b.url}/account/profile`);
        assert.match(page.url(), /\/login/);
      } finally {
        await ctx.close();
      }
    });

    it('the admin group makes a system admin, and only its members', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      try {
        for (const [login, expectAdmin] of [
          ['root', true],
          ['oscar', false],
        ] as const) {
          await page.goto(`${b.url}/oidc/login`);
          await page.fill('input[name=login]', login);
          await page.fill('input[name=password]', 'anything');
          await page.click('button[type=submit]');
          await page.click('button:has-text("Continue")');
          await page.waitForURL(`${b.url}/`);
          assert.equal((await b.services.accounts.getUserByName(login))?.isAdmin, expectAdmin, login);
          await page.click('button:has-text("Sign out")');
          await page.click('#provider-logout');
          await page.click('button:has-text("Yes, sign me out")');
          await page.waitForURL((u) => u.href.startsWith(`${b.url}/login`));
        }
      } finally {
        await ctx.close();
      }
    });

    it('refuses forged or replayed callbacks; the local admin still signs in with a password; directory users cannot', async () => {
      const noCookie = await b.api('/oidc/callback?code=abc&state=xyz');
      assert.equal(noCookie.status, 400);
      assert.deepEqual((await access('repository:oproj/app:push', ADMIN)).actions, ['push']);
      assert.equal((await access('repository:oproj/app:pull', ['olivia', 'a-guessed-password'])).status, 401);
      // the flow cookie is signed: a made-up one is ignored
      const forged = await b.api('/oidc/callback?code=abc&state=xyz', {
        headers: { cookie: `berth_oidc_flow=${encodeURIComponent(JSON.stringify({ state: 'xyz', nonce: 'n', verifier: 'v', next: '/' }))}` },
      });
      assert.equal(forged.status, 400);
    });

    // Last: it leaves olivia locked out from this address.
    it('wrong CLI secrets in a burst go through the login lockout: 5 checked, the rest refused, and then the right one too', async () => {
      const secret = 'burst-test-cli-secret-0123456789abcdef';
      await b.db
        .updateTable('users')
        .set({ cli_secret_hash: createHash('sha256').update(secret).digest('hex') })
        .where('username', '=', 'olivia')
        .execute();
      assert.deepEqual((await access('repository:oproj/app:pull', ['olivia', secret])).actions, ['pull']);
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => access('repository:oproj/app:pull', ['olivia', `wrong-secret-${i}`]).then((r) => r.status)));
      assert.deepEqual({ 401: statuses.filter((s) => s === 401).length, 429: statuses.filter((s) => s === 429).length }, { 401: 5, 429: 15 });
      assert.equal((await access('repository:oproj/app:pull', ['olivia', secret])).status, 429, 'a matching CLI secret is no way around the lockout');
    });
  });
}
