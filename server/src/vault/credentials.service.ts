import {
  type CredentialField,
  type CredentialOwners,
  type CredentialState,
  type DeleteCredentialsInput,
  McpConfig,
  type SetCredentialsInput,
} from '@gatehouse/schema';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emitAudit } from '../audit/emit.js';
import { McpGrantEntity, McpServerEntity, McpVersionEntity } from '../catalog/entities.js';
import { groupIdsOf } from '../catalog/marketplace.service.js';
import { UserEntity } from '../identity/entities.js';
import {
  requireAuthenticated,
  requireRole,
  type ServiceContext,
  withTransaction,
} from '../platform/context.js';
import { DomainError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { CredentialProvider } from '../runtime/runtime-manager.js';
import { OAUTH_ACCESS_TOKEN } from '../runtime/templating.js';
import { StoredCredentialEntity } from './entities.js';
import type { Vault, VaultSlot } from './vault.js';

interface McpCredentialSchema {
  mcpId: string;
  slug: string;
  isolation: 'shared' | 'per-user';
  fields: CredentialField[];
  config: McpConfig;
}

const notFound = () => new DomainError('NOT_FOUND', 'No such MCP');

/** The live (or, before publishing, the newest) config's credential fields. */
export async function credentialSchema(em: EntityManager, mcpId: string): Promise<McpCredentialSchema> {
  const mcp = await em.findOne(McpServerEntity, { id: mcpId });
  if (!mcp) throw notFound();
  const versionId = mcp.liveVersionId ?? mcp.candidateVersionId;
  const version = versionId ? await em.findOne(McpVersionEntity, { id: versionId }) : null;
  if (!version) throw notFound();
  const config = McpConfig.parse(version.config);
  return { mcpId, slug: mcp.slug, isolation: config.isolation, fields: config.credentials, config };
}

/** A user may hold credentials for a published MCP granted to one of their groups; others do not exist. */
export async function requireReachable(ctx: ServiceContext, userId: string, mcpId: string): Promise<void> {
  const mcp = await ctx.em.findOne(McpServerEntity, { id: mcpId, status: 'published' });
  const groups = await groupIdsOf(ctx, userId);
  if (!mcp || (await ctx.em.count(McpGrantEntity, { mcp: mcpId, group: { $in: groups } })) === 0) {
    throw notFound();
  }
}

/** Whose values the caller works on: their own for a per-user MCP; the MCP's (admins only) for a shared one. */
async function ownerFor(
  ctx: ServiceContext,
  mcpId: string,
): Promise<{ schema: McpCredentialSchema; owner: string; userId: string | null }> {
  const actor = requireAuthenticated(ctx);
  const schema = await credentialSchema(ctx.em, mcpId);
  if (schema.isolation === 'per-user') {
    await requireReachable(ctx, actor.userId, mcpId);
    return { schema, owner: actor.userId, userId: actor.userId };
  }
  requireRole(ctx, 'admin');
  return { schema, owner: mcpId, userId: null };
}

function checkFields(schema: McpCredentialSchema, names: string[]): void {
  const known = new Set(schema.fields.map((field) => field.name));
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new DomainError(
      'VALIDATION_FAILED',
      `MCP "${schema.slug}" has no credential field ${unknown.map((n) => `"${n}"`).join(', ')}; its fields are ` +
        (schema.fields.map((field) => `"${field.name}"`).join(', ') || 'none'),
    );
  }
}

/** Seals `value` into the slot's row, creating or replacing it (the caller flushes and commits). */
export async function storeSealed(
  em: EntityManager,
  vault: Vault,
  slot: VaultSlot,
  userId: string | null,
  value: string,
  updatedBy: string,
): Promise<void> {
  const { sealed, keyId } = await vault.seal(em, slot, value);
  const existing = await em.findOne(StoredCredentialEntity, {
    mcp: slot.mcpId,
    owner: slot.owner,
    field: slot.field,
  });
  if (existing) {
    existing.sealed = sealed;
    existing.keyId = keyId;
    existing.updatedAt = new Date();
    existing.updatedBy = updatedBy;
    return;
  }
  em.create(StoredCredentialEntity, {
    id: newId('credential'),
    mcp: slot.mcpId,
    owner: slot.owner,
    user: userId,
    field: slot.field,
    sealed,
    keyId,
    updatedAt: new Date(),
    updatedBy,
  });
}

/** Opens the slot's row, or null when it is not set. */
export async function openSealed(em: EntityManager, vault: Vault, slot: VaultSlot): Promise<string | null> {
  const row = await em.findOne(StoredCredentialEntity, {
    mcp: slot.mcpId,
    owner: slot.owner,
    field: slot.field,
  });
  return row ? vault.open(em, slot, row.sealed) : null;
}

