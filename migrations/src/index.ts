import { Migration20261124000001Initial } from './Migration20261124000001Initial.js';
import { Migration20261124000002Catalog } from './Migration20261124000002Catalog.js';
import { Migration20261124000003Clients } from './Migration20261124000003Clients.js';
import { Migration20261124000004KillSwitches } from './Migration20261124000004KillSwitches.js';
import { Migration20261124000005ClientSuspendedBy } from './Migration20261124000005ClientSuspendedBy.js';
import { Migration20261124000006Vault } from './Migration20261124000006Vault.js';
import { Migration20261124000007OAuth } from './Migration20261124000007OAuth.js';
import { Migration20261124000008AuditExplorer } from './Migration20261124000008AuditExplorer.js';
import { Migration20261203000009AuthThrottle } from './Migration20261203000009AuthThrottle.js';
import { Migration20261203000010VaultRetiredKeys } from './Migration20261203000010VaultRetiredKeys.js';
import { Migration20261203000011McpSessions } from './Migration20261203000011McpSessions.js';
import { Migration20261203000012AuditIngest } from './Migration20261203000012AuditIngest.js';
import { Migration20261203000013Sso } from './Migration20261203000013Sso.js';
import { Migration20261203000014OAuthServer } from './Migration20261203000014OAuthServer.js';
import { Migration20261203000015OAuthRecordColumns } from './Migration20261203000015OAuthRecordColumns.js';
import { Migration20261203000016SsoAnyDomain } from './Migration20261203000016SsoAnyDomain.js';

/** Static list of migrations, in order. Loaded this way so compiled, bundled and test runs all find them. */
export const migrationsList = [
  { name: 'Migration20261124000001Initial', class: Migration20261124000001Initial },
  { name: 'Migration20261124000002Catalog', class: Migration20261124000002Catalog },
  { name: 'Migration20261124000003Clients', class: Migration20261124000003Clients },
  { name: 'Migration20261124000004KillSwitches', class: Migration20261124000004KillSwitches },
  { name: 'Migration20261124000005ClientSuspendedBy', class: Migration20261124000005ClientSuspendedBy },
  { name: 'Migration20261124000006Vault', class: Migration20261124000006Vault },
  { name: 'Migration20261124000007OAuth', class: Migration20261124000007OAuth },
  { name: 'Migration20261124000008AuditExplorer', class: Migration20261124000008AuditExplorer },
  { name: 'Migration20261203000009AuthThrottle', class: Migration20261203000009AuthThrottle },
  { name: 'Migration20261203000010VaultRetiredKeys', class: Migration20261203000010VaultRetiredKeys },
  { name: 'Migration20261203000011McpSessions', class: Migration20261203000011McpSessions },
  { name: 'Migration20261203000012AuditIngest', class: Migration20261203000012AuditIngest },
  { name: 'Migration20261203000013Sso', class: Migration20261203000013Sso },
  { name: 'Migration20261203000014OAuthServer', class: Migration20261203000014OAuthServer },
  {
    name: 'Migration20261203000015OAuthRecordColumns',
    class: Migration20261203000015OAuthRecordColumns,
  },
  { name: 'Migration20261203000016SsoAnyDomain', class: Migration20261203000016SsoAnyDomain },
];
