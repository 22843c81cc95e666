import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { busyboxRootfs, dockerSuiteSkip, importImage, startDocker, type DockerEngine } from '../helpers/docker.js';
import { ociImage } from '../helpers/oci.js';
import { eventually, inspectDigest, push, startInstance, type Instance } from '../helpers/registry.js';

const ENVELOPE = 'application/vnd.docker.distribution.events.v1+json';

/** Posts one registry event to Berth's notification endpoint as the registry sends it. */
const deliver = (b: Instance, event: unknown) =>
  fetch(`${b.url}/service/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${b.services.notificationSecret}`, 'content-type': ENVELOPE },
    body: JSON.stringify({ events: [event] }),
  });

/** The tags of `tags/<repo>` as Berth lists them: name → digest and push time (ms). */
async function tagsInDb(b: Instance, repo: string): Promise<Map<string, { digest: string; pushedAt: number }>> {
  const r = await (await b.api(`/api/v1/projects/tags/repositories/${repo}/tags`, { auth: ADMIN })).json();
  return new Map(r.items.map((t: { name: string; digest: string; pushed_at: string }) => [t.name, { digest: t.digest, pushedAt: Date.parse(t.pushed_at) }]));
}

/** The 200 tags each suite pushes: 60 one after another (`s<i>`), then 4 loops of 35 side by side (`p<loop>-<i>`). */
const SEQUENTIAL = Array.from({ length: 60 }, (_, i) => `s${i}`);
const PARALLEL = [0, 1, 2, 3].map((loop) => Array.from({ length: 35 }, (_, i) => `p${loop}-${i}`));

/** Pushes every tag with `pushOne`, sequential ones first; each tag's [start, end] window (ms). */
async function pushAll(pushOne: (tag: string) => Promise<unknown>): Promise<Map<string, [number, number]>> {
  const window = new Map<string, [number, number]>();
  const one = async (tag: string) => {
    const t0 = Date.now();
    await pushOne(tag);
    window.set(tag, [t0, Date.now()]);
  };
  for (const tag of SEQUENTIAL) await one(tag);
  await Promise.all(
    PARALLEL.map(async (loop) => {
      for (const tag of loop) await one(tag);
    }),
  );
  return window;
}

/**
 * Waits up to 15 s for every pushed tag of `tags/<repo>` to be in Berth, then asserts each points at `digest` with a
 * push time inside its window (the registry's push time on the same clock, ms precision). When tags are missing, the
 * error tells lag (events still waiting in the inbox) from loss (nothing waiting).
 */
async function assertAllRecorded(b: Instance, repo: string, window: Map<string, [number, number]>, digest: string): Promise<void> {
  const tags = await eventually(async () => {
    const t = await tagsInDb(b, repo);
    return [...window.keys()].every((k) => t.has(k)) ? t : null;
  }, 15_000).catch(async () => {
    const t = await tagsInDb(b, repo);
    const waiting = await b.db.selectFrom('notification_inbox').select('event_id').where('applied_at', 'is', null).execute();
    throw new Error(`missing from Berth: ${[...window.keys()].filter((k) => !t.has(k)).join(', ')} (${waiting.length} event(s) still waiting in the inbox)`);
  });
  for (const [tag, [t0, t1]] of window) {
    const t = tags.get(tag)!;
    assert.equal(t.digest, digest, tag);
    assert.ok(t.pushedAt >= t0 - 1 && t.pushedAt <= t1 + 1, `${tag}: pushed_at ${t.pushedAt} outside [${t0}, ${t1}]`);
  }
}