/** The caller's fields for one MCP: set or not, when; values only for fields marked not secret. */
export async function credentialState(
  ctx: ServiceContext,
  vault: Vault,
  mcpId: string,
): Promise<CredentialState> {
  const { schema, owner } = await ownerFor(ctx, mcpId);
  const rows = await ctx.em.find(StoredCredentialEntity, { mcp: mcpId, owner });
  const byField = new Map(rows.map((row) => [row.field, row]));
  const fields = await Promise.all(
    schema.fields.map(async (field) => {
      const row = byField.get(field.name);
      return {
        name: field.name,
        label: field.label,
        help: field.help,
        secret: field.secret,
        required: field.required,
        set: row !== undefined,
        updatedAt: row?.updatedAt.toISOString() ?? null,
        value:
          row && !field.secret
            ? await vault.open(ctx.em, { owner, mcpId, field: field.name }, row.sealed)
            : null,
      };
    }),
  );
  return {
    mcpId,
    scope: schema.isolation,
    fields,
    complete: fields.every((field) => field.set || !field.required),
  };
}

export async function setCredentials(
  ctx: ServiceContext,
  vault: Vault,
  input: SetCredentialsInput,
): Promise<CredentialState> {
  const { schema, owner, userId } = await ownerFor(ctx, input.mcpId);
  const names = Object.keys(input.values).sort();
  checkFields(schema, names);
  const actor = requireAuthenticated(ctx);
  await withTransaction(
    ctx,
    async (tx) => {
      for (const name of names) {
        await storeSealed(
          tx.em,
          vault,
          { owner, mcpId: input.mcpId, field: name },
          userId,
          input.values[name] ?? '',
          actor.userId,
        );
      }
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'credential.set',
        target: { type: 'mcp', id: input.mcpId, label: schema.slug },
        details: { scope: schema.isolation, fields: names },
      });
    },
    { kind: 'credentials', mcpId: input.mcpId, userId },
  );
  return credentialState(ctx, vault, input.mcpId);
}

export async function deleteCredentials(
  ctx: ServiceContext,
  vault: Vault,
  input: DeleteCredentialsInput,
): Promise<CredentialState> {
  const { schema, owner, userId } = await ownerFor(ctx, input.mcpId);
  if (input.fields) checkFields(schema, input.fields);
  await withTransaction(
    ctx,
    async (tx) => {
      const rows = await tx.em.find(StoredCredentialEntity, {
        mcp: input.mcpId,
        owner,
        // Credential fields only: OAuth tokens are removed by disconnecting.
        field: { $in: input.fields ?? schema.fields.map((field) => field.name) },
      });
      for (const row of rows) tx.em.remove(row);
      await tx.em.flush();
      await emitAudit(tx, {
        action: 'credential.delete',
        target: { type: 'mcp', id: input.mcpId, label: schema.slug },
        details: { scope: schema.isolation, fields: rows.map((row) => row.field).sort() },
      });
    },
    { kind: 'credentials', mcpId: input.mcpId, userId },
  );
  return credentialState(ctx, vault, input.mcpId);
}

/** Admins and auditors see who has set which fields and when; never a value. */
export async function credentialOwners(ctx: ServiceContext, mcpId: string): Promise<CredentialOwners> {
  requireRole(ctx, 'admin', 'auditor');
  await credentialSchema(ctx.em, mcpId);
  const rows = await ctx.em.find(
    StoredCredentialEntity,
    { mcp: mcpId },
    { orderBy: { owner: 'asc', field: 'asc' } },
  );
  const userIds = [...new Set(rows.flatMap((row) => (row.user ? [row.user.id] : [])))];
  const users = await ctx.em.find(UserEntity, { id: { $in: userIds } });
  const usernames = new Map(users.map((user) => [user.id, user.username]));
  const owners = new Map<string, CredentialOwners['owners'][number]>();
  for (const row of rows) {
    const userId = row.user?.id ?? null;
    const entry = owners.get(row.owner) ?? {
      userId,
      username: userId ? (usernames.get(userId) ?? null) : null,
      fields: [],
    };
    entry.fields.push({ name: row.field, updatedAt: row.updatedAt.toISOString() });
    owners.set(row.owner, entry);
  }
  return { mcpId, owners: [...owners.values()] };
}

/** What the runtime injects at spawn: the owner's opened values, by field name. */
export class VaultCredentialProvider implements CredentialProvider {
  constructor(
    private readonly em: () => EntityManager,
    private readonly vault: Vault,
  ) {}

  async credentialsFor(request: { mcpId: string; userId: string | null }): Promise<Record<string, string>> {
    const em = this.em();
    const owner = request.userId ?? request.mcpId;
    const rows = await em.find(StoredCredentialEntity, { mcp: request.mcpId, owner });
    const values: Record<string, string> = {};
    for (const row of rows) {
      // Only what an instance may receive: credential fields and the OAuth access token.
      if (row.field.startsWith('oauth:') && row.field !== OAUTH_ACCESS_TOKEN) continue;
      values[row.field] = await this.vault.open(
        em,
        { owner, mcpId: request.mcpId, field: row.field },
        row.sealed,
      );
    }
    return values;
  }
}
