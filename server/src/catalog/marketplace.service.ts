import type { MarketplaceEntry } from '@gatehouse/schema';
import { McpConfig } from '@gatehouse/schema';
import { GroupMembershipEntity } from '../identity/entities.js';
import { EVERYONE_GROUP_ID } from '../identity/groups.service.js';
import { requireAuthenticated, type ServiceContext } from '../platform/context.js';
import { McpGrantEntity, McpPinEntity, McpServerEntity, McpVersionEntity } from './entities.js';

/** The groups whose grants apply to a user: their memberships plus the implicit `everyone`. */
export async function groupIdsOf(ctx: ServiceContext, userId: string): Promise<string[]> {
  const memberships = await ctx.em.find(GroupMembershipEntity, { user: userId });
  return [EVERYONE_GROUP_ID, ...memberships.map((m) => m.group.id)];
}

/** Published MCPs granted to one of the caller's groups, with their approved tools; never connection details. */
export async function listMarketplace(ctx: ServiceContext): Promise<{ items: MarketplaceEntry[] }> {
  const actor = requireAuthenticated(ctx);
  const groups = await groupIdsOf(ctx, actor.userId);
  const grants = await ctx.em.find(McpGrantEntity, { group: { $in: groups } });
  const mcpIds = [...new Set(grants.map((grant) => grant.mcp.id))];
  if (mcpIds.length === 0) return { items: [] };
  const mcps = await ctx.em.find(
    McpServerEntity,
    { id: { $in: mcpIds }, status: 'published' },
    { orderBy: { name: 'asc' } },
  );
  const versionIds = mcps
    .map((mcp) => mcp.liveVersionId)
    .filter((id): id is string => typeof id === 'string');
  const [versions, pins] = await Promise.all([
    ctx.em.find(McpVersionEntity, { id: { $in: versionIds } }),
    ctx.em.find(
      McpPinEntity,
      { mcp: { $in: mcps.map((m) => m.id) }, kind: 'tool', state: 'approved' },
      { orderBy: { name: 'asc' } },
    ),
  ]);
  const configOf = new Map(versions.map((v) => [v.id, McpConfig.parse(v.config)]));
  return {
    items: mcps.flatMap((mcp) => {
      const config = configOf.get(mcp.liveVersionId ?? '');
      if (!config) return [];
      return [
        {
          id: mcp.id,
          slug: mcp.slug,
          name: mcp.name,
          description: mcp.description,
          iconUrl: mcp.iconUrl ?? null,
          isolation: config.isolation,
          credentials: config.credentials.map(({ name, label, help, secret, required }) => ({
            name,
            label,
            help,
            secret,
            required,
          })),
          tools: pins
            .filter((pin) => pin.mcp.id === mcp.id)
            .map((pin) => {
              const definition = pin.approvedDefinition ?? {};
              return {
                name: pin.name,
                title: typeof definition.title === 'string' ? definition.title : undefined,
                description: typeof definition.description === 'string' ? definition.description : undefined,
              };
            }),
        },
      ];
    }),
  };
}
