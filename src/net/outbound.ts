import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { BlockList } from 'node:net';
import type { LookupFunction } from 'node:net';

/**
 * The one way Berth calls out (external scanner adapters, job webhooks, advisory feeds). Every call:
 * - resolves the host itself and checks **each resolved address** (and the port) against the outbound policy, then
 *   connects to the checked address (the lookup hook hands the socket exactly what was checked: no DNS rebinding);
 * - never follows redirects (a 3xx is returned to the caller as a status);
 * - has a total timeout and a response size limit;
 * - fails with an OutboundError whose message never carries the remote body.
 *
 * Policy, in order: Berth's own listeners (core, the registry) are always refused; then an explicit deny rule
 * refuses; then an explicit allow rule admits; then loopback, private, link-local (cloud metadata), CGNAT, unique-local,
 * multicast and unspecified addresses are refused by default; anything else (public addresses) is admitted.
 */

export class OutboundError extends Error {
  constructor(
    message: string,
    readonly kind: 'denied' | 'timeout' | 'too_large' | 'network' | 'bad_url',
  ) {
    super(message);
  }
}

export interface AddressRule {
  /** text as configured, e.g. `10.0.0.0/8`, `127.0.0.1:5000`, `[::1]:8080` */
  text: string;
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
  port: number | null;
}

/** Parses `<ip>[/<prefix>]`, `<ipv4>[/<prefix>]:<port>` or `[<ipv6>][/<prefix>]:<port>`; null when malformed. */
export function parseAddressRule(text: string): AddressRule | null {
  const t = text.trim();
  if (!t || t.length > 64) return null;
  let host = t;
  let port: number | null = null;
  const v6 = /^\[([^\]]+)\](?:\/(\d{1,3}))?(?::(\d{1,5}))?$/.exec(t);
  let prefixText: string | undefined;
  if (v6) {
    host = v6[1]!;
    prefixText = v6[2];
    port = v6[3] ? Number(v6[3]) : null;
  } else if (net.isIPv6(t.split('/')[0]!)) {
    [host, prefixText] = t.split('/') as [string, string | undefined];
  } else {
    const m = /^([0-9.]+)(?:\/(\d{1,2}))?(?::(\d{1,5}))?$/.exec(t);
    if (!m) return null;
    host = m[1]!;
    prefixText = m[2];
    port = m[3] ? Number(m[3]) : null;
  }
  const fam = net.isIP(host);
  if (!fam) return null;
  const max = fam === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { text: t, family: fam === 4 ? 'ipv4' : 'ipv6', address: host, prefix, port };
}

/** Parses a list of rules; returns the rules and the entries that are not rules. */
export function parseAddressRules(list: readonly string[]): { rules: AddressRule[]; problems: string[] } {
  const rules: AddressRule[] = [];
  const problems: string[] = [];
  for (const s of list) {
    const r = parseAddressRule(s);
    if (r) rules.push(r);
    else problems.push(`not an address rule: ${JSON.stringify(s.slice(0, 64))} (use an IP, a CIDR, optionally with :port)`);
  }
  return { rules, problems };
}

/** Refused unless an allow rule admits them. */
export const DEFAULT_DENIED = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
  '64:ff9b::/96',
];

const blockOf = (rules: AddressRule[]) => {
  const b = new BlockList();
  for (const r of rules) b.addSubnet(r.address, r.prefix, r.family);
  return b;
};

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address it is. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return { address: m[1]!, family: 'ipv4' };
  return { address, family: net.isIPv6(address) ? 'ipv6' : 'ipv4' };
}

const matches = (rules: AddressRule[], address: string, family: 'ipv4' | 'ipv6', port: number) =>
  rules.some((r) => r.family === family && (r.port === null || r.port === port) && blockOf([r]).check(address, family));

export class OutboundPolicy {
  private readonly defaults = blockOf(parseAddressRules(DEFAULT_DENIED).rules);

  constructor(
    readonly allow: AddressRule[],
    readonly deny: AddressRule[],
    /** Berth's own listeners: refused whatever the rules say */
    readonly internal: AddressRule[] = [],
  ) {}

  /** Whether Berth may connect to `address:port`; `reason` says why not. */
  decide(rawAddress: string, port: number): { ok: true } | { ok: false; reason: string } {
    const { address, family } = normalise(rawAddress);
    if (!net.isIP(address)) return { ok: false, reason: 'not an IP address' };
    if (matches(this.internal, address, family, port)) return { ok: false, reason: `${address}:${port} is one of Berth's own services` };
    if (matches(this.deny, address, family, port)) return { ok: false, reason: `${address}:${port} is denied by the outbound policy` };
    if (matches(this.allow, address, family, port)) return { ok: true };
    if (this.defaults.check(address, family)) return { ok: false, reason: `${address} is a loopback, private or link-local address, which the outbound policy does not allow (BERTH_OUTBOUND_ALLOW)` };
    return { ok: true };
  }
}

