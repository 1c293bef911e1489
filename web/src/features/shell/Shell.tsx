import type { Me } from '@gatehouse/schema';
import { createEffect, For, type JSX, Match, on, Show, Switch } from 'solid-js';
import { createAction } from '../../lib/async.js';
import { dismissFlash, dropStaleFlash, flashMessage } from '../../lib/flash.js';
import { currentHash, paths, type Route, route } from '../../lib/router.js';
import { signedOut } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, ErrorNotice, Notice, PageHeader } from '../../ui/index.js';
import { ApiTokensScreen } from '../api-tokens/ApiTokensScreen.js';
import { Brand } from '../auth/AuthLayout.js';
import { GroupDetailScreen } from '../groups/GroupDetailScreen.js';
import { GroupsScreen } from '../groups/GroupsScreen.js';
import { UsersScreen } from '../users/UsersScreen.js';

const navItems = [
  { href: paths.users, label: 'Users', section: 'users' },
  { href: paths.groups, label: 'Groups', section: 'groups' },
  { href: paths.apiTokens, label: 'API tokens', section: 'api-tokens' },
] as const;

const sectionOf = (current: Route) => (current.name === 'group' ? 'groups' : current.name);

const titleOf: Record<Route['name'], string> = {
  users: 'Users',
  groups: 'Groups',
  group: 'Group',
  'api-tokens': 'API tokens',
  'not-found': 'Not found',
};

/** The signed-in frame: header with navigation and account, and the current screen. */
export function Shell(props: { me: Me }) {
  let main: HTMLElement | undefined;
  const hasPortalAccess = () => props.me.user.role !== 'user';
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
          <a class="brand-link" href={paths.users} style={{ 'text-decoration': 'none' }}>
            <Brand />
          </a>
          <Show when={hasPortalAccess()}>
            <nav class="nav" aria-label="Main">
              <For each={navItems}>
                {(item) => (
                  <a href={item.href} aria-current={sectionOf(route()) === item.section ? 'page' : undefined}>
                    {item.label}
                  </a>
                )}
              </For>
            </nav>
          </Show>
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
          <Show when={hasPortalAccess()} fallback={<NoPortalAccess me={props.me} />}>
            <Screen route={route()} />
          </Show>
        </div>
      </main>
    </>
  );
}

function Screen(props: { route: Route }): JSX.Element {
  return (
    <Switch>
      <Match when={props.route.name === 'users'}>
        <UsersScreen />
      </Match>
      <Match when={props.route.name === 'groups'}>
        <GroupsScreen />
      </Match>
      <Match when={props.route.name === 'group' && props.route.id}>
        {(id) => <GroupDetailScreen id={id()} />}
      </Match>
      <Match when={props.route.name === 'api-tokens'}>
        <ApiTokensScreen />
      </Match>
      <Match when={props.route.name === 'not-found'}>
        <PageHeader title="Page not found" />
        <p>
          There is no such page. <a href={paths.users}>Go to Users</a>.
        </p>
      </Match>
    </Switch>
  );
}

function NoPortalAccess(props: { me: Me }) {
  return (
    <>
      <PageHeader title={`Welcome, ${props.me.user.displayName}`} />
      <Notice tone="info" title="Nothing to administer here">
        <p>
          Your account has the <strong>user</strong> role. The portal is for administrators and auditors; ask
          an administrator if you need access.
        </p>
      </Notice>
    </>
  );
}
