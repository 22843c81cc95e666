import type { Migration } from 'kysely';
import { addColumn, createIndex, type AnyDB } from './helpers.js';

/**
 * Users from a directory: where the account comes from (`db`, `ldap`, `oidc`), its id there (LDAP DN, OIDC
 * `iss|sub`), and, for OIDC users, the hash of their CLI secret (the password docker uses, since it cannot do a
 * browser flow).
 */
export const externalUsers: Migration = {
  async up(db: AnyDB) {
    await addColumn(db, 'users', 'auth_source', 'varchar(16)', { notNull: true, defaultTo: 'db' });
    await addColumn(db, 'users', 'external_id', 'varchar(512)');
    await addColumn(db, 'users', 'cli_secret_hash', 'varchar(255)');
    await createIndex(db, 'users_source_idx', 'users', ['auth_source']);
  },
};
