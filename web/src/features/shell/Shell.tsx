import type { Me, Role } from '@gatehouse/schema';
import { createEffect, For, type JSX, Match, on, onMount, Show, Switch } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { dismissFlash, dropStaleFlash, flashMessage } from '../../lib/flash.js';
import { currentHash, paths, type Route, route } from '../../lib/router.js';
import { signedOut } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, ErrorNotice, Notice, PageHeader } from '../../ui/index.js';
import { ActivityScreen } from '../activity/ActivityScreen.js';
import { ApiTokensScreen } from '../api-tokens/ApiTokensScreen.js';
import { AuditScreen } from '../audit/AuditScreen.js';
import { Brand } from '../auth/AuthLayout.js';
import { McpCreateScreen } from '../catalog/McpCreateScreen.js';
import { McpDetailScreen } from '../catalog/McpDetailScreen.js';
import { McpListScreen } from '../catalog/McpListScreen.js';
import { ClientsScreen } from '../clients-admin/ClientsScreen.js';
import { CredentialsScreen } from '../credentials/CredentialsScreen.js';
import { GroupDetailScreen } from '../groups/GroupDetailScreen.js';
import { GroupsScreen } from '../groups/GroupsScreen.js';
import { MarketplaceDetailScreen } from '../marketplace/MarketplaceDetailScreen.js';
import { MarketplaceScreen } from '../marketplace/MarketplaceScreen.js';
import { MyClientDetailScreen } from '../my-clients/MyClientDetailScreen.js';
import { MyClientsScreen } from '../my-clients/MyClientsScreen.js';
import { OverviewScreen } from '../overview/OverviewScreen.js';
import { SsoAdminScreen } from '../sso-admin/SsoAdminScreen.js';
import { UsersScreen } from '../users/UsersScreen.js';

type NavItem = { href: string; label: string; sections: Route['name'][] };

/** What each role finds in the navigation; the server authorizes every call regardless. */
const adminNav: NavItem[] = [
  { href: paths.overview, label: 'Overview', sections: ['overview'] },
  { href: paths.users, label: 'Users', sections: ['users'] },
  { href: paths.groups, label: 'Groups', sections: ['groups', 'group'] },
  { href: paths.mcps, label: 'MCPs', sections: ['mcps', 'mcp', 'mcp-new'] },
  { href: paths.clients, label: 'Clients', sections: ['clients'] },
  { href: paths.apiTokens, label: 'API tokens', sections: ['api-tokens'] },
  { href: paths.audit, label: 'Audit', sections: ['audit'] },
  { href: paths.sso, label: 'Single sign-on', sections: ['sso'] },
];
const auditorNav: NavItem[] = [
  { href: paths.overview, label: 'Overview', sections: ['overview'] },
  { href: paths.audit, label: 'Audit', sections: ['audit'] },
  { href: paths.apiTokens, label: 'API tokens', sections: ['api-tokens'] },
];
const selfServiceNav: NavItem[] = [
  { href: paths.marketplace, label: 'Marketplace', sections: ['marketplace', 'marketplace-mcp'] },
  { href: paths.myClients, label: 'My clients', sections: ['my-clients', 'my-client'] },
  { href: paths.credentials, label: 'My credentials', sections: ['credentials'] },
  { href: paths.activity, label: 'My activity', sections: ['activity'] },
];

/** The main navigation, and (for admins and auditors) their own self-service links in a second row. */
export const navFor = (role: Role): { main: NavItem[]; own: NavItem[] } =>
  role === 'admin'
    ? { main: adminNav, own: selfServiceNav }
    : role === 'auditor'
      ? { main: auditorNav, own: selfServiceNav }
      : { main: selfServiceNav, own: [] };

const titleOf: Record<Route['name'], string> = {
  home: 'Gatehouse',
  overview: 'Overview',
  users: 'Users',
  groups: 'Groups',
  group: 'Group',
  mcps: 'MCPs',
  'mcp-new': 'New MCP',
  mcp: 'MCP',
  clients: 'Clients and sessions',
  'api-tokens': 'API tokens',
  audit: 'Audit explorer',
  sso: 'Single sign-on',
  marketplace: 'Marketplace',
  'marketplace-mcp': 'Marketplace',
  'my-clients': 'My clients',
  'my-client': 'Client',
  credentials: 'My credentials',
  activity: 'My activity',
  consent: 'Allow access',
  'not-found': 'Not found',
};

