import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { ConfigError, listenUrl, loadConfig } from './config.js';
import { adminPasswordBanner, createLogger } from './log.js';
import { createHttpServer } from './server.js';
import { wireServices } from './wiring.js';

/** config → db → services → app → server; owns shutdown. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berth: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  // A generated admin password is printed once, on the first start only, straight to the terminal (never through the
  // logger), on stderr (stdout carries the JSON request log), and before it is stored: whatever fails later, the
  // operator has it (on Linux, writes to a pipe or a file are synchronous, so a crash cannot drop it from a buffer).
  const wired = await wireServices(config, log, { announceAdminPassword: (password) => process.stderr.write(adminPasswordBanner(password)) });
  const app = createApp(wired.services);
  const server = createHttpServer(wired.services, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ listen: config.host, port, externalUrl: config.externalUrl, db: config.database.dialect }, 'berth listening');
  // Straight to the terminal, as the README promises: where to point a browser, and what the listener accepts.
  process.stdout.write(`Berth is serving ${listenUrl(config.host, port)} (listening on ${config.host} port ${port}; external URL ${config.externalUrl})\n`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown timed out; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 10_000).unref();
    await closed;
    await wired.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await wired.startBackground(port);
}

main().catch((err) => {
  process.stderr.write(`berth: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
