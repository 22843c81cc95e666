import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeletionService } from '../../src/services/deletion-service.js';
import { RegistryClient } from '../../src/registry/client.js';
import { ociArtifact, spdxReferrer } from '../helpers/artifacts.js';
import { ADMIN } from '../helpers/app.js';
import { testDialects } from '../helpers/db.js';
import { ociImage, ociIndex } from '../helpers/oci.js';
import { eventually, fails, inspectDigest, push, skopeo, startInstance, type Instance } from '../helpers/registry.js';

const SYSTEM = { name: 'test', ip: '127.0.0.1' };

/**
 * The deletion and immutability rules hold for what the registry holds, not only for what Berth has imported: a push
 * is in the registry the moment its PUT answers, its notification comes later (or, here, waits in the inbox: the
 * drain is held back). Every check that reads the database — `/v2` DELETE by digest and by tag, a PUT over an immutable
 * tag, REST artifact, repository and project deletes, the service API retention and GC call — meets a freshly pushed,
 * not yet imported state.
 */
for (const dialect of testDialects()) {
  describe(`deletion rules before Berth has imported a push [${dialect}]`, () => {
    let b: Instance;
    let n = 0;
    let dev: string;
    let devSrc: string;
    const api = (p: string, init: Parameters<Instance['api']>[1] = {}) => b.api(`/api/v1/projects/pend${p}`, { auth: ADMIN, ...init });
    const known = async (repo: string, ref: string) => (await api(`/repositories/${repo}/artifacts/${ref}`)).status === 200;
    const skopeoDelete = (ref: string) => fails('skopeo', ['delete', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/${ref}`]);
    const digestOf = (ref: string) => inspectDigest(`docker://${b.host}/${ref}`, ADMIN);
    const image = async (content: string) => ociImage(path.join(b.config.dataDir, `img-${n++}`), [{ 'etc/tool': content }], 't');
    // Holds events in the inbox: stored (the registry got its 200) but not applied, as when the drain lags.
    const sync = () => b.services.sync as unknown as { kick: () => void };
    const hold = () => {
      sync().kick = () => undefined;
    };
    const release = () => {
      delete (sync() as { kick?: unknown }).kick;
      sync().kick();
    };
    const pending = async () =>
      Number(
        (
          await b.db
            .selectFrom('notification_inbox')
            .select((e) => e.fn.countAll<number>().as('n'))
            .where('applied_at', 'is', null)
            .executeTakeFirstOrThrow()
        ).n,
      );

    before(async () => {
      b = await startInstance(dialect);
      assert.equal((await b.api('/api/v1/projects', { method: 'POST', auth: ADMIN, json: { name: 'pend' } })).status, 201);
      await api('', { method: 'PUT', json: { auto_scan: false, immutable_tags: ['v*'] } });
      devSrc = await image('dev');
      await push(devSrc, `docker://${b.host}/pend/tool:dev`, ADMIN);
      dev = await digestOf('pend/tool:dev');
      await eventually(async () => known('tool', dev));
      hold();
    });
    after(async () => b?.destroy());

    it('/v2 DELETE of an index child whose index Berth has not imported yet: 409 naming the index', async () => {
      const multi = await ociIndex(
        path.join(b.config.dataDir, `idx-${n++}`),
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
        'latest',
      );
      await skopeo('copy', '--all', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', multi.ref, `docker://${b.host}/pend/multi:latest`);
      await eventually(async () => (await pending()) >= 3);
      assert.ok(!(await known('multi', multi.index)), 'the index is not imported yet');
      assert.match(await skopeoDelete(`pend/multi@${multi.children[0]}`), new RegExp(`index.*${multi.index.slice(7, 19)}|${multi.index}`));
      assert.equal(await digestOf(`pend/multi@${multi.children[0]}`), multi.children[0]);
      // the service API (GC, retention) meets the same state
      await assert.rejects(b.services.deletion.deleteArtifacts(SYSTEM, 'pend/multi', [multi.children[1]!], { reason: 'retention' }), (e: Error & { code?: string }) => e.code === 'CONFLICT');
      assert.equal(await digestOf(`pend/multi@${multi.children[1]}`), multi.children[1]);
    });

    it('/v2 DELETE (by digest and by tag) of an image whose immutable tag is not imported yet: 412', async () => {
      await push(await image('v1'), `docker://${b.host}/pend/tool:v1`, ADMIN);
      const v1 = await digestOf('pend/tool:v1');
      assert.ok(!(await known('tool', v1)), 'v1 is not imported yet');
      // skopeo resolves the tag and deletes by digest
      assert.match(await skopeoDelete('pend/tool:v1'), /immutable/);
      const token = (await (await b.api('/service/token?service=berth-registry&scope=repository:pend/tool:delete', { auth: ADMIN })).json()).token;
      for (const ref of [v1, 'v1']) {
        const res = await fetch(`${b.url}/v2/pend/tool/manifests/${ref}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 412, ref);
        assert.match((await res.json()).errors[0].message, /immutable/);
      }
      assert.equal(await digestOf('pend/tool:v1'), v1);
    });

    it('a push over an immutable tag not imported yet is refused', async () => {
      await push(await image('v3'), `docker://${b.host}/pend/tool:v3`, ADMIN);
      const v3 = await digestOf('pend/tool:v3');
      assert.ok(!(await known('tool', v3)), 'v3 is not imported yet');
      assert.match(
        await fails('skopeo', ['copy', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', await image('other'), `docker://${b.host}/pend/tool:v3`]),
        /immutable/,
      );
      assert.equal(await digestOf('pend/tool:v3'), v3);
    });

    it('REST: an imported artifact whose new immutable tag is not imported yet keeps it (artifact, repository, project)', async () => {
      // the imported image `dev` pushed again as v2: Berth knows the artifact, not the tag
      await push(devSrc, `docker://${b.host}/pend/tool:v2`, ADMIN);
      assert.equal(await digestOf('pend/tool:v2'), dev);
      const tags = await (await api('/repositories/tool/tags')).json();
      assert.ok(!tags.items.some((t: { name: string }) => t.name === 'v2'), 'v2 is not imported yet');
      for (const [p, what] of [
        [`/repositories/tool/artifacts/${dev}`, 'artifact'],
        ['/repositories/tool/artifacts/dev', 'artifact by tag'],
        ['/repositories/tool', 'repository'],
        ['?force=true', 'project'],
      ] as const) {
        const res = await api(p, { method: 'DELETE' });
        assert.equal(res.status, 412, what);
        // the artifact's refusal names the tag not imported yet; a repository or project names any immutable tag
        assert.match((await res.json()).errors[0].message, what.startsWith('artifact') ? /tool:v2 is immutable/ : /is immutable/, what);
      }
      await assert.rejects(b.services.deletion.deleteArtifacts(SYSTEM, 'pend/tool', [dev], { reason: 'retention' }), (e: Error & { code?: string }) => e.code === 'PRECONDITION');
      assert.equal(await digestOf('pend/tool:v2'), dev);
      assert.equal(await digestOf('pend/tool:dev'), dev);
    });

    it('without readable storage (an external registry): waits for the inbox, else a retryable 503; tags from the registry API', async () => {
      const apiOnly = new DeletionService(
        b.db,
        new RegistryClient(
          () => b.services.registryUrl(),
          (access) => b.services.tokens.internal(access),
        ),
        b.services.sync,
        b.services.audit,
        b.services.log,
        () => null,
      );
      await push(await image('ext'), `docker://${b.host}/pend/ext:v1`, ADMIN);
      const digest = await digestOf('pend/ext:v1');
      await eventually(async () => (await pending()) > 0 && !(await known('ext', digest)));
      const t0 = Date.now();
      await assert.rejects(apiOnly.plan('pend/ext', [digest]), (e: Error & { code?: string }) => e.code === 'UNAVAILABLE' && /retry/.test(e.message));
      assert.ok(Date.now() - t0 >= 4500, 'waited for the inbox first');
      // the notification lost instead (marked applied, never applied): the registry's tag list still counts
      await b.db.updateTable('notification_inbox').set({ applied_at: Date.now() }).where('applied_at', 'is', null).where('payload', 'like', '%pend/ext%').execute();
      await assert.rejects(apiOnly.plan('pend/ext', [digest]), (e: Error & { code?: string }) => e.code === 'PRECONDITION' && /ext:v1/.test(e.message));
      assert.ok(await known('ext', digest), 'imported on the way');
    });

    it('retention: an artifact whose new immutable tag is not imported yet stays, the run says why', async () => {
      release();
      const oldSrc = await image('old');
      await push(oldSrc, `docker://${b.host}/pend/ret:old`, ADMIN);
      await new Promise((r) => setTimeout(r, 20)); // distinct push times
      await push(await image('new'), `docker://${b.host}/pend/ret:new`, ADMIN);
      const old = await digestOf('pend/ret:old');
      await eventually(async () => (await known('ret', old)) && (await known('ret', 'new')));
      hold();
      await push(oldSrc, `docker://${b.host}/pend/ret:v9`, ADMIN);
      const rules = [{ repositories: 'ret', tags: '**', untagged: true, retain: { kind: 'latest_pushed', count: 1 } }];
      assert.equal((await api('/retention', { method: 'PUT', json: { rules, schedule: null } })).status, 200);
      const { id } = await (await api('/retention/run', { method: 'POST', json: { dry_run: false } })).json();
      const job = await eventually(async () => {
        const j = await (await b.api(`/api/v1/jobs/${id}`, { auth: ADMIN })).json();
        return j.status === 'success' || j.status === 'error' ? j : null;
      }, 30_000);
      assert.deepEqual(
        job.result.deleted.map((d: { digest: string }) => d.digest),
        [],
        JSON.stringify(job.result),
      );
      assert.match(JSON.stringify(job.result.failed ?? job.result), /ret:v9 is immutable/);
      assert.equal(await digestOf('pend/ret:v9'), old);
    });

    it('REST: deleting an artifact takes its referrer that Berth has not imported yet with it', async () => {
      release();
      const subject = ociArtifact(path.join(b.config.dataDir, `art-${n++}`), { config: { mediaType: 'application/vnd.oci.image.config.v1+json', data: '{"os":"linux"}' }, layers: [] }, 's1');
      await skopeo('copy', '--preserve-digests', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', subject.ref, `docker://${b.host}/pend/signed:s1`);
      await eventually(async () => known('signed', subject.digest));
      hold();
      const referrer = ociArtifact(path.join(b.config.dataDir, `art-${n++}`), spdxReferrer(subject), 'sbom');
      await skopeo('copy', '--preserve-digests', '--retry-times', '0', '--dest-creds', ADMIN.join(':'), '--dest-tls-verify=false', referrer.ref, `docker://${b.host}/pend/signed:sbom`);
      assert.ok(!(await known('signed', referrer.digest)), 'the referrer is not imported yet');
      assert.equal((await api(`/repositories/signed/artifacts/${subject.digest}`, { method: 'DELETE' })).status, 204);
      assert.match(
        await fails('skopeo', ['inspect', '--raw', '--retry-times', '0', '--creds', ADMIN.join(':'), '--tls-verify=false', `docker://${b.host}/pend/signed@${referrer.digest}`]),
        /manifest unknown|not found/i,
      );
    });

    it('once the held events are applied, Berth agrees with the registry and the rules still hold', async () => {
      release();
      await eventually(async () => (await pending()) === 0, 20_000);
      await b.services.sync.idle();
      const v1 = await digestOf('pend/tool:v1');
      const v3 = await digestOf('pend/tool:v3');
      assert.ok(await known('tool', v1));
      const tags = await (await api('/repositories/tool/tags')).json();
      assert.deepEqual(tags.items.map((t: { name: string; digest: string }) => `${t.name}=${t.digest}`).sort(), [`dev=${dev}`, `v1=${v1}`, `v2=${dev}`, `v3=${v3}`].sort());
      // the deleted subject and referrer stay deleted: their late push events do not bring them back
      assert.equal((await api('/repositories/signed')).status, 404);
      assert.match(await skopeoDelete('pend/tool:v1'), /immutable/);
    });
  });
}
