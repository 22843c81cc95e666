import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectDatabase, type Connection } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { onLocalBump } from '../../src/db/repos/generations.js';
import { replaceUserGroups } from '../../src/db/repos/groups.js';
import { insertProject } from '../../src/db/repos/projects.js';
import { insertRobot, replaceRobotGrants } from '../../src/db/repos/robots.js';
import { insertUser } from '../../src/db/repos/users.js';
import { createTestDatabase, type TestDatabase, testDialects } from '../helpers/db.js';

// This process's permission caches are cleared when a repo write moves the `access` counter. A write made in a
// transaction must tell them only once it has committed: told earlier, a lookup on another connection between the
// clear and the commit reads the old rows and caches them (until the next counter read, up to 0.5 s later).
for (const dialect of testDialects())
  describe(`permission caches hear of a change after it commits [${dialect}]`, () => {
    let tdb: TestDatabase;
    let conn: Connection;
    let projectId: number;
    let userId: number;
    before(async () => {
      tdb = await createTestDatabase(dialect);
      conn = connectDatabase(tdb.config);
      await migrateToLatest(conn.db);
      const now = Date.now();
      userId = await insertUser(conn.db, { username: 'alice', email: null, passwordHash: 'x', isAdmin: false, createdAt: now });
      projectId = await insertProject(conn.db, { name: 'p1', public: false, ownerId: userId, now });
    });
    after(async () => {
      await conn.close();
      await tdb.drop();
    });

    /** Runs `write`; at each local announcement, reads `probe` on the pool (another connection than the writer's). */
    const seenAtAnnouncement = async <T>(write: () => Promise<unknown>, probe: () => Promise<T>): Promise<T[]> => {
      const reads: Promise<T>[] = [];
      const stop = onLocalBump(conn.db, () => void reads.push(probe()));
      try {
        await write();
      } finally {
        stop();
      }
      assert.ok(reads.length >= 1, 'the write was announced');
      return Promise.all(reads);
    };

    it('a robot created with grants', async () => {
      const seen = await seenAtAnnouncement(
        () => insertRobot(conn.db, { name: 'robot$ci', projectId: null, description: null, secretHash: 'h', expiresAt: null, createdBy: 'alice', now: Date.now() }, [{ projectId, actions: ['pull'] }]),
        async () =>
          (await conn.db.selectFrom('robot_permissions as p').innerJoin('robots as r', 'r.id', 'p.robot_id').select('p.actions').where('r.name', '=', 'robot$ci').execute()).map((r) => r.actions),
      );
      for (const s of seen) assert.deepEqual(s, ['pull']);
    });

    it("a robot's grants replaced", async () => {
      const robot = await conn.db.selectFrom('robots').select('id').where('name', '=', 'robot$ci').executeTakeFirstOrThrow();
      const seen = await seenAtAnnouncement(
        () => replaceRobotGrants(conn.db, Number(robot.id), [{ projectId, actions: ['pull', 'push'] }]),
        async () => (await conn.db.selectFrom('robot_permissions').select('actions').where('robot_id', '=', robot.id).execute()).map((r) => r.actions),
      );
      for (const s of seen) assert.deepEqual(s, ['pull,push']);
    });

    it("a user's directory groups replaced", async () => {
      const seen = await seenAtAnnouncement(
        () => replaceUserGroups(conn.db, userId, ['hpc', 'ops'], Date.now()),
        async () => (await conn.db.selectFrom('user_groups').select('group_name').where('user_id', '=', userId).orderBy('group_name').execute()).map((r) => r.group_name),
      );
      for (const s of seen) assert.deepEqual(s, ['hpc', 'ops']);
    });
  });
