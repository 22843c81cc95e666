import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createConnection } from 'mysql2/promise';
import { MYSQL_ADMIN_URL, testDialects } from '../helpers/db.js';

// The MariaDB the suite runs against (the shared one, or the throw-away one scripts/test.mjs started) answers as
// root without a password and lets the suite create and drop its own databases.
for (const dialect of testDialects().filter((d) => d === 'mysql')) describe(`test MariaDB server [${dialect}]`, () => {
  it('accepts root, creates and drops a database', async () => {
    const c = await createConnection(MYSQL_ADMIN_URL);
    try {
      const [rows] = await c.query('select version() as v');
      assert.match((rows as { v: string }[])[0]!.v, /MariaDB|^\d+\./);
      const name = `berth_probe_${process.pid}`;
      await c.query(`create database \`${name}\``);
      await c.query(`drop database \`${name}\``);
    } finally {
      await c.end();
    }
  });
});
