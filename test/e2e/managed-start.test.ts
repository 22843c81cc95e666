import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateTokenKeys } from '../../src/auth/token-keys.js';
import { createLogger } from '../../src/log.js';
import { freePort, ManagedRegistry } from '../../src/registry/managed.js';

/** The managed registry's port is probed free, then bound by the child: another process can take it in between. */
describe('managed registry start', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-managed-'));
  let squatter: net.Server | null = null;
  let registry: ManagedRegistry | null = null;
  after(async () => {
    await registry?.stop();
    await new Promise<void>((r) => (squatter ? squatter.close(() => r()) : r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts on another port when its port was taken before the child could bind it', async () => {
    // Another process holds the port (it answers nothing a registry would).
    const taken = await freePort();
    squatter = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => squatter!.listen(taken, '127.0.0.1', () => r()));
    const keys = loadOrCreateTokenKeys(dir);
    registry = new ManagedRegistry({
      bin: 'docker-registry',
      dataDir: dir,
      log: createLogger('silent'),
      port: taken,
      config: { externalUrl: 'http://127.0.0.1:1', certPath: keys.certPath, notifyUrl: 'http://127.0.0.1:1/service/notifications', notificationSecret: 'secret', httpSecret: 'http-secret' },
    });
    await registry.start();
    assert.notEqual(new URL(registry.url).port, String(taken));
    const res = await fetch(`${registry.url}/v2/`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('docker-distribution-api-version') ?? '', /^registry\/2/);
    assert.ok(registry.healthy);
  });
});
