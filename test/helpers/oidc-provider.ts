import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from '../../src/registry/managed.js';

export const OIDC_CLIENT_ID = 'berth';
export const OIDC_CLIENT_SECRET = 'berth-client-secret-0123456789';

/** Accounts of the test provider: login → groups. Its development login form accepts any password. */
export const OIDC_ACCOUNTS: Record<string, string[]> = { olivia: ['oidc-devs', 'everyone'], oscar: ['everyone'], root: ['berth-admins'] };

export interface TestProvider {
  issuer: string;
  provider: Provider;
  close(): Promise<void>;
}

/**
 * A real, certified OpenID Provider (`oidc-provider`) on a loopback port: one confidential client for Berth with PKCE
 * required, the development login and consent pages, `preferred_username`, `email` and `groups` claims (also in the
 * ID token, so an ID token can serve as a docker password).
 */
export async function startOidcProvider(berthUrl: string): Promise<TestProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: OIDC_CLIENT_ID,
        client_secret: OIDC_CLIENT_SECRET,
        redirect_uris: [`${berthUrl}/oidc/callback`],
        post_logout_redirect_uris: [`${berthUrl}/login`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    async findAccount(_ctx, id) {
      if (!OIDC_ACCOUNTS[id]) return undefined;
      return { accountId: id, claims: async () => ({ sub: `sub-${id}`, preferred_username: id, email: `${id}@example.org`, groups: OIDC_ACCOUNTS[id] }) };
    },
    claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'], groups: ['groups'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  });
  provider.proxy = false;
  const server: Server = provider.listen(port, '127.0.0.1') as unknown as Server;
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    issuer,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
