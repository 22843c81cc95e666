import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
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
  const wired = await wireServices(config, log);
  if (wired.generatedAdminPassword) {
    // Printed once, on the first start only, straight to the terminal (never through the logger).
    process.stdout.write(`\n  Berth created user "admin" with the generated password: ${wired.generatedAdminPassword}\n  Change it after signing in.\n\n`);
  }
  const app = createApp(wired.services);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    log.info({ port: info.port, externalUrl: config.externalUrl, db: config.database.dialect }, 'berth listening');
  }) as Server;
  server.requestTimeout = 0; // /v2 uploads and pulls can take longer than Node's default 5 minutes
  server.headersTimeout = 60_000;

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
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await wired.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`berth: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
