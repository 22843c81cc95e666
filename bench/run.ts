/** `npm run bench`: every benchmark, each a ratio against a baseline measured in the same run. */
import { benchLists } from './lists.js';
import { benchProxy } from './proxy-throughput.js';
import { benchScan } from './scan.js';
import { benchTokens } from './token-issue.js';
import { benchV2Gate } from './v2-gate.js';

const only = process.argv.slice(2);
const all: Record<string, () => Promise<{ name: string; ratio: number; detail: string }[]>> = { tokens: benchTokens, proxy: benchProxy, scan: benchScan, 'v2-gate': benchV2Gate, lists: benchLists };
for (const [key, fn] of Object.entries(all)) {
  if (only.length && !only.includes(key)) continue;
  for (const r of await fn()) console.log(`${r.name.padEnd(36)} ratio ${r.ratio.toFixed(2)}  (${r.detail})`);
}
process.exit(0);