/** A pushed tag never goes missing from Berth: the push event's own tag and digest are trusted, with the push time. */
for (const dialect of testDialects()) {
  describe(`pushed tags never go missing [${dialect}]`, () => {
    let b: Instance;
    let src: string;
    let digest: string;

    before(async () => {
      b = await startInstance(dialect);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'tags' } });
      // auto-scan stays on, as when tags went missing
      src = await ociImage(path.join(b.config.dataDir, 'img'), [{ 'etc/os-release': 'ID=debian\nVERSION_ID=12\n' }], 't');
      await push(src, `docker://${b.host}/tags/app:base`, ADMIN);
      digest = await inspectDigest(`docker://${b.host}/tags/app:base`, ADMIN);
      await eventually(async () => (await tagsInDb(b, 'app')).has('base'));
    });
    after(async () => b?.destroy());

    it('a push event that arrives before the registry shows its tag still records the tag, at the push time', async () => {
      // The registry emits the push event before it writes the tag link; this event names a tag the registry does
      // not show (yet), exactly what a read racing the registry sees.
      const at = new Date(Date.now() - 5000);
      const event = {
        id: randomUUID(),
        timestamp: at.toISOString(),
        action: 'push',
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: 'tags/app', tag: 'early' },
        request: { addr: '127.0.0.1:1234', method: 'PUT', useragent: 'skopeo/1.9.3' },
        actor: { name: 'admin' },
      };
      const res = await deliver(b, event);
      assert.equal(res.status, 200);
      await b.services.sync.idle();
      const t = (await tagsInDb(b, 'app')).get('early');
      assert.ok(t, 'tag recorded from the event');
      assert.equal(t.digest, digest);
      assert.equal(t.pushedAt, at.getTime());
      // a duplicate, older delivery does not move it back
      const older = { ...event, id: randomUUID(), timestamp: new Date(at.getTime() - 60_000).toISOString(), target: { ...event.target } };
      await deliver(b, older);
      await b.services.sync.idle();
      assert.equal((await tagsInDb(b, 'app')).get('early')!.pushedAt, at.getTime());
    });

    it('200 quick skopeo pushes (60 sequential, 4 parallel loops of 35): every tag is in the DB with its push time', async () => {
      const window = await pushAll((tag) => push(src, `docker://${b.host}/tags/many:${tag}`, ADMIN));
      assert.equal(window.size, 200);
      await assertAllRecorded(b, 'many', window, digest);
    });
  });
}

/**
 * The same promise through the docker CLI, which pushes differently from skopeo (its own blob HEADs, cross-repository
 * mounts, the manifest last): one tiny busybox image under 200 tags, pushed sequentially and from 4 parallel loops.
 */
const dockerSkip = dockerSuiteSkip();
for (const dialect of testDialects()) {
  describe(`pushed tags never go missing: the docker CLI [${dialect}]`, { skip: dockerSkip }, () => {
    let b: Instance;
    let engine: DockerEngine;
    let rootfs: string;

    before(async () => {
      [engine, b] = await Promise.all([startDocker(), startInstance(dialect)]);
      await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'tags' } });
      rootfs = busyboxRootfs();
      await importImage(engine, rootfs, `${b.host}/tags/dock:base`, ['CMD ["sh"]']);
      await engine.docker(['login', b.host, '-u', ADMIN[0], '--password-stdin'], { input: ADMIN[1] });
    });
    after(async () => {
      await engine?.stop();
      await b?.destroy();
      if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
    });

    it('200 quick docker pushes (60 sequential, 4 parallel loops of 35): every tag is in the DB with its push time', async () => {
      const first = await engine.docker(['push', `${b.host}/tags/dock:base`]);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(first)?.[1];
      assert.ok(digest, first);
      for (const n of [...SEQUENTIAL, ...PARALLEL.flat()]) await engine.docker(['tag', `${b.host}/tags/dock:base`, `${b.host}/tags/dock:${n}`]);
      const started = Date.now();
      const window = await pushAll(async (tag) => {
        const out = await engine.docker(['push', `${b.host}/tags/dock:${tag}`]);
        assert.match(out, new RegExp(`digest: ${digest}`), tag);
      });
      const pushedIn = Date.now() - started;
      assert.equal(window.size, 200);
      await assertAllRecorded(b, 'dock', window, digest);
      // for the record: how long 200 docker pushes took here (the whole case must stay well inside the suite's budget)
      console.log(`200 docker pushes in ${pushedIn} ms`);
    });
  });
}
