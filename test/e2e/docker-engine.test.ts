import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { busyboxRootfs, dockerUnavailableReason, importImage, startDocker, type DockerEngine } from '../helpers/docker.js';

// In CI a missing engine is a failure, never a pass; elsewhere the suite says why it did not run.
const unavailable = dockerUnavailableReason();
if (unavailable && process.env.CI === 'true') throw new Error(`CI needs a Docker engine: ${unavailable}`);

describe('private Docker engine helper', { skip: unavailable ?? false }, () => {
  let engine: DockerEngine;
  let rootfs: string;
  before(async () => {
    engine = await startDocker();
    rootfs = busyboxRootfs();
  });
  after(async () => {
    await engine?.stop();
    if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
  });

  it('answers on its own socket', async () => {
    assert.match(engine.host, /^unix:\/\/\/tmp\/.+\/docker\.sock$/);
    const info = JSON.parse(await engine.docker(['info', '--format', '{{json .}}']));
    assert.equal(info.Images, 0, 'a fresh engine has no images');
    assert.equal(info.Driver, engine.storageDriver);
  });

  it('imports a rootfs as a tagged image with its config, and runs it without a network', async () => {
    const id = await importImage(engine, rootfs, 'berth-test/busybox:1', ['CMD ["echo","from-cmd"]', 'ENV GREETING=hello', 'USER nobody']);
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const [img] = JSON.parse(await engine.docker(['image', 'inspect', 'berth-test/busybox:1']));
    assert.equal(img.Id, id);
    assert.deepEqual(img.Config.Cmd, ['echo', 'from-cmd']);
    assert.ok(img.Config.Env.includes('GREETING=hello'));
    assert.equal((await engine.docker(['run', '--rm', '--network', 'none', 'berth-test/busybox:1'])).trim(), 'from-cmd');
    const out = await engine.docker(['run', '--rm', '--network', 'none', 'berth-test/busybox:1', 'sh', '-c', 'echo "$GREETING $(id -u)"']);
    assert.equal(out.trim(), 'hello 65534');
  });

  it('stops and removes its directories', async () => {
    const other = await startDocker();
    const root = other.host.replace(/^unix:\/\//, '').replace(/\/docker\.sock$/, '');
    assert.ok(fs.existsSync(root));
    await other.stop();
    assert.equal(fs.existsSync(root), false);
    await assert.rejects(other.docker(['info']), /docker info/);
  });
});
