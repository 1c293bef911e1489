import type { EntityManager } from '@mikro-orm/postgresql';
import { ClientEntity } from '../clients/entities.js';
import { sha256Hex } from '../crypto/index.js';
import type { ChangeBus } from '../platform/change-bus.js';
import type { Clock } from '../platform/clock.js';
import type { Orm } from '../platform/db.js';
import type { OAuthRecords } from './adapter.js';

/** What a Gatehouse client reached through OAuth is looked up by in the access cache (never a key hash). */
export const OAUTH_ACCESS_PREFIX = 'oauth:';
export const oauthAccessKey = (clientId: string) => `${OAUTH_ACCESS_PREFIX}${clientId}`;

interface Known {
  readonly accessKey: string;
  readonly resource: string;
  readonly expiresAt: number;
}

const MAX_CACHED = 50_000;
/** oidc-provider's opaque tokens: 256 random bits in base64url, 43 characters. */
const WELL_FORMED = /^[A-Za-z0-9_-]{43}$/;

/**
 * Resolves an OAuth access token presented on `/mcp` to the Gatehouse client it stands for (ADR 0034): the
 * SHA-256 of the token finds its record; the record must be live by Gatehouse's clock and bound to exactly the
 * endpoint's resource; its person and OAuth client name one Gatehouse client that is not revoked. Known tokens
 * are remembered in memory until they expire, and forgotten on any change to clients or identities and on
 * every revocation, so a revoked grant stops working on the next request.
 */
export class OAuthTokens {
  private readonly known = new Map<string, Known>();

  constructor(private readonly deps: { records: OAuthRecords; orm: Orm; clock: Clock; changes: ChangeBus }) {
    deps.changes.subscribe((change) => {
      if (change.kind === 'clients' || change.kind === 'identity') this.clear();
    });
    deps.records.onGrantRevoked(() => this.clear());
  }

  static hashOf(token: string): string {
    return sha256Hex(token);
  }

  /** The access key of a token known here and valid for `resource`, without any database access. */
  peek(tokenHash: string, resource: string): string | undefined {
    const known = this.known.get(tokenHash);
    if (!known) return undefined;
    if (known.expiresAt <= this.deps.clock.now().getTime()) {
      this.known.delete(tokenHash);
      return undefined;
    }
    return known.resource === resource ? known.accessKey : undefined;
  }

  /** Whether `token` has the shape of oidc-provider's opaque tokens (256 bits, base64url): only those exist. */
  static isWellFormed(token: string): boolean {
    return WELL_FORMED.test(token);
  }

  /** The access key of the Gatehouse client `token` authenticates on `resource`; null when it does not. */
  async resolve(token: string, resource: string): Promise<string | null> {
    const found = await this.lookup(token, resource);
    return typeof found === 'object' ? found.accessKey : null;
  }

  /**
   * What `token` is on `resource`, with one primary-key read when it is not known here: valid (the access key
   * of its Gatehouse client), `refused` (it exists but expired, names another resource or a revoked client:
   * not a guess, so not a failure to throttle) or `unknown`.
   */
  async lookup(token: string, resource: string): Promise<{ accessKey: string } | 'refused' | 'unknown'> {
    const tokenHash = OAuthTokens.hashOf(token);
    const cached = this.peek(tokenHash, resource);
    if (cached) return { accessKey: cached };
    const record = await this.deps.records.find('AccessToken', token, true);
    if (!record) return 'unknown';
    if (record.expiresAt && record.expiresAt.getTime() <= this.deps.clock.now().getTime()) return 'refused';
    const payload = record.payload as { accountId?: string; clientId?: string; aud?: string | string[] };
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (audiences.length !== 1 || audiences[0] !== resource) return 'refused';
    if (!payload.accountId || !payload.clientId) return 'refused';
    const em = this.deps.orm.em.fork() as EntityManager;
    const client = await em.findOne(ClientEntity, {
      user: payload.accountId,
      oauthClientId: payload.clientId,
      status: { $ne: 'revoked' },
    });
    if (!client) return 'refused';
    const accessKey = oauthAccessKey(client.id);
    if (this.known.size >= MAX_CACHED) this.known.clear();
    this.known.set(tokenHash, {
      accessKey,
      resource,
      expiresAt: record.expiresAt?.getTime() ?? this.deps.clock.now().getTime(),
    });
    return { accessKey };
  }

  /** Forgets every token (a grant or token was revoked, or a client or person changed). */
  clear(): void {
    this.known.clear();
  }
}
