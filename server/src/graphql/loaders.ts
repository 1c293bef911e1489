import DataLoader from 'dataloader';
import type { AuditReader } from '../audit/reader.js';

/** Only non-secret columns are ever selected: no password, token or key hashes. */
export interface UserNode {
  id: string;
  username: string;
  displayName: string;
  role: string;
  status: string;
}
export interface GroupNode {
  id: string;
  name: string;
  description: string;
}
export interface McpNode {
  id: string;
  slug: string;
  name: string;
  description: string;
  status: string;
}
export interface ToolNode {
  mcpId: string;
  name: string;
  description: string | null;
  pinState: string;
  approvedHash: string | null;
}
export interface ClientNode {
  id: string;
  userId: string;
  name: string;
  kind: string;
  status: string;
}
export interface ApiTokenNode {
  id: string;
  name: string;
  role: string;
  createdById: string;
}

/** One batched `= any($1)` query per kind and request tick, in key order, missing keys as null. */
function batchedById<T extends { id: string }>(
  reader: AuditReader,
  sql: string,
): DataLoader<string, T | null> {
  return new DataLoader<string, T | null>(async (ids) => {
    const rows = await reader.rows<T>(sql, [ids]);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  });
}

function batchedGroups<T>(
  reader: AuditReader,
  sql: string,
  keyOf: (row: T) => string,
): DataLoader<string, T[]> {
  return new DataLoader<string, T[]>(async (keys) => {
    const rows = await reader.rows<T>(sql, [keys]);
    const byKey = new Map<string, T[]>();
    for (const row of rows) byKey.set(keyOf(row), [...(byKey.get(keyOf(row)) ?? []), row]);
    return keys.map((key) => byKey.get(key) ?? []);
  });
}

const toolColumns = `mcp_id as "mcpId", name, state as "pinState", approved_hash as "approvedHash",
  coalesce(approved_definition, observed_definition) ->> 'description' as description`;

export const toolKey = (mcpId: string, name: string) => JSON.stringify([mcpId, name]);

/** Per-request loaders: every relation in one GraphQL answer costs one query per kind, however many rows. */
export function createLoaders(reader: AuditReader) {
  return {
    user: batchedById<UserNode>(
      reader,
      `select id, username, display_name as "displayName", role, status from app_user where id = any($1)`,
    ),
    group: batchedById<GroupNode>(reader, 'select id, name, description from user_group where id = any($1)'),
    groupsOfUser: batchedGroups<GroupNode & { userId: string }>(
      reader,
      `select g.id, g.name, g.description, m.user_id as "userId" from group_membership m
         join user_group g on g.id = m.group_id where m.user_id = any($1) order by g.name`,
      (row) => row.userId,
    ),
    mcp: batchedById<McpNode>(
      reader,
      'select id, slug, name, description, status from mcp_server where id = any($1)',
    ),
    toolsOfMcp: batchedGroups<ToolNode>(
      reader,
      `select ${toolColumns} from mcp_pin where kind = 'tool' and mcp_id = any($1) order by name`,
      (row) => row.mcpId,
    ),
    tool: new DataLoader<string, ToolNode | null>(async (keys) => {
      const pairs = keys.map((key) => JSON.parse(key) as [string, string]);
      const rows = await reader.rows<ToolNode>(
        `select ${toolColumns} from mcp_pin
          where kind = 'tool' and (mcp_id, name) in (select * from unnest($1::text[], $2::text[]))`,
        [pairs.map(([mcpId]) => mcpId), pairs.map(([, name]) => name)],
      );
      const byKey = new Map(rows.map((row) => [toolKey(row.mcpId, row.name), row]));
      return keys.map((key) => byKey.get(key) ?? null);
    }),
    client: batchedById<ClientNode>(
      reader,
      'select id, user_id as "userId", name, kind, status from mcp_client where id = any($1)',
    ),
    apiToken: batchedById<ApiTokenNode>(
      reader,
      'select id, name, role, created_by_id as "createdById" from api_token where id = any($1)',
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
