import fs from 'node:fs';
import path from 'node:path';
import { generatePassword, passwordProblem } from './auth/passwords.js';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { loadTokenKeys, selfSignedCertificate, toPem } from './auth/token-keys.js';
import type { Config } from './config.js';
import type { Services } from './context.js';
import { createLogger } from './log.js';
import { wireServices } from './wiring.js';
import { loadConfig } from './config.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import { registryConfigYaml } from './registry/config-file.js';
import { OPERATOR } from './services/system-requester.js';
import { loadNotificationSecret, loadOrCreateSecret } from './registry/secrets.js';

const USAGE = `usage: berth <command>

  migrate                 apply database migrations
  admin reset-password <user> [--password-stdin]
                          set a new password (generated and printed, or read from stdin)
  token-cert              print the certificate registry tokens are signed for (what the registry trusts)
  secrets --out DIR       write a new token.key, token.crt, notification.secret and settings.key for
                          BERTH_TOKEN_KEY_FILE, BERTH_TOKEN_CERT_FILE, BERTH_NOTIFICATION_SECRET_FILE and
                          BERTH_SETTINGS_KEY_FILE (never overwrites)
  tls-cert --out DIR --host NAME[,NAME…]
                          write a self-signed TLS certificate (tls.crt, tls.key) unless one is there
  vulndb import <file>    import OSV advisories (a .zip as osv.dev publishes, or .json)
  gc [--dry-run] [--delete-untagged] [--timeout SECONDS]
                          queue garbage collection for the running Berth and wait for its result
  reconcile [--timeout SECONDS]
                          queue a reconciliation with the registry and wait for its result
  registry-config [opts]  print the config.yml an external registry must run with
      --listen ADDR         registry listen address        (default 0.0.0.0:5000)
      --storage DIR         registry storage directory     (default /var/lib/registry)
      --cert PATH           token certificate, as the registry sees it (default /etc/berth/token.crt)
      --notify-url URL      Berth's notification endpoint, as the registry reaches it
                            (default http://berth:8080/service/notifications)
`;

function flags(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      out.set(a.slice(2), v);
    }
  }
  return out;
}

