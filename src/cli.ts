import { loadOrCreateTokenKeys } from './auth/token-keys.js';
import { loadConfig } from './config.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';
import { registryConfigYaml } from './registry/config-file.js';
import { loadOrCreateSecret } from './registry/secrets.js';

const USAGE = `usage: berth <command>

  migrate                 apply database migrations
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

/** `berth <command>`: administrative commands that work without a running server. */
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
      // The same key material and secrets core uses (created in the data dir if this is the first run).
      loadOrCreateTokenKeys(config.dataDir);
      process.stdout.write(
        registryConfigYaml({
          listenAddr: f.get('listen') ?? '0.0.0.0:5000',
          storageDir: f.get('storage') ?? '/var/lib/registry',
          externalUrl: config.externalUrl,
          certPath: f.get('cert') ?? '/etc/berth/token.crt',
          notifyUrl: f.get('notify-url') ?? 'http://berth:8080/service/notifications',
          notificationSecret: config.notificationSecret ?? loadOrCreateSecret(config.dataDir, 'notification.secret'),
          httpSecret: loadOrCreateSecret(config.dataDir, 'registry-http.secret'),
        }),
      );
      return 0;
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
