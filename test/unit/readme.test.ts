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
