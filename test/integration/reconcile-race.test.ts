import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as art from '../../src/db/repos/artifacts.js';
import { createLogger } from '../../src/log.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { RegistrySync } from '../../src/services/registry-sync.js';
import { ADMIN, startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { manifestFacts, projectId } from '../helpers/seed.js';

const D1 = `sha256:${'1'.repeat(64)}`;

for (const dialect of testDialects()) {
  describe(`reconciliation racing a push [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
      await t.req('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'race' } });
    });
    after(async () => t?.close({ drop: true }));

    it('does not undo a push that lands after the catalog and tag lists were read', async () => {
      const db = t.db;
      const project = await projectId(db, 'race');
      // The registry as reconciliation saw it at the start: no repositories at all. Meanwhile a push landed
      // (the notification already wrote its rows) and the registry now has the manifest and its tag.
      const fake = {
        catalog: async () => ({ repositories: [], more: false }),
        tags: async () => [],
        resolve: async (_repo: string, ref: string) => (ref === D1 || ref === 'v1' ? D1 : null),
        repositoryListed: async () => false,
      } as unknown as RegistryClient;
      const repoId = await art.ensureRepository(db, project, 'race/app', Date.now());
      const artifactId = await art.upsertArtifact(db, repoId, D1, manifestFacts({ pushedBy: 'x' }));
      await art.setTag(db, repoId, artifactId, 'v1', Date.now());
      const s = await new RegistrySync(db, fake, createLogger('silent')).reconcile();
      assert.equal(s.artifactsRemoved, 0);
      assert.ok(await art.findArtifact(db, repoId, D1), 'the fresh artifact survives');
      assert.ok(await art.findArtifact(db, repoId, 'v1'), 'and its tag');
      // whereas a manifest the registry really does not have is removed
      const gone = { ...fake, resolve: async () => null } as unknown as RegistryClient;
      const s2 = await new RegistrySync(db, gone, createLogger('silent')).reconcile();
      assert.equal(s2.artifactsRemoved, 1);
      assert.equal(await art.findRepository(db, 'race/app'), undefined);
    });
  });
}
