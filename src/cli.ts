import { loadConfig } from './config.js';
import { connectDatabase } from './db/connect.js';
import { migrateToLatest } from './db/migrate.js';

/** `berth <command>`: administrative commands that work without a running server. */
async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
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
    default:
      console.error('usage: berth migrate');
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
