import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { JWK } from 'oidc-provider';
import type { Vault, VaultSlot } from '../vault/vault.js';

export interface ServerSecrets {
  /** Private signing keys (JWKS) of this installation. */
  readonly jwks: { keys: JWK[] };
  /** Keys that sign oidc-provider's cookies, newest first. */
  readonly cookieKeys: string[];
}

const slotOf = (name: string): VaultSlot => ({ owner: 'gatehouse-oauth-server', mcpId: '-', field: name });

function newSecret(name: 'jwks' | 'cookie-keys'): string {
  if (name === 'cookie-keys') return JSON.stringify([randomBytes(32).toString('base64url')]);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return JSON.stringify({
    keys: [{ ...jwk, kid: randomBytes(12).toString('base64url'), use: 'sig', alg: 'RS256' }],
  });
}

/** One secret: generated and sealed by the first process that needs it, read and opened by every other one. */
async function secretOf(em: EntityManager, vault: Vault, name: 'jwks' | 'cookie-keys'): Promise<string> {
  const connection = em.getConnection();
  const read = () =>
    connection.execute<{ sealed: string }[]>(
      'select sealed from oauth_server_secret where name = ?',
      [name],
      'all',
    );
  let [row] = await read();
  if (!row) {
    const { sealed } = await vault.seal(em, slotOf(name), newSecret(name));
    // Insert-if-absent then read: two replicas starting together agree on the first one's keys.
    await connection.execute(
      'insert into oauth_server_secret (name, sealed, created_at) values (?, ?, now()) on conflict (name) do nothing',
      [name, sealed],
      'run',
    );
    [row] = await read();
  }
  if (!row) throw new Error(`oauth_server_secret ${name} could not be stored`);
  return vault.open(em, slotOf(name), row.sealed);
}

/**
 * The authorization server's signing and cookie keys (ADR 0033): random per installation, created on first
 * start, sealed with the vault's master key in PostgreSQL so every replica shares them. No default secret.
 */
export async function loadServerSecrets(em: EntityManager, vault: Vault): Promise<ServerSecrets> {
  const jwks = JSON.parse(await secretOf(em, vault, 'jwks')) as { keys: JWK[] };
  const cookieKeys = JSON.parse(await secretOf(em, vault, 'cookie-keys')) as string[];
  return { jwks, cookieKeys };
}

/**
 * Re-seals the authorization server's secrets that are not on the vault's active key (vault rotation, ADR
 * 0034), in the caller's transaction; rows locked by another rotation are skipped. Returns the rows re-sealed.
 */
export async function resealServerSecrets(em: EntityManager, vault: Vault): Promise<number> {
  const connection = em.getConnection();
  const tx = em.getTransactionContext();
  const rows = await connection.execute<{ name: string; sealed: string }[]>(
    `select name, sealed from oauth_server_secret where split_part(sealed, ':', 2) <> ?
     order by name for update skip locked`,
    [vault.activeKeyId],
    'all',
    tx,
  );
  for (const row of rows) {
    const { sealed } = await vault.seal(
      em,
      slotOf(row.name),
      await vault.open(em, slotOf(row.name), row.sealed),
    );
    await connection.execute(
      'update oauth_server_secret set sealed = ? where name = ?',
      [sealed, row.name],
      'run',
      tx,
    );
  }
  return rows.length;
}
