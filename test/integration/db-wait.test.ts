import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { connectDatabase, waitForDatabase } from '../../src/db/connect.js';
import { freePort } from '../../src/registry/managed.js';
import { MYSQL_ADMIN_URL, testDialects } from '../helpers/db.js';

/** A loopback TCP relay to the test MariaDB on `port`, as a database container that has just come up. */
async function relayTo(port: number, target: URL): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 3306), target.hostname);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

// Starting Berth while its database container is still starting (compose, a restore, a restart) must wait for it,
// not exit; a wrong password must not be waited for.
for (const dialect of testDialects().filter((d) => d === 'mysql'))
  describe(`waiting for the database at start [${dialect}]`, () => {
    const admin = new URL(MYSQL_ADMIN_URL);

    it('waits while nothing listens yet, and goes on once the server answers', async () => {
      const port = await freePort();
      const conn = connectDatabase({ dialect: 'mysql', url: `mysql://${admin.username}@127.0.0.1:${port}` });
      const waits: string[] = [];
      let relay: net.Server | undefined;
      try {
        const started = Date.now();
        const opened = new Promise<void>((resolve) =>
          setTimeout(async () => {
            relay = await relayTo(port, admin);
            resolve();
          }, 1200),
        );
        await waitForDatabase(conn.db, { timeoutMs: 20_000, onWait: (_n, err) => waits.push((err as { code?: string }).code ?? '?') });
        await opened;
        assert.ok(Date.now() - started >= 1200, 'it answered only once the relay was up');
        assert.ok(waits.length >= 1, 'it waited at least once');
        assert.ok(
          waits.every((c) => c === 'ECONNREFUSED'),
          waits.join(),
        );
      } finally {
        await conn.close();
        relay?.close();
      }
    });

    it('gives up within the timeout with the connection error', async () => {
      const port = await freePort();
      const conn = connectDatabase({ dialect: 'mysql', url: `mysql://${admin.username}@127.0.0.1:${port}` });
      let waits = 0;
      try {
        await assert.rejects(waitForDatabase(conn.db, { timeoutMs: 1500, onWait: () => waits++ }), (err: { code?: string }) => err.code === 'ECONNREFUSED');
        assert.ok(waits >= 1 && waits <= 3, `waited ${waits} times within 1.5 s`);
      } finally {
        await conn.close();
      }
    });

    it('does not wait on refused credentials', async () => {
      const conn = connectDatabase({ dialect: 'mysql', url: `mysql://berth_no_such_user:wrong@${admin.hostname}:${admin.port || 3306}` });
      let waits = 0;
      try {
        const started = Date.now();
        await assert.rejects(waitForDatabase(conn.db, { timeoutMs: 20_000, onWait: () => waits++ }), (err: { code?: string }) => err.code === 'ER_ACCESS_DENIED_ERROR');
        assert.equal(waits, 0);
        assert.ok(Date.now() - started < 5000);
      } finally {
        await conn.close();
      }
    });
  });
