import type { GroupDetail, McpSummary } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createQuery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDate } from '../../lib/format.js';
import { navigate, paths } from '../../lib/router.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  Button,
  type Column,
  ConfirmDialog,
  ErrorNotice,
  Loading,
  Notice,
  PageHeader,
  Table,
} from '../../ui/index.js';
import { AddMemberDialog, DeleteGroupDialog, GroupFormDialog, memberSummary } from './GroupDialogs.js';

type Member = GroupDetail['members'][number];
type OpenDialog = 'edit' | 'delete' | 'add-member' | { removing: Member };

export function GroupDetailScreen(props: { id: string }) {
  const group = createQuery(
    () => props.id,
    (id) => trpc.groups.get.query({ id }),
  );
  const mcps = createQuery(
    () => true,
    () => trpc.catalog.list.query(),
  );
  const mcpColumns: Column<McpSummary>[] = [
    {
      header: 'MCP',
      cell: (mcp) => (
        <a class="cell-primary" href={paths.mcp(mcp.id)}>
          {mcp.name}
        </a>
      ),
    },
    { header: 'Status', cell: (mcp) => <Badge>{mcp.status}</Badge> },
  ];
  const [dialog, setDialog] = createSignal<OpenDialog | null>(null);
  const close = () => setDialog(null);
  const removing = () => {
    const current = dialog();
    return typeof current === 'object' && current ? current.removing : undefined;
  };
  const done = async (message: string) => {
    setDialog(null);
    showFlash(message);
    await group.refetch();
  };

  const memberColumns = (detail: GroupDetail): Column<Member>[] => [
    { header: 'Name', cell: (member) => <span class="cell-primary">{member.displayName}</span> },
    { header: 'Username', cell: (member) => member.username },
    {
      header: 'Source',
      cell: (member) => (
        <Show when={member.managedBy} fallback={<span class="muted">Added by hand</span>}>
          {(provider) => <Badge tone="accent">Managed by {provider()}</Badge>}
        </Show>
      ),
    },
    ...(canManage()
      ? [
          {
            header: <span class="sr-only">Actions</span>,
            class: 'col-actions',
            cell: (member: Member) => (
              <div class="table-actions">
                <Show
                  when={!member.managedBy}
                  fallback={
                    <span class="muted" title="Change it at the identity provider">
                      Read-only
                    </span>
                  }
                >
                  <Button
                    size="sm"
                    variant="ghost"
                    class="btn-danger-text"
                    aria-label={`Remove ${member.username} from ${detail.name}`}
                    onClick={() => setDialog({ removing: member })}
                  >
                    Remove
                  </Button>
                </Show>
              </div>
            ),
          },
        ]
      : []),
  ];

  return (
    <>
      <a class="back-link" href={paths.groups}>
        ← All groups
      </a>
      <Show when={group.error() && !group.data()}>
        <ErrorNotice error={group.error()} title="This group could not be loaded" />
      </Show>
      <Show when={!group.data() && group.loading()}>
        <Loading label="Loading group…" />
      </Show>
      <Show when={group.data()}>
        {(detail) => (
          <>
            <PageHeader
              title={detail().name}
              badge={
                <Show when={detail().builtIn}>
                  <Badge>built-in</Badge>
                </Show>
              }
              description={detail().description || undefined}
              meta={`${memberSummary(detail())} · Created ${formatDate(detail().createdAt)}`}
              actions={
                <Show when={canManage()}>
                  <Button onClick={() => setDialog('edit')}>Edit</Button>
                  <Show when={!detail().builtIn}>
                    <Button variant="danger" onClick={() => setDialog('delete')}>
                      Delete
                    </Button>
                  </Show>
                </Show>
              }
            />
            <ErrorNotice error={group.error()} title="The group could not be refreshed" />
            <Show
              when={!detail().builtIn}
              fallback={
                <Notice tone="info" title="Implicit membership">
                  <p>
                    Every user belongs to <strong>{detail().name}</strong> automatically, including users
                    created later. Members cannot be added or removed, and the group cannot be renamed or
                    deleted.
                  </p>
                </Notice>
              }
            >
              <div class="page-header">
                <h2 class="section-title">Members</h2>
                <Show when={canManage()}>
                  <Button variant="primary" onClick={() => setDialog('add-member')}>
                    Add members
                  </Button>
                </Show>
              </div>
              <Table
                caption={`Members of ${detail().name}`}
                columns={memberColumns(detail())}
                rows={detail().members}
                loading={group.loading()}
                empty="This group has no members yet."
              />
            </Show>

            <div class="page-header">
              <h2 class="section-title">Visible MCPs</h2>
            </div>
            <ErrorNotice error={mcps.error()} title="The catalog could not be loaded" />
            <Table
              caption={`MCPs visible to ${detail().name}`}
              columns={mcpColumns}
              rows={(mcps.data()?.items ?? []).filter((mcp) => mcp.groupIds.includes(detail().id))}
              loading={mcps.loading()}
              empty="No MCP is granted to this group. Grant one from its page under MCPs."
            />

            <Show when={dialog() === 'edit'}>
              <GroupFormDialog
                group={detail()}
                onClose={close}
                onSaved={(saved) => void done(`Group ${saved.name} was saved.`)}
              />
            </Show>
            <Show when={dialog() === 'delete'}>
              <DeleteGroupDialog
                group={detail()}
                onClose={close}
                onDeleted={() => {
                  showFlash(`Group ${detail().name} was deleted.`, paths.groups);
                  navigate(paths.groups);
                }}
              />
            </Show>
            <Show when={dialog() === 'add-member'}>
              <AddMemberDialog
                group={detail()}
                onClose={close}
                onAdded={(user) => {
                  showFlash(`${user.username} was added to ${detail().name}.`);
                  void group.refetch();
                }}
              />
            </Show>
            <Show when={removing()} keyed>
              {(member) => (
                <ConfirmDialog
                  title={`Remove ${member.username}?`}
                  confirmLabel="Remove member"
                  danger
                  onClose={close}
                  onConfirm={async () => {
                    await trpc.groups.removeMember.mutate({ groupId: detail().id, userId: member.id });
                    await done(`${member.username} was removed from ${detail().name}.`);
                  }}
                >
                  <p>
                    {member.displayName} will no longer be a member of <strong>{detail().name}</strong>, and
                    loses any access granted through it.
                  </p>
                </ConfirmDialog>
              )}
            </Show>
          </>
        )}
      </Show>
    </>
  );
}
