import type { ListUsersInput, Role, User, UserStatus } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createDebounced, createQuery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDateTime } from '../../lib/format.js';
import { canManage, me, signedIn, signedOut } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  Button,
  type Column,
  ConfirmDialog,
  ErrorNotice,
  Form,
  PageHeader,
  Pagination,
  Select,
  Table,
  TextField,
} from '../../ui/index.js';
import { KillSwitchDialog } from '../kill-switches/KillSwitchDialog.js';
import { roleLabels, roleOptions, roleTone, statusLabels, statusTone } from './roles.js';
import { CreateUserDialog, EditUserDialog, ResetPasswordDialog, SuspendDialog } from './UserDialogs.js';

const PAGE_SIZE = 25;

type OpenDialog =
  | { kind: 'create' }
  | { kind: 'edit'; user: User }
  | { kind: 'reset-password'; user: User }
  | { kind: 'suspend'; user: User }
  | { kind: 'reactivate'; user: User }
  | { kind: 'delete'; user: User }
  | { kind: 'kill'; user: User }
  | { kind: 'unkill'; user: User };

export function UsersScreen() {
  const [searchText, setSearchText] = createSignal('');
  const [search, applySearch] = createDebounced(searchText, 300);
  const [roleFilter, setRoleFilter] = createSignal<Role | 'all'>('all');
  const [statusFilter, setStatusFilter] = createSignal<UserStatus | 'all'>('all');
  const filterKey = () => JSON.stringify([search().trim(), roleFilter(), statusFilter()]);
  // The page offset belongs to one set of filters: changing a filter goes back to the first page.
  const [page, setPage] = createSignal({ key: filterKey(), offset: 0 });
  const offset = () => (page().key === filterKey() ? page().offset : 0);

  const users = createQuery(
    (): ListUsersInput => ({
      search: search().trim() || undefined,
      role: roleFilter() === 'all' ? undefined : (roleFilter() as Role),
      status: statusFilter() === 'all' ? undefined : (statusFilter() as UserStatus),
      limit: PAGE_SIZE,
      offset: offset(),
    }),
    (input) => trpc.users.list.query(input),
  );

  const kills = createQuery(
    () => canManage(),
    () => trpc.killSwitches.list.query(),
  );
  const killed = (user: User) =>
    (kills.data()?.items ?? []).some((kill) => kill.targetType === 'user' && kill.targetId === user.id);

  const [dialog, setDialog] = createSignal<OpenDialog | null>(null);
  const close = () => setDialog(null);
  const dialogOf = <K extends OpenDialog['kind']>(kind: K) => {
    const current = dialog();
    return current?.kind === kind ? (current as Extract<OpenDialog, { kind: K }>) : undefined;
  };
  const isSelf = (user: User) => user.id === me()?.user.id;

  /** After a change: reload, step back a page if this one emptied, and say what happened. */
  const done = async (message: string) => {
    setDialog(null);
    showFlash(message);
    await users.refetch();
    const data = users.data();
    if (data && data.items.length === 0 && offset() > 0) {
      setPage({ key: filterKey(), offset: Math.max(0, offset() - PAGE_SIZE) });
    }
  };

  /** After editing oneself, the header and permissions follow the new role. A lost session is handled globally. */
  const refreshSelf = () =>
    trpc.auth.me
      .query()
      .then(signedIn)
      .catch(() => undefined);

  const columns = (): Column<User>[] => [
    {
      header: 'User',
      cell: (user) => (
        <>
          <span class="cell-primary">{user.displayName}</span>{' '}
          <Show when={isSelf(user)}>
            <Badge tone="accent">you</Badge>
          </Show>{' '}
          <Show when={user.ssoProviderId}>
            <Badge tone="neutral">single sign-on</Badge>
          </Show>
          <span class="cell-secondary">{user.username}</span>
        </>
      ),
    },
    { header: 'Email', cell: (user) => user.email },
    { header: 'Role', cell: (user) => <Badge tone={roleTone[user.role]}>{roleLabels[user.role]}</Badge> },
    {
      header: 'Status',
      cell: (user) => (
        <>
          <Badge tone={statusTone[user.status]}>{statusLabels[user.status]}</Badge>{' '}
          <Show when={killed(user)}>
            <Badge tone="danger">killed</Badge>
          </Show>
        </>
      ),
    },
    { header: 'Last sign-in', cell: (user) => formatDateTime(user.lastLoginAt, 'Never') },
    ...(canManage()
      ? [
          {
            header: <span class="sr-only">Actions</span>,
            class: 'col-actions',
            cell: (user: User) => (
              <div class="table-actions">
                <Button
                  size="sm"
                  variant="ghost"
                  aria-label={`Edit ${user.username}`}
                  onClick={() => setDialog({ kind: 'edit', user })}
                >
                  Edit
                </Button>
                <Show when={!user.ssoProviderId}>
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Reset password of ${user.username}`}
                    onClick={() => setDialog({ kind: 'reset-password', user })}
                  >
                    Reset password
                  </Button>
                </Show>
                <Show when={!isSelf(user)}>
                  <Show
                    when={user.status === 'active'}
                    fallback={
                      <Button
                        size="sm"
                        variant="ghost"
                        aria-label={`Reactivate ${user.username}`}
                        onClick={() => setDialog({ kind: 'reactivate', user })}
                      >
                        Reactivate
                      </Button>
                    }
                  >
                    <Button
                      size="sm"
                      variant="ghost"
                      aria-label={`Suspend ${user.username}`}
                      onClick={() => setDialog({ kind: 'suspend', user })}
                    >
                      Suspend
                    </Button>
                  </Show>
                  <Show
                    when={killed(user)}
                    fallback={
                      <Button
                        size="sm"
                        variant="ghost"
                        class="btn-danger-text"
                        aria-label={`Kill ${user.username}`}
                        onClick={() => setDialog({ kind: 'kill', user })}
                      >
                        Kill…
                      </Button>
                    }
                  >
                    <Button
                      size="sm"
                      variant="ghost"
                      aria-label={`Un-kill ${user.username}`}
                      onClick={() => setDialog({ kind: 'unkill', user })}
                    >
                      Un-kill
                    </Button>
                  </Show>
                  <Button
                    size="sm"
                    variant="ghost"
                    class="btn-danger-text"
                    aria-label={`Delete ${user.username}`}
                    onClick={() => setDialog({ kind: 'delete', user })}
                  >
                    Delete
                  </Button>
                </Show>
              </div>
            ),
          },
        ]
      : []),
  ];

  const filtered = () => Boolean(search().trim()) || roleFilter() !== 'all' || statusFilter() !== 'all';

  return (
    <>
      <PageHeader
        title="Users"
        description={
          canManage()
            ? 'People who can sign in to Gatehouse, and their roles.'
            : 'People who can sign in to Gatehouse. As an auditor you can look but not change.'
        }
        actions={
          <Show when={canManage()}>
            <Button variant="primary" onClick={() => setDialog({ kind: 'create' })}>
              New user
            </Button>
          </Show>
        }
      />

      <Form class="toolbar" aria-label="Filter users" onSubmit={() => applySearch(searchText())}>
        <TextField
          class="toolbar-search"
          label="Search"
          type="search"
          value={searchText()}
          onInput={setSearchText}
          placeholder="Username, name or email"
          autocomplete="off"
          maxLength={128}
        />
        <Select
          label="Role"
          value={roleFilter()}
          options={[{ value: 'all', label: 'All roles' }, ...roleOptions]}
          onChange={setRoleFilter}
        />
        <Select
          label="Status"
          value={statusFilter()}
          options={[
            { value: 'all', label: 'Any status' },
            { value: 'active', label: 'Active' },
            { value: 'suspended', label: 'Suspended' },
          ]}
          onChange={setStatusFilter}
        />
        <Button type="submit">Search</Button>
      </Form>

      <ErrorNotice error={users.error()} title="Users could not be loaded" />
      <Table
        caption="Users"
        columns={columns()}
        rows={users.data()?.items}
        loading={users.loading()}
        empty={filtered() ? 'No users match these filters.' : 'No users yet.'}
      />
      <Show when={users.data()}>
        {(data) => (
          <Pagination
            noun="Users"
            offset={offset()}
            limit={PAGE_SIZE}
            total={data().total}
            disabled={users.loading()}
            onChange={(next) => setPage({ key: filterKey(), offset: next })}
          />
        )}
      </Show>

      <Show when={dialogOf('create')}>
        <CreateUserDialog
          onClose={close}
          onCreated={(user) => void done(`User ${user.username} was created.`)}
        />
      </Show>
      <Show when={dialogOf('edit')} keyed>
        {({ user }) => (
          <EditUserDialog
            user={user}
            isSelf={isSelf(user)}
            onClose={close}
            onSaved={(saved) => {
              if (isSelf(saved)) void refreshSelf();
              void done(`Changes to ${saved.username} were saved.`);
            }}
          />
        )}
      </Show>
      <Show when={dialogOf('reset-password')} keyed>
        {({ user }) => (
          <ResetPasswordDialog
            user={user}
            isSelf={isSelf(user)}
            onClose={close}
            onDone={() => {
              if (isSelf(user)) signedOut('Your password was changed. Sign in with the new password.');
              else void done(`The password of ${user.username} was reset and their sessions were ended.`);
            }}
          />
        )}
      </Show>
      <Show when={dialogOf('suspend')} keyed>
        {({ user }) => <SuspendDialog user={user} onClose={close} onDone={done} />}
      </Show>
      <Show when={dialogOf('reactivate')} keyed>
        {({ user }) => (
          <ConfirmDialog
            title={`Reactivate ${user.username}?`}
            confirmLabel="Reactivate"
            onClose={close}
            onConfirm={async () => {
              await trpc.users.reactivate.mutate({ id: user.id });
              await done(`${user.username} was reactivated and can sign in again.`);
            }}
          >
            <p>{user.displayName} will be able to sign in again with their existing password.</p>
          </ConfirmDialog>
        )}
      </Show>
      <Show when={dialogOf('kill')} keyed>
        {({ user }) => (
          <KillSwitchDialog
            mode="engage"
            target={{ type: 'user', id: user.id, name: user.username }}
            description="Every client and session of this user is refused at once, until an admin un-kills them. Their portal access is not changed; suspend the account for that."
            onClose={close}
            onDone={() =>
              void kills.refetch().then(() => done(`${user.username} was killed: their clients are refused.`))
            }
          />
        )}
      </Show>
      <Show when={dialogOf('unkill')} keyed>
        {({ user }) => (
          <KillSwitchDialog
            mode="release"
            target={{ type: 'user', id: user.id, name: user.username }}
            description="Their clients can connect and call again."
            onClose={close}
            onDone={() =>
              void kills.refetch().then(() => done(`${user.username} can use their clients again.`))
            }
          />
        )}
      </Show>
      <Show when={dialogOf('delete')} keyed>
        {({ user }) => (
          <ConfirmDialog
            title={`Delete ${user.username}?`}
            confirmLabel="Delete user"
            danger
            onClose={close}
            onConfirm={async () => {
              const { outcome } = await trpc.users.delete.mutate({ id: user.id });
              await done(
                outcome === 'deleted'
                  ? `${user.username} was deleted.`
                  : `${user.username} has activity in the audit log, so the account was suspended instead of deleted.`,
              );
            }}
          >
            <p>
              This removes <strong>{user.displayName}</strong> ({user.username}) and ends their sessions.
            </p>
            <p class="muted">
              If the user has activity in the audit log, the account is suspended instead, so the audit trail
              keeps its meaning.
            </p>
          </ConfirmDialog>
        )}
      </Show>
    </>
  );
}
