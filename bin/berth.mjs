#!/usr/bin/env node
// `berth …`: the compiled CLI when present (the container image), else the TypeScript source through tsx.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'src', 'cli.js');
let args;
if (fs.existsSync(compiled)) args = [compiled];
else {
  const require = createRequire(import.meta.url);
  args = ['--import', require.resolve('tsx'), path.join(root, 'src', 'cli.ts')];
}
const r = spawnSync(process.execPath, [...args, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
