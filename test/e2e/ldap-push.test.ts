import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Attribute, Change } from 'ldapts';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { buildImage, eventually, fails, push, startInstance, type Instance } from '../helpers/registry.js';
import { LDAP_BASE, LDAP_READER_DN, LDAP_READER_PW, LDAP_USERS, startSlapd, TEAM_A, type Slapd } from '../helpers/slapd.js';

// The "done when": a user who exists only in LDAP pushes with skopeo to a project where their LDAP group is
// developer, and is refused after leaving the group.
for (const dialect of testDialects()) {
  describe(`LDAP user pushes with skopeo [${dialect}]`, () => {
    let slapd: Slapd;
    let b: Instance;
    const bob: [string, string] = ['ldapbob', LDAP_USERS.ldapbob!];
    before(async () => {
      slapd = await startSlapd();
      b = await startInstance(dialect, {
        BERTH_AUTH_MODE: 'ldap',
        BERTH_LDAP_URL: slapd.url,
        BERTH_LDAP_BIND_DN: LDAP_READER_DN,
        BERTH_LDAP_BIND_PASSWORD: LDAP_READER_PW,
        BERTH_LDAP_BASE_DN: LDAP_BASE,
        BERTH_LDAP_GROUP_BASE_DN: `ou=groups,${LDAP_BASE}`,
      });
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'science' } })).status, 201);
      assert.equal((await b.api('/api/v1/projects/science/members', { method: 'POST', auth: ADMIN, json: { group: 'team-a', role: 'developer' } })).status, 201);
    });
    after(async () => {
      await b?.destroy();
      await slapd?.destroy();
    });

    it('pushes with LDAP credentials, then is refused once out of the group', async () => {
      await push(await buildImage({ 'etc/motd': 'from ldap' }), `docker://${b.host}/science/app:v1`, bob);
      // the push notification is applied asynchronously
      const names = await eventually(async () => {
        const list = await (await b.api('/api/v1/projects/science/repositories', { auth: bob })).json();
        const n: string[] = list.items?.map((r: { name: string }) => r.name) ?? list.map((r: { name: string }) => r.name);
        return n.length ? n : null;
      });
      assert.deepEqual(names, ['science/app']);
      const root = await slapd.admin();
      await root.modify(TEAM_A, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [`uid=ldapbob,ou=people,${LDAP_BASE}`] }) }));
      await root.unbind();
      const err = await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', bob.join(':'), '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/science/app:v2`]);
      assert.match(err, /unauthorized|authentication required|denied/i);
      assert.match(await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', 'ldapbob:wrong-password', '--dest-tls-verify=false', await buildImage(), `docker://${b.host}/science/app:v3`]), /401|unauthorized|invalid username\/password/i);
    });
  });
}
