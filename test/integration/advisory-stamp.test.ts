import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';

/**
 * The advisory database's stamp (what reports record having read, and what auto-scan on push compares) moves whenever
 * an import changed the database, also when a later batch of the same import fails after earlier ones committed.
 */
for (const dialect of testDialects()) {
  describe(`advisory stamp [${dialect}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(async () => t?.close({ drop: true }));

    const record = (i: number) => ({
      id: `STAMP-${String(i).padStart(4, '0')}`,
      modified: '2026-01-01T00:00:00Z',
      affected: [{ package: { ecosystem: 'npm', name: `pkg${i}` }, versions: ['1.0.0'] }],
    });

    it('moves when the first batches committed and a later one failed', async () => {
      const store = t.services.advisories;
      await store.importValues([record(0)]);
      const before = await store.updatedAt();
      assert.notEqual(before, null);
      await new Promise((ok) => setTimeout(ok, 5));
      // The database fails on the import's second batch (of 200 records each).
      const seam = store as unknown as { upsert: (...a: unknown[]) => Promise<void> };
      const upsert = seam.upsert;
      let calls = 0;
      seam.upsert = async function (this: unknown, ...a: unknown[]) {
        if (++calls === 2) throw new Error('the database went away');
        return upsert.apply(this, a);
      };
      try {
        await assert.rejects(store.importValues(Array.from({ length: 450 }, (_, i) => record(i + 1))), /the database went away/);
      } finally {
        seam.upsert = upsert;
      }
      const total = Number(
        (
          await t.db
            .selectFrom('advisories')
            .select((e) => e.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      assert.equal(total, 201, 'the first batch of 200 committed');
      const after = await store.updatedAt();
      assert.ok(after !== null && after > before!, `the stamp moved (${before} → ${after})`);
    });
  });
}
