import { createSignal } from 'solid-js';

/** The portal's screens. The hash keeps routing entirely client-side, so any portal path serves the app. */
export type Route =
  | { name: 'overview' }
  | { name: 'users' }
  | { name: 'groups' }
  | { name: 'group'; id: string }
  | { name: 'mcps' }
  | { name: 'mcp-new' }
  | { name: 'mcp'; id: string }
  | { name: 'clients' }
  | { name: 'api-tokens' }
  | { name: 'audit' }
  | { name: 'sso' }
  | { name: 'marketplace' }
  | { name: 'marketplace-mcp'; id: string }
  | { name: 'my-clients' }
  | { name: 'my-client'; id: string }
  | { name: 'credentials' }
  | { name: 'activity' }
  /** The OAuth consent step for one authorization request (oidc-provider's interaction uid). */
  | { name: 'consent'; uid: string }
  | { name: 'home' }
  | { name: 'not-found'; path: string };

const enc = encodeURIComponent;

export const paths = {
  home: '#/',
  overview: '#/overview',
  users: '#/users',
  groups: '#/groups',
  group: (id: string) => `#/groups/${enc(id)}`,
  mcps: '#/mcps',
  mcpNew: '#/mcps/new',
  mcp: (id: string) => `#/mcps/${enc(id)}`,
  clients: '#/clients',
  apiTokens: '#/api-tokens',
  audit: '#/audit',
  sso: '#/sso',
  marketplace: '#/marketplace',
  marketplaceMcp: (id: string) => `#/marketplace/${enc(id)}`,
  myClients: '#/my/clients',
  myClient: (id: string) => `#/my/clients/${enc(id)}`,
  credentials: '#/my/credentials',
  activity: '#/my/activity',
  consent: (uid: string) => `#/consent/${enc(uid)}`,
} as const;

/** Static routes by their path; routes with an id are matched below. */
const staticRoutes: Record<string, Route> = {
  '/': { name: 'home' },
  '/overview': { name: 'overview' },
  '/users': { name: 'users' },
  '/groups': { name: 'groups' },
  '/mcps': { name: 'mcps' },
  '/mcps/new': { name: 'mcp-new' },
  '/clients': { name: 'clients' },
  '/api-tokens': { name: 'api-tokens' },
  '/audit': { name: 'audit' },
  '/sso': { name: 'sso' },
  '/marketplace': { name: 'marketplace' },
  '/my/clients': { name: 'my-clients' },
  '/my/credentials': { name: 'credentials' },
  '/my/activity': { name: 'activity' },
};

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '').split('?')[0] || '/';
  const path = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
  const known = staticRoutes[path];
  if (known) return known;
  const parts = path.split('/').filter(Boolean);
  let id: string;
  try {
    id = decodeURIComponent(parts.at(-1) ?? '');
  } catch {
    return { name: 'not-found', path };
  }
  if (parts.length === 2 && parts[0] === 'groups') return { name: 'group', id };
  if (parts.length === 2 && parts[0] === 'mcps') return { name: 'mcp', id };
  if (parts.length === 2 && parts[0] === 'marketplace') return { name: 'marketplace-mcp', id };
  if (parts.length === 3 && parts[0] === 'my' && parts[1] === 'clients') return { name: 'my-client', id };
  if (parts.length === 2 && parts[0] === 'consent') return { name: 'consent', uid: id };
  return { name: 'not-found', path };
}

/** The canonical hash of a route. */
export function hashOf(route: Route): string {
  switch (route.name) {
    case 'group':
      return paths.group(route.id);
    case 'mcp':
      return paths.mcp(route.id);
    case 'marketplace-mcp':
      return paths.marketplaceMcp(route.id);
    case 'my-client':
      return paths.myClient(route.id);
    case 'consent':
      return paths.consent(route.uid);
    case 'not-found':
      return `#${route.path}`;
    default: {
      const entry = Object.entries(staticRoutes).find(([, candidate]) => candidate.name === route.name);
      return `#${entry?.[0] ?? '/'}`;
    }
  }
}

/** Query parameters after the hash path (`#/my/credentials?oauth=connected`). */
export function hashQuery(): URLSearchParams {
  const [, query = ''] = window.location.hash.split('?');
  return new URLSearchParams(query);
}

const read = () => {
  const route = parseRoute(window.location.hash);
  return { route, hash: hashOf(route) };
};

const [location, setLocation] = createSignal(read());
window.addEventListener('hashchange', () => setLocation(read()));

export const route = () => location().route;
export const currentHash = () => location().hash;

export function navigate(hash: string) {
  window.location.hash = hash;
}
