import type { Client, ClientWithKey } from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createQuery, refreshEvery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDate, formatDateTime } from '../../lib/format.js';
import { navigate, paths } from '../../lib/router.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, type Column, ErrorNotice, PageHeader, Table } from '../../ui/index.js';
import {
  actionLabelFor,
  actionsFor,
  type ClientAction,
  ClientActionDialog,
  ClientKeyDialog,
  CreateClientDialog,
} from './ClientDialogs.js';
import { ConnectionSnippets } from './ConnectionSnippets.js';
import { connectionLabel, kindLabels, statusLabels, statusTone } from './client-labels.js';
import './my-clients.css';

type OpenDialog =
  | { kind: 'create' }
  | { kind: 'action'; action: ClientAction; client: Client }
  | { kind: 'key'; title: string; created: ClientWithKey; isNew: boolean };

export function MyClientsScreen() {
  const clients = createQuery(
    () => true,
    () => trpc.clients.list.query({ all: false }),
  );
  // "Last seen" moves while the screen is open.
  refreshEvery(clients, 60_000);

  const [dialog, setDialog] = createSignal<OpenDialog | null>(null);
  const close = () => setDialog(null);
  const dialogOf = <K extends OpenDialog['kind']>(kind: K) => {
    const current = dialog();
    return current?.kind === kind ? (current as Extract<OpenDialog, { kind: K }>) : undefined;
  };

  const columns: Column<Client>[] = [
    {
      header: 'Name',
      cell: (client) => (
        <>
          <a class="cell-primary" href={paths.myClient(client.id)}>
            {client.name}
          </a>
          <span class="cell-secondary">
            <Show
              when={client.oauthClientId}
              fallback={
                <>
                  Key <code>{client.keyPrefix}…</code>
                </>
              }
            >
              {connectionLabel(client).text}
            </Show>
          </span>
        </>
      ),
    },
    { header: 'Kind', cell: (client) => kindLabels[client.kind] },
    {
      header: 'Status',
      cell: (client) => <Badge tone={statusTone[client.status]}>{statusLabels[client.status]}</Badge>,
    },
    {
      header: 'Last seen',
      cell: (client) => (
        <>
          {formatDateTime(client.lastSeenAt, 'Never')}
          <Show when={client.lastSeenIp}>{(ip) => <span class="cell-secondary">from {ip()}</span>}</Show>
        </>
      ),
    },
    { header: 'Created', cell: (client) => formatDate(client.createdAt) },
    {
      header: <span class="sr-only">Actions</span>,
      class: 'col-actions',
      cell: (client) => (
        <div class="table-actions">
          <For each={actionsFor(client)}>
            {(action) => (
              <Button
                size="sm"
                variant="ghost"
                class={action === 'revoke' ? 'btn-danger-text' : undefined}
                aria-label={
                  action === 'rotate'
                    ? `Rotate key of ${client.name}`
                    : action === 'revoke' && client.oauthClientId
                      ? `Revoke access of ${client.name}`
                      : `${actionLabelFor(client, action)} ${client.name}`
                }
                onClick={() => setDialog({ kind: 'action', action, client })}
              >
                {actionLabelFor(client, action)}
              </Button>
            )}
          </For>
        </div>
      ),
    },
  ];

  return (
    <>
      <PageHeader
        title="My clients"
        description="The AI apps you connect to Gatehouse. Apps that support OAuth connect with just the address and ask you which MCPs they may use; others get a key of their own."
        actions={
          <Button variant="primary" onClick={() => setDialog({ kind: 'create' })}>
            New client
          </Button>
        }
      />
      <ErrorNotice error={clients.error()} title="Your clients could not be loaded" />
      <Table
        caption="My clients"
        columns={columns}
        rows={clients.data()?.items}
        loading={clients.loading()}
        empty={
          <>
            You have no clients yet. Create one with <strong>New client</strong>, then subscribe it to MCPs
            from the <a href={paths.marketplace}>marketplace</a>.
          </>
        }
      />

      <details class="ss-panel my-clients-oauth">
        <summary class="ss-block-title">
          Connect an app with OAuth (preferred): just the address, no key
        </summary>
        <p class="field-hint">
          Give the app only this address. It opens Gatehouse in your browser and asks which MCPs and tools it
          may use; when you approve, it appears here. Use <strong>New client</strong> for apps that need a
          key.
        </p>
        <ConnectionSnippets oauth />
      </details>

      <Show when={dialogOf('create')}>
        <CreateClientDialog
          onClose={close}
          onCreated={(created) => {
            setDialog({ kind: 'key', title: `Client ${created.client.name} created`, created, isNew: true });
            void clients.refetch();
          }}
        />
      </Show>
      <Show when={dialogOf('action')} keyed>
        {(open) => (
          <ClientActionDialog
            action={open.action}
            client={open.client}
            onClose={close}
            onDone={async (message, rotated) => {
              if (rotated)
                setDialog({
                  kind: 'key',
                  title: `New key for ${rotated.client.name}`,
                  created: rotated,
                  isNew: false,
                });
              else {
                close();
                showFlash(message);
              }
              await clients.refetch();
            }}
          />
        )}
      </Show>
      <Show when={dialogOf('key')} keyed>
        {(open) => (
          <ClientKeyDialog
            title={open.title}
            created={open.created}
            onClose={close}
            next={
              open.isNew
                ? {
                    label: 'Add MCPs',
                    run: () => {
                      close();
                      navigate(paths.myClient(open.created.client.id));
                    },
                  }
                : undefined
            }
          />
        )}
      </Show>
    </>
  );
}
