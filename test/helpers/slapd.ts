import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ldapts';
import { freePort } from '../../src/registry/managed.js';

const pexec = promisify(execFile);

export const LDAP_BASE = 'dc=example,dc=org';
export const LDAP_ROOT_DN = `cn=admin,${LDAP_BASE}`;
export const LDAP_ROOT_PW = 'root-secret';
export const LDAP_READER_DN = `cn=reader,${LDAP_BASE}`;
export const LDAP_READER_PW = 'reader-secret';

/** Users of the test directory: uid → password. */
export const LDAP_USERS: Record<string, string> = { ldapalice: 'alice-pw-123', ldapbob: 'bob-pw-123', ldapboss: 'boss-pw-123' };

export const TEAM_A = `cn=team-a,ou=groups,${LDAP_BASE}`;
export const ADMINS = `cn=berth-admins,ou=groups,${LDAP_BASE}`;

const person = (uid: string) => `dn: uid=${uid},ou=people,${LDAP_BASE}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${uid}
sn: ${uid}
mail: ${uid}@example.org
userPassword: ${LDAP_USERS[uid]}
`;

const LDIF = `dn: ${LDAP_BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ${LDAP_READER_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: ${LDAP_READER_PW}

dn: ou=people,${LDAP_BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${LDAP_BASE}
objectClass: organizationalUnit
ou: groups

${Object.keys(LDAP_USERS).map(person).join('\n')}
dn: ${TEAM_A}
objectClass: groupOfNames
cn: team-a
member: uid=ldapalice,ou=people,${LDAP_BASE}
member: uid=ldapbob,ou=people,${LDAP_BASE}

dn: ${ADMINS}
objectClass: groupOfNames
cn: berth-admins
member: uid=ldapboss,ou=people,${LDAP_BASE}

dn: cn=posix-team,ou=groups,${LDAP_BASE}
objectClass: posixGroup
cn: posix-team
gidNumber: 5000
memberUid: ldapalice
`;

export interface Slapd {
  url: string;
  port: number;
  /** A client bound as the directory's root, for changing the directory during a test. */
  admin(): Promise<Client>;
  /** Stops the server (the data stays, for start()). */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A real OpenLDAP `slapd` on a loopback port with a throw-away config dir and database: three people, a
 * `groupOfNames` team, an admin group, a `posixGroup`, a read-only service account. Access: everyone may bind;
 * authenticated users (the service account, the people themselves) may read; only the root writes.
 */
export async function startSlapd(): Promise<Slapd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-slapd-'));
  const dbDir = path.join(dir, 'db');
  fs.mkdirSync(dbDir);
  const port = await freePort();
  const conf = path.join(dir, 'slapd.conf');
  fs.writeFileSync(
    conf,
    `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile ${dir}/slapd.pid
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by anonymous auth
database mdb
maxsize 10485760
suffix "${LDAP_BASE}"
rootdn "${LDAP_ROOT_DN}"
rootpw ${LDAP_ROOT_PW}
directory ${dbDir}
index objectClass eq
index uid,member,memberUid eq
`,
  );
  fs.writeFileSync(path.join(dir, 'data.ldif'), LDIF);
  await pexec('slapadd', ['-f', conf, '-l', path.join(dir, 'data.ldif')]);
  const url = `ldap://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let stderr = '';

  const start = async () => {
    stderr = '';
    // -d 0: stay in the foreground (so the test owns the process) and log nothing.
    child = spawn('slapd', ['-f', conf, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d) => (stderr += String(d)));
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`slapd exited: ${stderr}`);
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`slapd did not listen on ${port}: ${stderr}`);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url,
    port,
    start,
    stop,
    async admin() {
      const client = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      await client.bind(LDAP_ROOT_DN, LDAP_ROOT_PW);
      return client;
    },
    async destroy() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