export interface OutboundRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** total time for connect, request and response, ms (default 10 s) */
  timeoutMs?: number;
  /** the largest response body read, bytes (default 1 MiB) */
  maxBytes?: number;
  signal?: AbortSignal;
  /** write the response body to this file instead of memory (large downloads) */
  toFile?: string;
  /** https: accept any certificate (a webhook policy's `skip_tls_verify`) */
  insecureTls?: boolean;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  /** the body (empty when written to a file) */
  body: Buffer;
  size: number;
  text(): string;
  json(): unknown;
}

/**
 * Outbound HTTP(S) under a policy that can change at run time (the system setting): `policy()` is asked on every
 * request. Tests use loopback listeners with an allow rule for them.
 */
export class OutboundClient {
  constructor(private readonly policy: () => Promise<OutboundPolicy> | OutboundPolicy) {}

  async request(rawUrl: string, opts: OutboundRequest = {}): Promise<OutboundResponse> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new OutboundError('not a URL', 'bad_url');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('only http and https URLs are allowed', 'bad_url');
    if (url.username || url.password) throw new OutboundError('credentials in URLs are not allowed', 'bad_url');
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const policy = await this.policy();
    if (net.isIP(host)) {
      const d = policy.decide(host, port);
      if (!d.ok) throw new OutboundError(`refused: ${d.reason}`, 'denied');
    }
    // The hook the socket resolves through: only addresses the policy admits are returned, and the socket connects
    // to exactly those.
    const lookup: LookupFunction = (hostname, options, cb) => {
      dns.lookup(hostname, { all: true, family: options.family as number | undefined }, (err, addresses) => {
        if (err) return (cb as (e: Error | null, a: string, f?: number) => void)(new OutboundError(`cannot resolve ${hostname.slice(0, 100)}`, 'network'), '');
        const list = addresses as dns.LookupAddress[];
        const ok = list.filter((a) => policy.decide(a.address, port).ok);
        if (!ok.length) {
          const d = list.length ? policy.decide(list[0]!.address, port) : { ok: false as const, reason: 'no address' };
          return (cb as (e: Error | null, a: string, f?: number) => void)(
            new OutboundError(`refused: ${hostname.slice(0, 100)} resolves to ${'reason' in d ? d.reason : 'a refused address'}`, 'denied'),
            '',
          );
        }
        if ((options as { all?: boolean }).all) (cb as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, ok);
        else (cb as (e: null, a: string, f: number) => void)(null, ok[0]!.address, ok[0]!.family);
      });
    };
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    const signal = AbortSignal.any(signals);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<OutboundResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        req.destroy();
        if (err instanceof OutboundError) return reject(err);
        if (signal.aborted) {
          if (opts.signal?.aborted) return reject(new OutboundError('stopped', 'timeout'));
          return reject(new OutboundError(`no answer within ${Math.round(timeoutMs / 1000)} s`, 'timeout'));
        }
        const code = (err as { code?: string }).code;
        reject(new OutboundError(`connection failed${code && /^[A-Z_]{2,32}$/.test(code) ? ` (${code})` : ''}`, 'network'));
      };
      const req = mod.request(
        url,
        {
          method: opts.method ?? 'GET',
          headers: { 'user-agent': 'berth', ...opts.headers },
          lookup,
          signal,
          agent: false,
          ...(url.protocol === 'https:' && opts.insecureTls ? { rejectUnauthorized: false } : {}),
        },
        (res) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          const declared = Number(res.headers['content-length'] ?? 0);
          if (declared > maxBytes) return fail(new OutboundError(`response larger than ${maxBytes} bytes`, 'too_large'));
          const chunks: Buffer[] = [];
          let size = 0;
          const file = opts.toFile ? fs.createWriteStream(opts.toFile, { mode: 0o600 }) : null;
          file?.on('error', fail);
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) return fail(new OutboundError(`response larger than ${maxBytes} bytes`, 'too_large'));
            if (file) {
              if (!file.write(c)) {
                res.pause();
                file.once('drain', () => res.resume());
              }
            } else chunks.push(c);
          });
          res.on('error', fail);
          res.on('end', () => {
            const done = () => {
              if (settled) return;
              settled = true;
              const body = Buffer.concat(chunks);
              resolve({
                status: res.statusCode ?? 0,
                headers,
                body,
                size,
                text: () => body.toString('utf8'),
                json: () => {
                  try {
                    return JSON.parse(body.toString('utf8'));
                  } catch {
                    throw new OutboundError('the answer is not JSON', 'network');
                  }
                },
              });
            };
            if (file) file.end(done);
            else done();
          });
        },
      );
      req.on('error', fail);
      if (opts.body !== undefined) req.end(opts.body);
      else req.end();
    });
  }
}
