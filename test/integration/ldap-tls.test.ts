import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { LDAP_BASE, LDAP_READER_DN, LDAP_READER_PW, LDAP_USERS, startSlapd, type Slapd } from '../helpers/slapd.js';

// TLS to the directory: ldaps:// and StartTLS, verified against the site's CA file; no CA, no connection. The rule
// under test is in the LDAP client, not the database, so one dialect is enough here.
describe('LDAP over TLS against slapd', () => {
  let slapd: Slapd;
  let t: TestApp;
  before(async () => {
    slapd = await startSlapd({ tls: true });
    t = await startTestApp('sqlite', {
      BERTH_AUTH_MODE: 'ldap',
      BERTH_LDAP_URL: slapd.ldapsUrl!,
      BERTH_LDAP_CA_FILE: slapd.caFile!,
      BERTH_LDAP_BIND_DN: LDAP_READER_DN,
      BERTH_LDAP_BIND_PASSWORD: LDAP_READER_PW,
      BERTH_LDAP_BASE_DN: LDAP_BASE,
    });
  });
  after(async () => {
    await t?.close({ drop: true });
    await slapd?.destroy();
  });

  const signIn = () => t.req('/api/v1/users/current', { auth: ['ldapalice', LDAP_USERS.ldapalice!] });
  const setLdap = async (ldap: Record<string, unknown>) => assert.equal((await t.req('/api/v1/system/auth', { method: 'PUT', auth: ADMIN, json: { ldap } })).status, 200);
  const test = async () => (await t.req('/api/v1/system/auth/ldap/test', { method: 'POST', auth: ADMIN, json: {} })).json();

  it('ldaps:// with the CA file', async () => {
    assert.equal((await signIn()).status, 200);
    assert.equal((await test()).ok, true);
  });

  it('ldaps:// without the CA: the certificate is refused, with a clear message', async () => {
    await setLdap({ ca_file: null });
    const res = await test();
    assert.equal(res.ok, false);
    assert.match(res.message, /TLS|certificate/i);
    assert.equal((await t.req('/api/v1/users/current', { auth: ['ldapbob', LDAP_USERS.ldapbob!] })).status, 503);
  });

  it('StartTLS on ldap:// with the CA file', async () => {
    await setLdap({ url: slapd.url, start_tls: true, ca_file: slapd.caFile });
    const res = await test();
    assert.equal(res.ok, true, res.message);
    assert.equal((await t.req('/api/v1/users/current', { auth: ['ldapbob', LDAP_USERS.ldapbob!] })).status, 200);
  });
});
