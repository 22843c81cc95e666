import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

/** The Dockerfile's stages: FROM line and instructions (continuations joined). */
function stages(text: string) {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: { from: string; instructions: string[] }[] = [];
  for (const l of lines) {
    if (/^FROM\s/i.test(l)) out.push({ from: l, instructions: [] });
    else out[out.length - 1]?.instructions.push(l);
  }
  return out;
}

describe('Dockerfile follows the usual lint rules', () => {
  const text = fs.readFileSync('Dockerfile', 'utf8');
  const all = stages(text);
  const final = all[all.length - 1]!;
  it('pins every base image to a version (no latest, no untagged)', () => {
    for (const s of all) assert.match(s.from, /^FROM\s+[\w./-]+:\d[\w.-]*(\s+AS\s+\w+)?$/i, s.from);
  });
  it('runs the final stage as a non-root user, with a healthcheck, in exec form', () => {
    const user = final.instructions.filter((i) => /^USER\s/i.test(i)).pop();
    assert.ok(user && !/^USER\s+(root|0)(:|$)/i.test(user), `final USER: ${user}`);
    assert.ok(final.instructions.some((i) => /^HEALTHCHECK\s+.*CMD\s+\[/i.test(i)));
    const cmd = final.instructions.filter((i) => /^CMD\s/i.test(i)).pop();
    assert.match(cmd ?? '', /^CMD\s+\[/);
    assert.ok(final.instructions.some((i) => /^EXPOSE\s+8080/.test(i)));
  });
  it('installs packages without recommends and cleans apt lists in the same layer; never ADDs URLs', () => {
    for (const s of all) {
      for (const i of s.instructions) {
        if (/apt-get install/.test(i)) {
          assert.match(i, /--no-install-recommends/);
          assert.match(i, /rm -rf \/var\/lib\/apt\/lists/);
        }
        assert.doesNotMatch(i, /^ADD\s+https?:/i);
        assert.doesNotMatch(i, /^RUN\s+.*\bsudo\b/);
      }
    }
  });
  it('ships the registry binary and production dependencies only', () => {
    assert.ok(final.instructions.some((i) => /^COPY --from=registry \/bin\/registry/.test(i)));
    assert.ok(all[0]!.instructions.some((i) => /npm prune --omit=dev/.test(i)));
  });
});

describe('compose.yaml', () => {
  it('is accepted by docker-compose config, with the example env file', () => {
    // As a site would: the file and its deploy/ folder in a directory with a .env made from the example.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compose-'));
    fs.copyFileSync('compose.yaml', path.join(dir, 'compose.yaml'));
    fs.cpSync('deploy', path.join(dir, 'deploy'), { recursive: true });
    fs.copyFileSync('.env.example', path.join(dir, '.env'));
    const out = execFileSync('docker-compose', ['-f', 'compose.yaml', 'config'], { encoding: 'utf8', cwd: dir });
    assert.match(out, /registry:2\.8\.3/);
    assert.match(out, /BERTH_REGISTRY_URL: http:\/\/registry:5000/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('publishes ports on nginx only, and keeps the registry on the internal network', () => {
    const text = fs.readFileSync('compose.yaml', 'utf8');
    const services = text.split(/\n  (?=[a-z]+:\n)/);
    for (const s of services) {
      if (/^nginx:/.test(s)) assert.match(s, /ports:/);
      else assert.doesNotMatch(s, /\n    ports:/, s.split('\n')[0]);
    }
    assert.match(text, /internal:\n    internal: true/);
  });
  it('nginx passes large uploads and long pulls unbuffered', () => {
    const conf = fs.readFileSync('deploy/nginx/berth.conf', 'utf8');
    for (const d of ['client_max_body_size 0;', 'proxy_request_buffering off;', 'proxy_buffering off;', 'proxy_set_header Host $http_host;']) assert.ok(conf.includes(d), d);
  });
  it('every command the compose file runs exists in the CLI', () => {
    const text = fs.readFileSync('compose.yaml', 'utf8');
    const cli = fs.readFileSync('src/cli.ts', 'utf8');
    for (const m of text.matchAll(/bin\/berth\.mjs ([a-z-]+)/g)) assert.ok(cli.includes(`case '${m[1]}'`), m[1]);
    for (const v of text.matchAll(/\b(BERTH_[A-Z_]+)\b/g)) {
      if (v[1] === 'BERTH_HOSTNAME') continue; // compose's own: the TLS certificate's name
      assert.ok(fs.readFileSync('src/config.ts', 'utf8').includes(`'${v[1]}'`), v[1]);
    }
  });
});