/** Wires the services against the configured database (without starting anything), runs fn, closes. */
async function withServices(config: Config, fn: (s: Services) => Promise<number>): Promise<number> {
  const wired = await wireServices(config, createLogger('warn'), { bootstrapAdmin: false });
  try {
    return await fn(wired.services);
  } finally {
    await wired.close();
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => (data += c));
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

/**
 * `berth <command>`: administrative commands; gc and reconcile hand work to the running service through the DB. Every
 * command that changes the database goes through the services the other ways in use and is audited as `cli`.
 */
async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const config = loadConfig();
  switch (cmd) {
    case 'migrate': {
      const conn = connectDatabase(config.database);
      try {
        const applied = await migrateToLatest(conn.db);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await conn.close();
      }
      return 0;
    }
    case 'registry-config': {
      const f = flags(rest);
      for (const k of f.keys()) if (!['listen', 'storage', 'cert', 'notify-url'].includes(k)) throw new Error(`unknown option --${k}`);
      // The same key material and secrets core uses (created in the data dir if this is the first run and no files are
      // configured).
      loadTokenKeys({ dataDir: config.dataDir, keyFile: config.tokenKeyFile, certFile: config.tokenCertFile });
      process.stdout.write(
        registryConfigYaml({
          listenAddr: f.get('listen') ?? '0.0.0.0:5000',
          storageDir: f.get('storage') ?? '/var/lib/registry',
          externalUrl: config.externalUrl,
          certPath: f.get('cert') ?? '/etc/berth/token.crt',
          notifyUrl: f.get('notify-url') ?? 'http://berth:8080/service/notifications',
          notificationSecret: loadNotificationSecret({ dataDir: config.dataDir, secret: config.notificationSecret, secretFile: config.notificationSecretFile }),
          httpSecret: loadOrCreateSecret(config.dataDir, 'registry-http.secret'),
        }),
      );
      return 0;
    }
    case 'admin': {
      const [sub, username, ...opts] = rest;
      if (sub !== 'reset-password' || !username) throw new Error('usage: berth admin reset-password <user> [--password-stdin]');
      if (opts.length && !(opts.length === 1 && opts[0] === '--password-stdin')) throw new Error(`unknown option ${opts[0]}`);
      const password = opts[0] === '--password-stdin' ? (await readStdin()).replace(/\r?\n$/, '') : generatePassword();
      const problem = passwordProblem(password);
      if (problem) throw new Error(problem.message);
      return withServices(config, async (s) => {
        const user = await s.accounts.getUserByName(username);
        if (!user) throw new Error(`no user "${username}"`);
        await s.accounts.changePassword(user.id, password);
        await s.accounts.setDisabled(null, user.id, false);
        await s.audit.record(OPERATOR.actor, 'reset_password', 'user', username);
        console.log(opts[0] === '--password-stdin' ? `password of ${username} changed; their sessions were ended` : `new password of ${username}: ${password}`);
        return 0;
      });
    }
    case 'token-cert': {
      if (rest.length) throw new Error('usage: berth token-cert');
      process.stdout.write(loadTokenKeys({ dataDir: config.dataDir, keyFile: config.tokenKeyFile, certFile: config.tokenCertFile }).certPem);
      return 0;
    }
    case 'secrets': {
      const f = flags(rest);
      for (const k of f.keys()) if (k !== 'out') throw new Error(`unknown option --${k}`);
      const out = f.get('out');
      if (!out) throw new Error('usage: berth secrets --out DIR');
      fs.mkdirSync(out, { recursive: true, mode: 0o700 });
      const files = ['token.key', 'token.crt', 'notification.secret', 'settings.key'];
      const present = files.filter((n) => fs.existsSync(`${out}/${n}`));
      if (present.length) throw new Error(`${out} already holds ${present.join(', ')}: not overwritten`);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      fs.writeFileSync(`${out}/token.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      fs.writeFileSync(`${out}/token.crt`, toPem(selfSignedCertificate(privateKey, 'Berth token signer')), { mode: 0o644 });
      fs.writeFileSync(`${out}/notification.secret`, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
      fs.writeFileSync(`${out}/settings.key`, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
      console.log(`wrote ${files.join(', ')} to ${out}`);
      return 0;
    }
    case 'tls-cert': {
      const f = flags(rest);
      for (const k of f.keys()) if (k !== 'out' && k !== 'host') throw new Error(`unknown option --${k}`);
      const out = f.get('out');
      const hosts = (f.get('host') ?? '')
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean);
      if (!out || !hosts.length || hosts.some((h) => !/^[A-Za-z0-9.-]{1,253}$/.test(h))) throw new Error('usage: berth tls-cert --out DIR --host NAME[,NAME…]');
      fs.mkdirSync(out, { recursive: true });
      if (fs.existsSync(`${out}/tls.crt`) && fs.existsSync(`${out}/tls.key`)) {
        console.log(`${out}/tls.crt exists: kept`);
        return 0;
      }
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      fs.writeFileSync(`${out}/tls.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      fs.writeFileSync(`${out}/tls.crt`, toPem(selfSignedCertificate(privateKey, hosts[0]!, hosts)), { mode: 0o644 });
      console.log(`wrote a self-signed certificate for ${hosts.join(', ')} to ${out}`);
      return 0;
    }
    case 'vulndb': {
      const [sub, file] = rest;
      if (sub !== 'import' || !file) throw new Error('usage: berth vulndb import <file>');
      if (!fs.statSync(file).isFile()) throw new Error(`${file} is not a file`);
      return withServices(config, async (s) => {
        // Through the service REST and the UI use: the same audit record, by `cli`.
        const stats = await s.advisoryImports.importFile(OPERATOR, file, { source: path.basename(file) });
        console.log(`${stats.imported} new, ${stats.updated} updated, ${stats.withdrawn} withdrawn, ${stats.unchanged} unchanged, ${stats.invalid} invalid`);
        for (const e of stats.errors) console.log(`  ${e}`);
        return 0;
      });
    }
    case 'gc':
    case 'reconcile': {
      const f = flags(cmd === 'gc' ? rest.filter((a) => a !== '--dry-run' && a !== '--delete-untagged') : rest);
      for (const k of f.keys()) if (k !== 'timeout') throw new Error(`unknown option --${k}`);
      const timeoutS = Number(f.get('timeout') ?? 600);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error('--timeout needs a positive number of seconds');
      return withServices(config, async (s) => {
        // Through the service REST and the UI use: the same permission rule and the same audit record, by `cli`.
        const { id } =
          cmd === 'gc'
            ? await s.maintenance.collectGarbage(OPERATOR, { dryRun: rest.includes('--dry-run'), deleteUntagged: rest.includes('--delete-untagged') })
            : await s.maintenance.reconcile(OPERATOR);
        console.log(`queued ${cmd} as job ${id}; waiting for a running Berth to run it`);
        const deadline = Date.now() + timeoutS * 1000;
        for (;;) {
          const j = await s.jobs.get(id);
          if (j && (j.status === 'success' || j.status === 'error' || j.status === 'stopped')) {
            console.log(`${j.status}${j.error ? `: ${j.error}` : ''}`);
            if (j.result) console.log(JSON.stringify(j.result, null, 2));
            return j.status === 'success' ? 0 : 1;
          }
          if (Date.now() > deadline) {
            console.error(`job ${id} is still ${j?.status ?? 'missing'} after ${timeoutS} s: is Berth running?`);
            return 1;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      });
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`berth: unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`berth: ${(err as Error).message}`);
    process.exit(1);
  },
);
