import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Browser, createUser, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { LOGIN_POLICY } from '../../src/services/account-service.js';

/**
 * The login lockout under concurrent guessing: a burst of wrong passwords sent at once gets at most
 * `LOGIN_POLICY.maxFailures` of them verified (401), the rest are refused as locked (429) without a verdict, and the
 * stored counter equals the attempts verified. Tried through every way a password comes in (UI form, REST Basic,
 * /service/token Basic) and across two cores on one database. `app.request` has no socket, so every request here
 * comes from the client address "unknown": one lockout key per username.
 */
const BURST = 50;
const MAX = LOGIN_POLICY.maxFailures;

type Way = 'ui' | 'rest' | 'token';

/** Sends one guess through `way` and returns the HTTP status (UI: 303 signed in, 401 wrong, 429 locked). */
async function guess(t: TestApp, way: Way, username: string, password: string, ui?: { browser: Browser; csrf: string }): Promise<number> {
  if (way === 'rest') return (await t.req('/api/v1/users/current', { auth: [username, password] })).status;
  if (way === 'token') return (await t.req('/service/token?service=berth-registry', { auth: [username, password] })).status;
  const res = await ui!.browser.post('/login', { _csrf: ui!.csrf, username, password, next: '/' });
  return res.status;
}

/** A browser with the login form's CSRF cookie, and its token (the cookie outlives failed sign-ins). */
async function loginForm(t: TestApp): Promise<{ browser: Browser; csrf: string }> {
  const browser = new Browser(t);
  const page = await (await browser.fetch('/login')).text();
  return { browser, csrf: /name="_csrf" value="([^"]+)"/.exec(page)![1]! };
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

/** The stored attempt counter of a (username, client address) key, or undefined when no row exists. */
async function storedFailures(t: TestApp, username: string): Promise<number | undefined> {
  const row = await t.db.selectFrom('login_failures').select('failures').where('key', '=', `${username}|unknown`).executeTakeFirst();
  return row && Number(row.failures);
}

