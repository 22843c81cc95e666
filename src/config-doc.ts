import { CONFIG_VARS } from './config.js';

/** The README's configuration table, generated from CONFIG_VARS (a test keeps the README in step). */
export function configTable(): string {
  const rows = CONFIG_VARS.map((v) => `| \`${v.name}\` | ${v.default.startsWith('(') ? v.default : `\`${v.default}\``} | ${v.doc} |`);
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}
