import type { Group } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createQuery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDate } from '../../lib/format.js';
import { navigate, paths } from '../../lib/router.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, type Column, ErrorNotice, PageHeader, Table } from '../../ui/index.js';
import { DeleteGroupDialog, GroupFormDialog, memberSummary } from './GroupDialogs.js';

type OpenDialog = { kind: 'create' } | { kind: 'edit'; group: Group } | { kind: 'delete'; group: Group };

export function GroupsScreen() {
  const groups = createQuery(
    () => true,
    () => trpc.groups.list.query(),
  );
  const [dialog, setDialog] = createSignal<OpenDialog | null>(null);
  const close = () => setDialog(null);
  const dialogOf = <K extends OpenDialog['kind']>(kind: K) => {
    const current = dialog();
    return current?.kind === kind ? (current as Extract<OpenDialog, { kind: K }>) : undefined;
  };
  const done = async (message: string) => {
    setDialog(null);
    showFlash(message);
    await groups.refetch();
  };

  const columns = (): Column<Group>[] => [
    {
      header: 'Name',
      cell: (group) => (
        <>
          <a class="cell-primary" href={paths.group(group.id)}>
            {group.name}
          </a>{' '}
          <Show when={group.builtIn}>
            <Badge>built-in</Badge>
          </Show>
        </>
      ),
    },
    {
      header: 'Description',
      class: 'col-wrap',
      cell: (group) => group.description || <span class="muted">No description</span>,
    },
    { header: 'Members', cell: memberSummary },
    { header: 'Created', cell: (group) => formatDate(group.createdAt) },
    ...(canManage()
      ? [
          {
            header: <span class="sr-only">Actions</span>,
            class: 'col-actions',
            cell: (group: Group) => (
              <div class="table-actions">
                <Button
                  size="sm"
                  variant="ghost"
                  aria-label={`Edit ${group.name}`}
                  onClick={() => setDialog({ kind: 'edit', group })}
                >
                  Edit
                </Button>
                <Show when={!group.builtIn}>
                  <Button
                    size="sm"
                    variant="ghost"
                    class="btn-danger-text"
                    aria-label={`Delete ${group.name}`}
                    onClick={() => setDialog({ kind: 'delete', group })}
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

  return (
    <>
      <PageHeader
        title="Groups"
        description="Groups collect users so access can be granted to many at once."
        actions={
          <Show when={canManage()}>
            <Button variant="primary" onClick={() => setDialog({ kind: 'create' })}>
              New group
            </Button>
          </Show>
        }
      />
      <ErrorNotice error={groups.error()} title="Groups could not be loaded" />
      <Table
        caption="Groups"
        columns={columns()}
        rows={groups.data()?.items}
        loading={groups.loading()}
        empty="No groups yet."
      />

      <Show when={dialogOf('create')}>
        <GroupFormDialog
          onClose={close}
          onSaved={(group) => {
            showFlash(`Group ${group.name} was created.`, paths.group(group.id));
            navigate(paths.group(group.id));
          }}
        />
      </Show>
      <Show when={dialogOf('edit')} keyed>
        {({ group }) => (
          <GroupFormDialog
            group={group}
            onClose={close}
            onSaved={(saved) => void done(`Group ${saved.name} was saved.`)}
          />
        )}
      </Show>
      <Show when={dialogOf('delete')} keyed>
        {({ group }) => (
          <DeleteGroupDialog
            group={group}
            onClose={close}
            onDeleted={() => void done(`Group ${group.name} was deleted.`)}
          />
        )}
      </Show>
    </>
  );
}
