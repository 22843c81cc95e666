import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const pexec = promisify(execFile);

/**
 * Requests per second that `wrk` (Debian's, a C load generator, so the client costs little CPU) reaches against
 * `url` with these headers. Throws when wrk is missing or any response was not 2xx, so a ratio never hides errors.
 */
export async function wrkRate(url: string, opts: { connections: number; seconds: number; headers?: Record<string, string> }): Promise<number> {
  const args = ['-t', '2', '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  const { stdout } = await pexec('wrk', [...args, url], { maxBuffer: 1 << 20 });
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (bad) throw new Error(`wrk: ${bad[1]} non-2xx answers from ${url}`);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!rate) throw new Error(`wrk printed no rate: ${stdout}`);
  return Number(rate[1]);
}
