import type { Config } from '../platform/config.js';

const SLUG = /^[a-z0-9-]{1,24}$/;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/**
 * The canonical URLs of this Gatehouse as an OAuth authorization server and protected resource (ADR 0033,
 * ADR 0034). They come from the configuration (`GATEHOUSE_PUBLIC_PORTAL_URL`, `GATEHOUSE_PUBLIC_MCP_URL`), else
 * from the listeners as bound; never from a request's Host header, so a forged header cannot change the issuer
 * or the audience tokens are bound to.
 */
export class PublicUrls {
  constructor(
    private readonly config: Pick<Config, 'publicPortalUrl' | 'publicMcpUrl' | 'host'>,
    private readonly listener: { secure: boolean; clientPort(): number; portalPort(): number },
  ) {}

  private originOf(port: number): string {
    const host = WILDCARD_HOSTS.has(this.config.host) ? 'localhost' : this.config.host;
    const shown = host.includes(':') ? `[${host}]` : host;
    return `${this.listener.secure ? 'https' : 'http'}://${shown}:${port}`;
  }

  /** The authorization server's issuer: the portal's public origin. */
  issuer(): string {
    return this.config.publicPortalUrl
      ? new URL(this.config.publicPortalUrl).origin
      : this.originOf(this.listener.portalPort());
  }

  /** The canonical URL of `/mcp` (the aggregate endpoint). */
  mcpBase(): string {
    const configured = this.config.publicMcpUrl?.replace(/\/+$/, '');
    return configured ?? `${this.originOf(this.listener.clientPort())}/mcp`;
  }

  /** The resource (RFC 8707) a token for this endpoint must be bound to: `/mcp`, or `/mcp/<slug>`. */
  resourceOf(slug: string | null): string {
    return slug === null ? this.mcpBase() : `${this.mcpBase()}/${slug}`;
  }

  /** Where a resource's RFC 9728 metadata is: the well-known path inserted before the resource's path. */
  metadataUrlOf(slug: string | null): string {
    const resource = new URL(this.resourceOf(slug));
    return `${resource.origin}/.well-known/oauth-protected-resource${resource.pathname}`;
  }

  /**
   * Which endpoint a requested resource names: `{ slug: null }` for `/mcp`, `{ slug }` for `/mcp/<slug>`, null
   * for anything else (another host, another path, a query or fragment). Whether the slug exists is the
   * caller's question.
   */
  parse(resource: string): { slug: string | null } | null {
    const base = this.mcpBase();
    if (resource === base) return { slug: null };
    if (!resource.startsWith(`${base}/`)) return null;
    const slug = resource.slice(base.length + 1);
    return SLUG.test(slug) ? { slug } : null;
  }
}
