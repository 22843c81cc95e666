import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuthSettingsService, OidcSettings } from './auth-settings-service.js';
import type { DirectoryIdentity, IdentityService } from './identity-service.js';

/** What the browser carries between /oidc/login and /oidc/callback (in a signed, short-lived cookie). */
export interface OidcFlowState {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
// Discovery and token calls give up after this many seconds (openid-client's default is 30).
const HTTP_TIMEOUT_S = 10;

/**
 * OpenID Connect sign-in with openid-client: discovery, authorization code flow with PKCE (S256), state and nonce
 * checks, claims from the ID token (and the userinfo endpoint when a claim is missing there), logout at the
 * provider. Plain http issuers are accepted on loopback only. The discovered configuration is cached until the
 * settings change.
 */
export class OidcService {
  private cached: { revision: string; config: oidc.Configuration; jwks: ReturnType<typeof createRemoteJWKSet> } | null = null;

  constructor(
    private readonly settings: AuthSettingsService,
    private readonly identity: IdentityService,
    private readonly log: Logger,
    private readonly externalUrl: string,
    /** signs the cookie that carries state, nonce and PKCE verifier between login and callback */
    readonly cookieKey: string,
  ) {
    identity.idTokenVerifier = (username, token) => this.verifyIdTokenPassword(username, token);
  }

  get redirectUri(): string {
    return `${this.externalUrl}/oidc/callback`;
  }

  private async client(): Promise<{ settings: OidcSettings; config: oidc.Configuration; jwks: ReturnType<typeof createRemoteJWKSet> }> {
    const s = await this.settings.oidc();
    if (!s) throw new AppError('UNAVAILABLE', 'OpenID Connect sign-in is not configured: a system admin must set the issuer and client id');
    if (this.cached?.revision !== s.revision) {
      const issuer = new URL(s.settings.issuer);
      const insecure = issuer.protocol === 'http:';
      if (insecure && !LOOPBACK.has(issuer.hostname)) throw new AppError('UNAVAILABLE', 'the OpenID Connect issuer must use https (http only on loopback)');
      try {
        const config = await oidc.discovery(issuer, s.settings.clientId, s.clientSecret, undefined, { execute: insecure ? [oidc.allowInsecureRequests] : [], timeout: HTTP_TIMEOUT_S });
        const jwksUri = config.serverMetadata().jwks_uri;
        if (!jwksUri) throw new Error('the provider publishes no jwks_uri');
        this.cached = { revision: s.revision, config, jwks: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: HTTP_TIMEOUT_S * 1000 }) };
      } catch (err) {
        this.log.warn({ err: (err as Error).message, issuer: s.settings.issuer }, 'OIDC discovery failed');
        throw new AppError('UNAVAILABLE', `the OpenID Connect provider cannot be reached or is misconfigured: ${(err as Error).message}`);
      }
    }
    return { settings: s.settings, config: this.cached.config, jwks: this.cached.jwks };
  }

  /** Starts a sign-in: the provider URL to send the browser to, and the state to keep for the callback. */
  async begin(next: string): Promise<{ url: string; flow: OidcFlowState }> {
    const { settings, config } = await this.client();
    const verifier = oidc.randomPKCECodeVerifier();
    const flow: OidcFlowState = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier, next };
    const scopes = new Set(['openid', ...settings.scopes.split(' ').filter(Boolean)]);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: [...scopes].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    return { url: url.href, flow };
  }

  /**
   * Finishes a sign-in: exchanges the code (checking state, nonce, PKCE), reads the claims and provisions the user.
   * Throws UNAUTHORIZED for a failed or forged callback, UNAVAILABLE when the provider cannot be reached.
   */
  async complete(callbackQuery: string, flow: OidcFlowState) {
    const { settings, config } = await this.client();
    const current = new URL(`${this.redirectUri}${callbackQuery}`);
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true });
    } catch (err) {
      const e = err as Error & { error?: string; error_description?: string };
      this.log.warn({ err: e.message, error: e.error }, 'OIDC callback refused');
      throw new AppError('UNAUTHORIZED', `OpenID Connect sign-in failed: ${e.error_description ?? e.error ?? e.message}`);
    }
    let claims: Record<string, unknown> = { ...tokens.claims() };
    if (claims[settings.usernameClaim] === undefined || claims[settings.groupsClaim] === undefined) {
      try {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
        claims = { ...info, ...claims };
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'OIDC userinfo failed');
      }
    }
    const user = await this.identity.provision(this.identityFrom(settings, claims));
    return { user, idToken: tokens.id_token, next: flow.next };
  }

  private identityFrom(settings: OidcSettings, claims: Record<string, unknown> | JWTPayload): DirectoryIdentity {
    const username = claims[settings.usernameClaim];
    if (typeof username !== 'string' || !username) throw new AppError('UNAUTHORIZED', `the provider sent no "${settings.usernameClaim}" claim to use as the username`);
    const raw = claims[settings.groupsClaim];
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? [raw] : [];
    return {
      source: 'oidc',
      externalId: `${claims.iss}|${claims.sub}`,
      username,
      email: typeof claims.email === 'string' ? claims.email : null,
      groups,
      isAdmin: settings.adminGroup ? groups.includes(settings.adminGroup) : null,
    };
  }

  /** An ID token from the provider as a docker password (when enabled): signature, issuer, audience, expiry, username. */
  private async verifyIdTokenPassword(username: string, token: string): Promise<DirectoryIdentity | undefined> {
    const s = await this.settings.oidc();
    if (!s?.settings.acceptIdToken) return undefined;
    const { settings, config, jwks } = await this.client();
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: config.serverMetadata().issuer, audience: settings.clientId, clockTolerance: 30 });
      const id = this.identityFrom(settings, payload);
      return id.username === username ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /** Where to send the browser after Berth's own sign-out: the provider's end-session endpoint, if it has one. */
  async logoutUrl(idToken: string | undefined): Promise<string | null> {
    try {
      const { config } = await this.client();
      if (!config.serverMetadata().end_session_endpoint) return null;
      const params: Record<string, string> = { post_logout_redirect_uri: `${this.externalUrl}/login` };
      if (idToken) params.id_token_hint = idToken;
      return oidc.buildEndSessionUrl(config, params).href;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'OIDC logout URL');
      return null;
    }
  }
}
