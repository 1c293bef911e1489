import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * DNS-rebinding protection for `/mcp` (docs/decisions/0017-mcp-endpoint-hostile-input.md), in small pieces:
 * which host names are the server's own, whether a `Host` header names one of them, and whether an `Origin`
 * is allowed. Names are compared without their port: a rebinding attack is told apart by the name the
 * browser used, never by the port, and a port mapping (containers, proxies) changes only the port.
 */

export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'] as const;

/** `::1` → `[::1]`, lower case, no trailing dot: the form a `Host` header carries. */
export function normalizeHostname(name: string): string {
  const lower = name.trim().toLowerCase().replace(/\.$/, '');
  return isIP(lower) === 6 ? `[${lower}]` : lower;
}

export const isLoopbackHost = (host: string) =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export const isWildcardHost = (host: string) => host === '0.0.0.0' || host === '::' || host === '[::]';

/** The addresses of this machine's interfaces, for a server bound to every interface. */
export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .map((entry) => entry.address);
}

/**
 * The host names the server answers to by default: the address it is bound to, the host of
 * `GATEHOUSE_PUBLIC_MCP_URL`, the loopback names when it listens on loopback (or on every interface, which
 * includes loopback), and the interface addresses when it listens on every interface; the host of
 * `GATEHOUSE_PUBLIC_PORTAL_URL` (the portal's connection snippet names the client port on the portal's host);
 * plus `extra` (`GATEHOUSE_MCP_ALLOWED_HOSTS`).
 */
export function ownHostnames(options: {
  boundHost: string;
  publicMcpUrl?: string;
  publicPortalUrl?: string;
  extra?: readonly string[];
  interfaces?: () => string[];
}): Set<string> {
  const names = new Set<string>();
  const bound = options.boundHost.replace(/^\[|\]$/g, '');
  if (isWildcardHost(bound)) {
    for (const name of LOOPBACK_NAMES) names.add(name);
    for (const address of (options.interfaces ?? interfaceAddresses)()) {
      names.add(normalizeHostname(address.replace(/%.*$/, '')));
    }
  } else {
    names.add(normalizeHostname(bound));
    if (isLoopbackHost(bound)) for (const name of LOOPBACK_NAMES) names.add(name);
  }
  for (const url of [options.publicMcpUrl, options.publicPortalUrl]) {
    if (url) names.add(normalizeHostname(new URL(url).hostname));
  }
  for (const name of options.extra ?? []) names.add(normalizeHostname(hostnameOf(name) ?? name));
  return names;
}

/** The name part of a `Host` header value (`example.com:8443` → `example.com`, `[::1]:80` → `[::1]`). */
export function hostnameOf(host: string): string | null {
  const value = host.trim();
  if (value === '' || value.length > 300) return null;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return null;
    const rest = value.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    return normalizeHostname(value.slice(1, end));
  }
  const colon = value.indexOf(':');
  if (colon >= 0 && !/^\d{1,5}$/.test(value.slice(colon + 1))) return null;
  const name = colon >= 0 ? value.slice(0, colon) : value;
  return name === '' ? null : normalizeHostname(name);
}

/** A request must name one of the server's hosts; without a `Host` header (HTTP/1.0) it is refused. */
export function hostAllowed(host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (host === undefined) return false;
  const name = hostnameOf(host);
  return name !== null && allowed.has(name);
}

/**
 * Native clients send no `Origin` and pass. A browser's `Origin` passes when it is listed exactly
 * (`GATEHOUSE_MCP_ALLOWED_ORIGINS`) or is an http(s) origin on one of the server's own host names.
 */
export function originAllowed(
  origin: string | undefined,
  listed: readonly string[],
  ownNames: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true;
  if (listed.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return ownNames.has(normalizeHostname(url.hostname));
}