/** Runs `fn` with the clock moved past the lockout and its window, as if that much time went by. */
async function later<T>(fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  const shift = Math.max(LOGIN_POLICY.windowMs, LOGIN_POLICY.lockMs) + 60_000;
  Date.now = () => realNow() + shift;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

for (const dialect of testDialects()) {
  describe(`login lockout under concurrent guesses [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    for (const way of ['ui', 'rest', 'token'] as const) {
      it(`${way}: ${BURST} simultaneous wrong passwords get at most ${MAX} verified; the right one is then locked out until the lockout ends`, async () => {
        const name = `burst${way}`;
        const [, password] = await createUser(t, name, `${name}-right-pw`);
        const form = way === 'ui' ? await loginForm(t) : undefined;
        const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => guess(t, way, name, `wrong-guess-${i}`, form)));
        const counts = tally(statuses);
        assert.equal(counts[401], MAX, `exactly ${MAX} guesses verified (401), the rest refused as locked: ${JSON.stringify(counts)}`);
        assert.equal(counts[429], BURST - MAX, JSON.stringify(counts));
        assert.equal(await storedFailures(t, name), MAX, 'the stored counter equals the attempts verified');
        // Locked: the right password is refused too, through every way in.
        for (const w of ['ui', 'rest', 'token'] as const) assert.equal(await guess(t, w, name, password, w === 'ui' ? await loginForm(t) : undefined), 429, `${w} while locked`);
        assert.equal(await storedFailures(t, name), MAX, 'refused attempts are not verified and not counted');
        // After the lockout (and its window) the right password works, and a success clears the counter.
        await later(async () => {
          const ok = await guess(t, way, name, password, way === 'ui' ? await loginForm(t) : undefined);
          assert.equal(ok, way === 'ui' ? 303 : 200);
        });
        assert.equal(await storedFailures(t, name), undefined);
      });
    }

    it(`${BURST} simultaneous requests with the right, not yet remembered password all succeed, through every way in`, async () => {
      // A CI job's parallel API calls: every place is taken by a check in flight, none has failed; the refused ones
      // wait for those checks instead of reading as a lockout.
      for (const way of ['rest', 'token', 'ui'] as const) {
        const name = `parallel${way}`;
        const [, password] = await createUser(t, name, `${name}-right-pw`);
        const forms = way === 'ui' ? await Promise.all(Array.from({ length: 10 }, () => loginForm(t))) : [];
        const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => guess(t, way, name, password, forms[i % 10])));
        assert.deepEqual(tally(statuses), { [way === 'ui' ? 303 : 200]: BURST }, way);
        assert.equal(await storedFailures(t, name), undefined, `${way}: nothing left counted`);
      }
    });

    it('a burst mixing all three ways in shares one counter', async () => {
      const name = 'burstmixed';
      const [, password] = await createUser(t, name, `${name}-right-pw`);
      const forms = await Promise.all(Array.from({ length: 5 }, () => loginForm(t)));
      const ways: Way[] = ['ui', 'rest', 'token'];
      const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => guess(t, ways[i % 3]!, name, `wrong-${i}`, forms[i % forms.length])));
      assert.equal(tally(statuses)[401], MAX, JSON.stringify(tally(statuses)));
      assert.equal(await storedFailures(t, name), MAX);
      assert.equal(await guess(t, 'token', name, password), 429);
    });

    it('unknown usernames lock the same way and answer the same statuses (no enumeration)', async () => {
      const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => guess(t, 'rest', 'nosuchuserx', `wrong-${i}`)));
      assert.deepEqual(tally(statuses), { 401: MAX, 429: BURST - MAX });
      assert.equal(await storedFailures(t, 'nosuchuserx'), MAX);
    });

    it('a password remembered by the credential cache is still refused while the account is locked', async () => {
      const name = 'cachedvictim';
      const [, password] = await createUser(t, name, `${name}-right-pw`);
      assert.equal(await guess(t, 'token', name, password), 200, 'verified once: now in the credential cache');
      const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => guess(t, 'token', name, `wrong-${i}`)));
      assert.equal(tally(statuses)[401], MAX, JSON.stringify(tally(statuses)));
      assert.equal(await guess(t, 'token', name, password), 429, 'a cache hit is not a way around the lockout');
      assert.equal(await guess(t, 'rest', name, password), 429);
    });

    it('a cached successful sign-in writes nothing to the lockout table', async () => {
      const name = 'hotpath';
      const [, password] = await createUser(t, name, `${name}-right-pw`);
      assert.equal(await guess(t, 'token', name, password), 200);
      assert.equal(await storedFailures(t, name), undefined, 'a success leaves no row');
      // A write would leave a row or change the table: poison the table for this key with a row a write would touch.
      await t.db
        .insertInto('login_failures')
        .values({ key: `${name}|unknown`, failures: 0, first_at: Date.now(), locked_until: 0 })
        .execute();
      for (let i = 0; i < 5; i++) assert.equal(await guess(t, 'token', name, password), 200);
      const row = await t.db.selectFrom('login_failures').selectAll().where('key', '=', `${name}|unknown`).executeTakeFirst();
      assert.ok(row, 'the cache-hit path left the row alone (no reservation, no reset)');
      assert.equal(Number(row.failures), 0);
    });

    it('the current password asked by "change password" is guessed under the same lockout (a stolen session cannot brute-force it)', async () => {
      const name = 'burstchange';
      const [, password] = await createUser(t, name, `${name}-right-pw`);
      const b = new Browser(t);
      assert.equal((await b.login(name, password)).status, 303);
      const csrf = await b.csrf();
      const change = async (old: string) => (await b.post('/account/password', { _csrf: csrf, old_password: old, new_password: 'a-new-password-1', confirm_password: 'a-new-password-1' })).text();
      const pages = await Promise.all(Array.from({ length: 20 }, (_, i) => change(`wrong-old-${i}`)));
      assert.equal(pages.filter((p) => p.includes('current password is wrong')).length, MAX);
      assert.equal(pages.filter((p) => p.includes('too many failed logins')).length, 20 - MAX);
      assert.match(await change(password), /too many failed logins/, 'locked: even the right one is not checked');
      assert.equal(await guess(t, 'rest', name, password), 429, 'one lockout for sign-in and password change');
    });

    it(`two cores on one database share the lockout: ${BURST} guesses split between them get at most ${MAX} verified`, async () => {
      const name = 'burstreplicas';
      const [, password] = await createUser(t, name, `${name}-right-pw`);
      const b = await startTestApp(dialect, {}, t.database);
      try {
        const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => guess(i % 2 ? b : t, i % 3 ? 'token' : 'rest', name, `wrong-${i}`)));
        assert.equal(tally(statuses)[401], MAX, JSON.stringify(tally(statuses)));
        assert.equal(await storedFailures(t, name), MAX);
        assert.equal(await guess(b, 'token', name, password), 429);
        assert.equal(await guess(t, 'rest', name, password), 429);
      } finally {
        await b.close();
      }
    });
  });
}
