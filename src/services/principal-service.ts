import type { Principal } from '../auth/principal.js';
import { AppError } from '../errors.js';
import type { User } from '../db/repos/users.js';

/** Turns Basic credentials into a principal: users here; robot accounts (`robot$…`) plug in via `robots`. */
export class PrincipalService {
  constructor(
    private readonly accounts: { authenticate(username: string, password: string, ip: string): Promise<User> },
    private readonly robots?: { authenticate(name: string, secret: string): Promise<Principal | undefined> },
  ) {}

  async fromBasic(username: string, password: string, ip: string): Promise<Principal> {
    if (username.startsWith('robot$')) {
      const p = this.robots ? await this.robots.authenticate(username, password) : undefined;
      if (!p) throw new AppError('UNAUTHORIZED', 'invalid username or password');
      return p;
    }
    const u = await this.accounts.authenticate(username, password, ip);
    return { kind: 'user', id: u.id, name: u.username, isAdmin: u.isAdmin };
  }
}
