import { createSignal } from 'solid-js';

/** The portal's screens. The hash keeps routing entirely client-side, so any server path serves the app. */
export type Route =
  | { name: 'users' }
  | { name: 'groups' }
  | { name: 'group'; id: string }
  | { name: 'api-tokens' }
  | { name: 'not-found'; path: string };

export const paths = {
  users: '#/users',
  groups: '#/groups',
  group: (id: string) => `#/groups/${encodeURIComponent(id)}`,
  apiTokens: '#/api-tokens',
} as const;

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'users')) return { name: 'users' };
  if (parts[0] === 'groups' && parts.length === 1) return { name: 'groups' };
  if (parts[0] === 'groups' && parts.length === 2 && parts[1])
    return { name: 'group', id: decodeURIComponent(parts[1]) };
  if (parts[0] === 'api-tokens' && parts.length === 1) return { name: 'api-tokens' };
  return { name: 'not-found', path };
}

/** The canonical hash of a route (`''` and `#/users` are the same screen). */
export function hashOf(route: Route): string {
  switch (route.name) {
    case 'users':
      return paths.users;
    case 'groups':
      return paths.groups;
    case 'group':
      return paths.group(route.id);
    case 'api-tokens':
      return paths.apiTokens;
    case 'not-found':
      return `#${route.path}`;
  }
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