/** The signed-in frame: header with navigation and account, and the current screen. */
export function Shell(props: { me: Me }) {
  let main: HTMLElement | undefined;
  const nav = () => navFor(props.me.user.role);
  const home = () => nav().main[0]?.href ?? paths.marketplace;
  const signOut = createAction(async () => {
    await trpc.auth.logout.mutate();
    signedOut('You have signed out.');
  });

  // Each screen change is announced by moving focus to the content, and named in the window title.
  createEffect(
    on(
      route,
      (current) => {
        dropStaleFlash(currentHash());
        document.title = `${titleOf[current.name]} · Gatehouse`;
        main?.focus({ preventScroll: false });
      },
      { defer: true },
    ),
  );
  document.title = `${titleOf[route().name]} · Gatehouse`;

  return (
    <>
      {/* A button, not a link: with hash routing, "#main" would be read as a route. */}
      <button type="button" class="skip-link" onClick={() => main?.focus()}>
        Skip to content
      </button>
      <header class="app-header">
        <div class="app-header-inner">
          <a class="brand-link" href={home()} style={{ 'text-decoration': 'none' }}>
            <Brand />
          </a>
          <NavLinks label="Main" items={nav().main} />
          <div class="account">
            <span class="account-name" title={props.me.user.username}>
              {props.me.user.displayName}
            </span>
            <span class="account-role">
              <Badge tone={props.me.user.role === 'admin' ? 'accent' : 'neutral'}>{props.me.user.role}</Badge>
            </span>
            <Button size="sm" onClick={() => void signOut.run(undefined)} busy={signOut.pending()}>
              Sign out
            </Button>
          </div>
        </div>
      </header>
      <Show when={nav().own.length > 0}>
        <div class="subnav">
          <div class="app-header-inner">
            <NavLinks label="My things" items={nav().own} />
          </div>
        </div>
      </Show>
      <main id="main" class="app-main" tabIndex={-1} ref={main}>
        <div class="page">
          <ErrorNotice
            error={signOut.error()}
            title="Sign-out failed"
            onDismiss={() => signOut.setError(undefined)}
          />
          <Show when={flashMessage()}>
            {(message) => (
              <Notice tone="success" onDismiss={dismissFlash}>
                {message()}
              </Notice>
            )}
          </Show>
          <Screen route={route()} me={props.me} home={home()} />
        </div>
      </main>
    </>
  );
}

function Screen(props: { route: Route; me: Me; home: string }): JSX.Element {
  const idOf = (name: Route['name']) => {
    const current = props.route;
    return current.name === name && 'id' in current ? current.id : undefined;
  };
  return (
    <Switch>
      <Match when={props.route.name === 'home'}>
        <Redirect to={props.home} />
      </Match>
      <Match when={props.route.name === 'overview'}>
        <OverviewScreen />
      </Match>
      <Match when={props.route.name === 'users'}>
        <UsersScreen />
      </Match>
      <Match when={props.route.name === 'groups'}>
        <GroupsScreen />
      </Match>
      <Match when={idOf('group')}>{(id) => <GroupDetailScreen id={id()} />}</Match>
      <Match when={props.route.name === 'mcps'}>
        <McpListScreen />
      </Match>
      <Match when={props.route.name === 'mcp-new'}>
        <McpCreateScreen />
      </Match>
      <Match when={idOf('mcp')}>{(id) => <McpDetailScreen id={id()} />}</Match>
      <Match when={props.route.name === 'clients'}>
        <ClientsScreen />
      </Match>
      <Match when={props.route.name === 'api-tokens'}>
        <ApiTokensScreen />
      </Match>
      <Match when={props.route.name === 'audit'}>
        <AuditScreen />
      </Match>
      <Match when={props.route.name === 'sso'}>
        <SsoAdminScreen />
      </Match>
      <Match when={props.route.name === 'marketplace'}>
        <MarketplaceScreen />
      </Match>
      <Match when={idOf('marketplace-mcp')}>{(id) => <MarketplaceDetailScreen id={id()} />}</Match>
      <Match when={props.route.name === 'my-clients'}>
        <MyClientsScreen />
      </Match>
      <Match when={idOf('my-client')}>{(id) => <MyClientDetailScreen id={id()} />}</Match>
      <Match when={props.route.name === 'credentials'}>
        <CredentialsScreen />
      </Match>
      <Match when={props.route.name === 'activity'}>
        <ActivityScreen me={props.me} />
      </Match>
      <Match when={props.route.name === 'not-found'}>
        <PageHeader title="Page not found" />
        <p>
          There is no such page. <a href={props.home}>Go to the start page</a>.
        </p>
      </Match>
    </Switch>
  );
}

function NavLinks(props: { label: string; items: NavItem[] }) {
  return (
    <nav class="nav" aria-label={props.label}>
      <For each={props.items}>
        {(item) => (
          <a href={item.href} aria-current={item.sections.includes(route().name) ? 'page' : undefined}>
            {item.label}
          </a>
        )}
      </For>
    </nav>
  );
}

/** The start page depends on the role: navigating replaces the bare `#/`. */
function Redirect(props: { to: string }) {
  onMount(() => window.location.replace(props.to));
  return null;
}
