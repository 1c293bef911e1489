import { sha256Hex } from '../crypto/index.js';

const URI_PREFIX = 'gatehouse://';

/** Resource URIs are namespaced so a read routes back to the MCP that listed it, and only there. */
export const gatewayUri = (slug: string, uri: string) => `${URI_PREFIX}${slug}/${uri}`;

export function parseGatewayUri(uri: string): { slug: string; uri: string } | null {
  if (!uri.startsWith(URI_PREFIX)) return null;
  const rest = uri.slice(URI_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash > 0 ? { slug: rest.slice(0, slash), uri: rest.slice(slash + 1) } : null;
}

/** Client-facing tool names: `<slug>__<tool>`, at most 64 characters. */
export const SEPARATOR = '__';
const MAX_NAME = 64;

export function exposedToolName(slug: string, tool: string): string {
  const full = `${slug}${SEPARATOR}${tool}`;
  if (full.length <= MAX_NAME) return full;
  // Stable and unique: a truncated name plus 8 hex characters of the original's hash.
  const room = MAX_NAME - slug.length - SEPARATOR.length - 9;
  return `${slug}${SEPARATOR}${tool.slice(0, room)}-${sha256Hex(tool).slice(0, 8)}`;
}

/**
 * How a session sees its MCPs. The aggregate view (`/mcp`) prefixes names with the slug and namespaces
 * resource URIs; a passthrough view (`/mcp/<slug>`) shows one MCP exactly as the downstream names things.
 */
export interface View {
  readonly only: string | null;
  includes(slug: string): boolean;
  name(slug: string, name: string): string;
  uri(slug: string, uri: string): string;
  parseUri(uri: string): { slug: string; uri: string } | null;
}

export const AGGREGATE_VIEW: View = {
  only: null,
  includes: () => true,
  name: exposedToolName,
  uri: gatewayUri,
  parseUri: parseGatewayUri,
};

export const passthroughView = (slug: string): View => ({
  only: slug,
  includes: (candidate) => candidate === slug,
  name: (_slug, name) => name,
  uri: (_slug, uri) => uri,
  parseUri: (uri) => ({ slug, uri }),
});

/** The slug a client-facing tool name belongs to in a view ('' when the name cannot belong to any). */
export function slugOfName(view: View, name: string): string {
  if (view.only !== null) return view.only;
  const separator = name.indexOf(SEPARATOR);
  return separator > 0 ? name.slice(0, separator) : '';
}
