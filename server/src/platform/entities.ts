import { AuditChainHeadEntity, AuditEventEntity } from '../audit/entities.js';
import { McpGrantEntity, McpPinEntity, McpServerEntity, McpVersionEntity } from '../catalog/entities.js';
import { ClientEntity, SubscriptionEntity } from '../clients/entities.js';
import {
  ApiTokenEntity,
  GroupEntity,
  GroupMembershipEntity,
  InstallationEntity,
  PortalSessionEntity,
  UserEntity,
} from '../identity/entities.js';
import { KillSwitchEntity } from '../kill-switches/entities.js';
import { OAuthConnectionEntity, OAuthStateEntity } from '../oauth/entities.js';
import { PortalSettingEntity, SsoLoginStateEntity, SsoProviderEntity } from '../sso/entities.js';
import { StoredCredentialEntity, VaultRetiredKeyEntity, VaultSaltEntity } from '../vault/entities.js';

/** Every entity the ORM knows; migrations must match exactly this set (tested). */
export const allEntities = [
  UserEntity,
  GroupEntity,
  GroupMembershipEntity,
  PortalSessionEntity,
  ApiTokenEntity,
  InstallationEntity,
  AuditEventEntity,
  AuditChainHeadEntity,
  McpServerEntity,
  McpVersionEntity,
  McpGrantEntity,
  McpPinEntity,
  ClientEntity,
  SubscriptionEntity,
  KillSwitchEntity,
  VaultSaltEntity,
  StoredCredentialEntity,
  VaultRetiredKeyEntity,
  OAuthStateEntity,
  OAuthConnectionEntity,
  SsoProviderEntity,
  SsoLoginStateEntity,
  PortalSettingEntity,
];
