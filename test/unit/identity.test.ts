import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { inGroup, rdnValue } from '../../src/auth/ldap.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('LDAP group names', () => {
  it('takes the first RDN value of a DN', () => {
    const cases: [string, string][] = [
      ['cn=team-a,ou=groups,dc=example,dc=org', 'team-a'],
      ['CN=Team A,OU=Groups,DC=example,DC=org', 'Team A'],
      ['cn=a\\,b,ou=g,dc=x', 'a,b'],
      ['cn=x+uid=y,dc=z', 'x+uid=y'],
      ['not a dn', 'not a dn'],
    ];
    for (const [dn, name] of cases) assert.equal(rdnValue(dn), name, dn);
  });
  it('matches the admin group by DN (case-insensitively) or by name (exactly)', () => {
    const groups = ['cn=admins,ou=groups,dc=x', 'admins'];
    assert.equal(inGroup(groups, 'CN=Admins,OU=Groups,DC=x'), true);
    assert.equal(inGroup(groups, 'admins'), true);
    assert.equal(inGroup(groups, 'Admins'), false);
    assert.equal(inGroup(groups, 'cn=other,dc=x'), false);
    assert.equal(inGroup(groups, null), false);
  });
});

describe('identity configuration', () => {
  const base = { BERTH_DATA_DIR: os.tmpdir() };
  it('reads secrets from _FILE (without the final newline) and refuses both forms at once', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-secret-')), 'pw');
    fs.writeFileSync(f, 's3cret value\n');
    const c = loadConfig({ ...base, BERTH_LDAP_BIND_PASSWORD_FILE: f, BERTH_OIDC_CLIENT_SECRET: 'inline' });
    assert.equal(c.identity.ldapBindPassword, 's3cret value');
    assert.equal(c.identity.oidcClientSecret, 'inline');
    assert.throws(() => loadConfig({ ...base, BERTH_LDAP_BIND_PASSWORD: 'x', BERTH_LDAP_BIND_PASSWORD_FILE: f }), ConfigError);
    assert.throws(() => loadConfig({ ...base, BERTH_OIDC_CLIENT_SECRET_FILE: '/nonexistent/secret' }), /cannot read/);
  });
  it('validates mode, URLs, filters and attribute names, reporting every problem', () => {
    try {
      loadConfig({
        ...base,
        BERTH_AUTH_MODE: 'kerberos',
        BERTH_LDAP_URL: 'http://x',
        BERTH_LDAP_FILTER: 'uid=*',
        BERTH_LDAP_UID_ATTR: 'a b',
        BERTH_LDAP_GROUP_MEMBER_ATTR: 'owner',
        BERTH_OIDC_ISSUER: 'ftp://x',
      });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 6, err.problems.join('\n'));
    }
    const c = loadConfig({ ...base, BERTH_AUTH_MODE: 'ldap', BERTH_LDAP_URL: 'ldaps://ldap.example.org:636/' });
    assert.equal(c.identity.authMode, 'ldap');
    assert.equal(c.identity.ldap.url, 'ldaps://ldap.example.org:636');
    assert.equal(c.identity.ldap.uidAttr, 'uid');
    assert.equal(c.identity.oidc.usernameClaim, 'preferred_username');
  });
});
