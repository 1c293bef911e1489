import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { McpServerEntity } from '../catalog/entities.js';
import { UserEntity } from '../identity/entities.js';

/** The random HKDF salt of each vault owner (a user, or an MCP for its shared secrets). */
export const VaultSaltEntity = defineEntity({
  name: 'VaultSalt',
  tableName: 'vault_salt',
  properties: {
    owner: p.string().primary().length(48),
    salt: p.string().length(44),
    createdAt: p.datetime(),
  },
});

/**
 * One sealed secret value: a credential field of one owner for one MCP. `owner` is the user id, or the MCP
 * id for shared credentials; it is part of the associated data, so a ciphertext moved to another row does
 * not open. `user` is set for user-owned values so deleting the user deletes them.
 */
export const StoredCredentialEntity = defineEntity({
  name: 'StoredCredential',
  tableName: 'vault_credential',
  uniques: [{ properties: ['mcp', 'owner', 'field'] }],
  properties: {
    id: p.string().primary().length(48),
    mcp: () => p.manyToOne(McpServerEntity).deleteRule('cascade'),
    owner: p.string().length(48),
    user: () => p.manyToOne(UserEntity).deleteRule('cascade').nullable().index(),
    field: p.string().length(64),
    /** `v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>` */
    sealed: p.text(),
    keyId: p.string().length(16).index(),
    updatedAt: p.datetime(),
    updatedBy: p.string().length(48),
  },
});
export type StoredCredentialRow = InferEntity<typeof StoredCredentialEntity>;

/** A master key version retired by `gatehouse vault retire`: no server opens a value sealed with it again. */
export const VaultRetiredKeyEntity = defineEntity({
  name: 'VaultRetiredKey',
  tableName: 'vault_retired_key',
  properties: {
    keyId: p.string().primary().length(16),
    retiredAt: p.datetime(),
  },
});
