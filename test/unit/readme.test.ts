import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { configTable } from '../../src/config-doc.js';

describe('README', () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  it('shows the two commands', () => {
    assert.ok(readme.includes('npm run setup && npm start'));
    assert.ok(readme.includes('npm test'));
  });
  it('carries the configuration table generated from src/config.ts', () => {
    assert.ok(readme.includes(configTable()), 'regenerate with: npx tsx -e "import(\'./src/config-doc.ts\').then(m=>console.log(m.configTable()))"');
  });
});

describe('README development chapter', () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  const chapter = readme.slice(readme.indexOf('## Development'));
  it('names only source files that exist (the layout and the "where things are" list)', () => {
    const named = [...chapter.matchAll(/`((?:src|test|migrations)\/[\w./-]+\.ts)`/g)].map((m) => m[1]!);
    assert.ok(named.length >= 15, named.join(' '));
    for (const f of named) assert.ok(fs.existsSync(f), f);
  });
  it('follows each flow in at most five files', () => {
    const list = chapter.slice(chapter.indexOf('- Where things are'));
    const flows = list.split('\n  - ').slice(1, 5);
    assert.equal(flows.length, 4);
    for (const f of flows) {
      const files = new Set([...f.matchAll(/`(src\/[\w./-]+\.ts)`/g)].map((m) => m[1]));
      assert.ok(files.size >= 3 && files.size <= 5, f);
    }
  });
});

describe('README deployment chapter', () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  const chapter = readme.slice(readme.indexOf('## Deployment'), readme.indexOf('## Development'));
  const cli = fs.readFileSync('src/cli.ts', 'utf8');
  const config = fs.readFileSync('src/config.ts', 'utf8');
  it('exists', () => assert.ok(chapter.length > 1000));
  it('names only CLI commands that exist', () => {
    const named = [...chapter.matchAll(/`(?:npx berth|node bin\/berth\.mjs|berth) ([a-z-]+)/g)].map((m) => m[1]!);
    const listed = /\*\*Admin CLI\*\*[^\n]*\n?[\s\S]*?`gc` and `reconcile`/.exec(chapter)?.[0] ?? '';
    for (const m of listed.matchAll(/`([a-z-]+)(?: [^`]*)?`/g)) if (m[1] !== 'node' && m[1] !== 'npx') named.push(m[1]!);
    assert.ok(named.length >= 8, named.join(' '));
    for (const c of named) assert.ok(cli.includes(`case '${c}'`) || c === 'admin', `berth ${c}`);
    assert.ok(cli.includes("'reset-password'"));
  });
  it('names only variables that exist', () => {
    for (const m of chapter.matchAll(/\b(BERTH_[A-Z_]+|DATABASE_URL)\b/g)) {
      if (m[1] === 'BERTH_HOSTNAME') continue; // compose's own
      assert.ok(config.includes(`'${m[1]}'`), m[1]);
    }
  });
  it('refers to files that exist', () => {
    for (const f of ['compose.yaml', 'Dockerfile', '.env.example', 'deploy/nginx/berth.conf']) assert.ok(fs.existsSync(f), f);
  });
});
