import type { Client, ClientWithKey, MarketplaceEntry, Subscription } from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createQuery, refreshEvery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDate, formatDateTime } from '../../lib/format.js';
import { paths } from '../../lib/router.js';
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
import {
  actionLabelFor,
  actionsFor,
  type ClientAction,
  ClientActionDialog,
  ClientKeyDialog,
} from './ClientDialogs.js';
import { ConnectionSnippets } from './ConnectionSnippets.js';
import { connectionLabel, kindLabels, statusLabels, statusTone } from './client-labels.js';
import { SubscriptionDialog } from './SubscriptionDialog.js';
import { describeTools } from './tool-selection.js';

type OpenDialog =
  | { kind: 'action'; action: ClientAction }
  | { kind: 'key'; created: ClientWithKey }
  | { kind: 'add' }
  | { kind: 'edit'; subscription: Subscription }
  | { kind: 'remove'; subscription: Subscription };

export function MyClientDetailScreen(props: { id: string }) {
  // There is no `clients.get`: the user's own list is small (at most 1000) and holds every field.
  const clients = createQuery(
    () => true,
    () => trpc.clients.list.query({ all: false }),
  );
  const subscriptions = createQuery(
    () => props.id,
    (id) => trpc.subscriptions.list.query({ id }),
  );
  const marketplace = createQuery(
    () => true,
    () => trpc.catalog.marketplace.query(),
  );
  refreshEvery(clients, 60_000);

  const client = () => clients.data()?.items.find((candidate) => candidate.id === props.id);
  const entryOf = (mcpId: string) => marketplace.data()?.items.find((entry) => entry.id === mcpId);

  const [dialog, setDialog] = createSignal<OpenDialog | null>(null);
  const close = () => setDialog(null);
  const dialogOf = <K extends OpenDialog['kind']>(kind: K) => {
    const current = dialog();
    return current?.kind === kind ? (current as Extract<OpenDialog, { kind: K }>) : undefined;
  };
  const subscriptionDone = async (message: string) => {
    close();
    showFlash(message);
    await subscriptions.refetch();
  };

  const columns = (current: Client): Column<Subscription>[] => [
    {
      header: 'MCP',
      cell: (subscription) => (
        <>
          <Show
            when={entryOf(subscription.mcpId)}
            fallback={<span class="cell-primary">{subscription.mcpSlug}</span>}
          >
            {(entry) => (
              <a class="cell-primary" href={paths.marketplaceMcp(entry().id)}>
                {entry().name}
              </a>
            )}
          </Show>
          <span class="cell-secondary">
            <code>{subscription.mcpSlug}</code>
          </span>
        </>
      ),
    },
    {
      header: 'Tools',
      class: 'col-wrap',
      cell: (subscription) => (
        <>
          {describeTools(subscription.tools)}
          <span class="cell-secondary">
            {subscription.tools === null ? 'Including tools added later' : subscription.tools.join(', ')}
          </span>
        </>
      ),
    },
    { header: 'Changed', cell: (subscription) => formatDate(subscription.updatedAt) },
    ...(current.status === 'revoked'
      ? []
      : [
          {
            header: <span class="sr-only">Actions</span>,
            class: 'col-actions',
            cell: (subscription: Subscription) => (
              <div class="table-actions">
                <Button
                  size="sm"
                  variant="ghost"
                  aria-label={`Edit tools of ${subscription.mcpSlug}`}
                  disabled={!entryOf(subscription.mcpId)}
                  title={entryOf(subscription.mcpId) ? undefined : 'This MCP is no longer available to you'}
                  onClick={() => setDialog({ kind: 'edit', subscription })}
                >
                  Edit tools
                </Button>
                <Button
                  size="sm"
                  variant="ghost"
                  class="btn-danger-text"
                  aria-label={`Remove ${subscription.mcpSlug}`}
                  onClick={() => setDialog({ kind: 'remove', subscription })}
                >
                  Remove
                </Button>
              </div>
            ),
          },
        ]),
  ];

  return (
    <>
      <a class="back-link" href={paths.myClients}>
        ← My clients
      </a>
      <Show when={!client()}>
        <Show
          when={clients.data()}
          fallback={
            <>
              <ErrorNotice error={clients.error()} title="This client could not be loaded" />
              <Show when={!clients.error()}>
                <Loading label="Loading client…" />
              </Show>
            </>
          }
        >
          <PageHeader title="Client not found" />
          <p>
            You have no client with this id. <a href={paths.myClients}>See your clients</a>.
          </p>
        </Show>
      </Show>
      <Show when={client()}>
        {(current) => (
          <>
            <PageHeader
              title={current().name}
              badge={<Badge tone={statusTone[current().status]}>{statusLabels[current().status]}</Badge>}
              meta={
                <>
                  {kindLabels[current().kind]} ·{' '}
                  <Show
                    when={current().oauthClientId}
                    fallback={
                      <>
                        Key <code>{current().keyPrefix}…</code>
                      </>
                    }
                  >
                    {connectionLabel(current()).text}
                  </Show>{' '}
                  · Last seen {formatDateTime(current().lastSeenAt, 'never')}
                  {current().lastSeenIp ? ` from ${current().lastSeenIp}` : ''} · Created{' '}
                  {formatDate(current().createdAt)}
                </>
              }
              actions={
                <For each={actionsFor(current())}>
                  {(action) => (
                    <Button
                      variant={action === 'revoke' ? 'danger' : 'secondary'}
                      onClick={() => setDialog({ kind: 'action', action })}
                    >
                      {actionLabelFor(current(), action)}
                    </Button>
                  )}
                </For>
              }
            />
            <ErrorNotice error={clients.error()} title="The client could not be refreshed" />
            <Show when={current().status === 'suspended'}>
              <Notice tone="warning">
                This client is suspended: it cannot connect until it is reactivated.
              </Notice>
            </Show>
            <Show when={current().status === 'revoked'}>
              <Notice tone="info">
                {current().oauthClientId
                  ? 'This app no longer has access: to connect again it has to ask you again.'
                  : 'This client is revoked: it can no longer connect, and nothing here can change.'}
              </Notice>
            </Show>
            <Show when={current().oauthClientId}>
              {(oauthClientId) => (
                <p class="field-hint">
                  Connected through OAuth as <code class="break-all">{oauthClientId()}</code>. It has no key;
                  it renews its own short-lived tokens until you revoke its access.
                </p>
              )}
            </Show>

            <div class="page-header">
              <h2 class="section-title">Subscriptions</h2>
              <Show when={current().status !== 'revoked'}>
                <Button
                  variant="primary"
                  disabled={!marketplace.data()}
                  onClick={() => setDialog({ kind: 'add' })}
                >
                  Add MCP
                </Button>
              </Show>
            </div>
            <ErrorNotice error={subscriptions.error()} title="Subscriptions could not be loaded" />
            <ErrorNotice error={marketplace.error()} title="The marketplace could not be loaded" />
            <Table
              caption={`Subscriptions of ${current().name}`}
              columns={columns(current())}
              rows={subscriptions.data()?.items}
              loading={subscriptions.loading()}
              empty={
                <>
                  No subscriptions yet: this client sees no tools. Add an MCP from the{' '}
                  <a href={paths.marketplace}>marketplace</a>.
                </>
              }
            />
            <p class="field-hint">
              The client sees each tool as <code>&lt;mcp&gt;__&lt;tool&gt;</code>, for example{' '}
              <code>github__search_issues</code>.
            </p>

            <Show when={current().status !== 'revoked'}>
              <h2 class="section-title">Connect {current().name}</h2>
              <ConnectionSnippets kind={current().kind} oauth={Boolean(current().oauthClientId)} />
            </Show>

            <Show when={dialogOf('action')} keyed>
              {(open) => (
                <ClientActionDialog
                  action={open.action}
                  client={current()}
                  onClose={close}
                  onDone={async (message, rotated) => {
                    if (rotated) setDialog({ kind: 'key', created: rotated });
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
                  title={`New key for ${open.created.client.name}`}
                  created={open.created}
                  onClose={close}
                />
              )}
            </Show>
            <Show when={dialogOf('add') && marketplace.data()}>
              {(market) => (
                <SubscriptionDialog
                  clientId={current().id}
                  clientName={current().name}
                  marketplace={market().items}
                  subscribedMcpIds={(subscriptions.data()?.items ?? []).map((item) => item.mcpId)}
                  onClose={close}
                  onSaved={(saved, entry) =>
                    void subscriptionDone(
                      `${current().name} is now subscribed to ${entry?.name ?? saved.mcpSlug}.`,
                    )
                  }
                />
              )}
            </Show>
            <Show when={dialogOf('edit')} keyed>
              {(open) => (
                <SubscriptionDialog
                  clientId={current().id}
                  clientName={current().name}
                  marketplace={marketplace.data()?.items ?? []}
                  subscribedMcpIds={[]}
                  subscription={open.subscription}
                  onClose={close}
                  onSaved={(saved, entry) =>
                    void subscriptionDone(`The tools of ${entry?.name ?? saved.mcpSlug} were saved.`)
                  }
                />
              )}
            </Show>
            <Show when={dialogOf('remove')} keyed>
              {(open) => (
                <ConfirmDialog
                  title={`Remove ${nameOf(entryOf(open.subscription.mcpId), open.subscription)}?`}
                  confirmLabel="Remove subscription"
                  danger
                  onClose={close}
                  onConfirm={async () => {
                    await trpc.subscriptions.remove.mutate({ id: open.subscription.id });
                    await subscriptionDone(
                      `${current().name} is no longer subscribed to ${nameOf(entryOf(open.subscription.mcpId), open.subscription)}.`,
                    );
                  }}
                >
                  <p>
                    <strong>{current().name}</strong> loses the tools of{' '}
                    {nameOf(entryOf(open.subscription.mcpId), open.subscription)} at once. You can subscribe
                    again later.
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

const nameOf = (entry: MarketplaceEntry | undefined, subscription: Subscription) =>
  entry?.name ?? subscription.mcpSlug;
