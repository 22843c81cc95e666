import { isSystemAdmin, type Principal } from '../auth/principal.js';
import { denied, unauthorized } from '../errors.js';
import { CLI_ACTOR, type Actor } from './audit-service.js';

/**
 * The operator at the server's shell (the `berth` CLI): whoever can run it holds the database credentials, so is
 * trusted like a system admin, and is audited as {@link CLI_ACTOR} (`(cli)`, which no username can be).
 */
export const OPERATOR = Object.freeze({ operator: true as const, actor: CLI_ACTOR });

/**
 * Who asks for a system operation (maintenance, advisory imports): a caller of REST or the UI (its principal, which
 * must be a system admin, and the actor the audit log names), or {@link OPERATOR}.
 */
export type SystemRequester = { principal: Principal; actor: Actor } | typeof OPERATOR;

/** Throws `UNAUTHORIZED` for an anonymous caller and `DENIED` for anyone but a system admin or the operator. */
export function requireSystemRequester(by: SystemRequester): void {
  if ('operator' in by) return;
  if (by.principal.kind === 'anonymous') throw unauthorized();
  if (!isSystemAdmin(by.principal)) throw denied('only system admins run system operations', { key: 'admins_only' });
}
