import os from 'node:os';
import type { Config } from '../config.js';
import type { DB } from '../db/connect.js';
import { getSetting, putSetting } from '../db/repos/settings.js';
import { badRequest } from '../errors.js';
import { OutboundClient, OutboundPolicy, parseAddressRule, parseAddressRules, type AddressRule } from '../net/outbound.js';

const SETTING = 'outbound_policy';
// The setting is read at most this often per process (a change reaches other replicas within this time).
const CACHE_MS = 5000;

export interface OutboundRules {
  allow: string[];
  deny: string[];
}

/**
 * The outbound policy a system admin configures: the environment's rules (BERTH_OUTBOUND_ALLOW/DENY) plus the
 * system setting, and Berth's own listeners (core's port and the registry's address, on every local address),
 * which are always refused. Hands out the one OutboundClient every outbound call goes through.
 */
export class OutboundService {
  readonly client: OutboundClient;
  private cached: { at: number; policy: OutboundPolicy } | null = null;

  constructor(
    private readonly db: DB,
    private readonly config: Config,
    /** the registry's base URL, when known */
    private readonly registryUrl: () => string,
  ) {
    this.client = new OutboundClient(() => this.policy());
  }

  /** The rules stored in the system setting (not the environment's). */
  async rules(): Promise<OutboundRules> {
    const v = await getSetting<OutboundRules>(this.db, SETTING);
    return { allow: Array.isArray(v?.allow) ? v.allow : [], deny: Array.isArray(v?.deny) ? v.deny : [] };
  }

  /** Replaces the stored rules; BAD_REQUEST lists entries that are not rules. */
  async setRules(rules: OutboundRules): Promise<OutboundRules> {
    const problems = [...parseAddressRules(rules.allow).problems, ...parseAddressRules(rules.deny).problems];
    if (problems.length) throw badRequest(problems.join('; '));
    const clean = { allow: [...new Set(rules.allow.map((s) => s.trim()))], deny: [...new Set(rules.deny.map((s) => s.trim()))] };
    await putSetting(this.db, SETTING, clean);
    this.cached = null;
    return clean;
  }

  /** The effective policy now. */
  async policy(): Promise<OutboundPolicy> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.policy;
    const stored = await this.rules();
    const allow = parseAddressRules([...this.config.outboundAllow, ...stored.allow]).rules;
    const deny = parseAddressRules([...this.config.outboundDeny, ...stored.deny]).rules;
    const policy = new OutboundPolicy(allow, deny, this.internalRules());
    this.cached = { at: Date.now(), policy };
    return policy;
  }

  /** Core's listener and the registry, on loopback, the unspecified address and every local interface address. */
  private internalRules(): AddressRule[] {
    const ports = new Set<number>();
    const hosts = new Set<string>(['127.0.0.0/8', '::1', '0.0.0.0', '::']);
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) hosts.add(a.address.split('%')[0]!);
    if (this.config.port) ports.add(this.config.port);
    const named: string[] = [];
    for (const raw of [this.registryUrl(), this.config.externalUrl]) {
      if (!raw) continue;
      try {
        const u = new URL(raw);
        const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
        const host = u.hostname.replace(/^\[|\]$/g, '');
        if (parseAddressRule(host)) named.push(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
        // A name (an external registry, the public host name) is judged by the addresses of this machine only.
        if (raw === this.registryUrl()) ports.add(port);
      } catch {
        /* not a URL: nothing to protect */
      }
    }
    const rules: string[] = [...named];
    for (const h of hosts) {
      for (const p of ports) {
        const [addr, prefix] = h.split('/') as [string, string | undefined];
        rules.push(addr.includes(':') ? `[${addr}]${prefix ? `/${prefix}` : ''}:${p}` : `${addr}${prefix ? `/${prefix}` : ''}:${p}`);
      }
    }
    return parseAddressRules(rules).rules;
  }
}
