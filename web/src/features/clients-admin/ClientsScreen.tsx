import type { Client, McpSessionInfo } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createQuery, refreshEvery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDateTime } from '../../lib/format.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, type Column, ConfirmDialog, ErrorNotice, PageHeader, Table } from '../../ui/index.js';
import { KillSwitchDialog } from '../kill-switches/KillSwitchDialog.js';
import { connectionLabel } from '../my-clients/client-labels.js';

type Pending =
  | { kind: 'kill'; client: Client }
  | { kind: 'unkill'; client: Client }
  | { kind: 'terminate'; session: McpSessionInfo };

/** Every client of every user, with kill switches, and the MCP sessions open right now. */
export function ClientsScreen() {
  const clients = createQuery(
    () => true,
    () => trpc.clients.list.query({ all: true }),
  );
  const sessions = createQuery(
    () => true,
    () => trpc.mcpSessions.list.query(),
  );
  const kills = createQuery(
    () => true,
    () => trpc.killSwitches.list.query(),
  );
  refreshEvery(clients, 60_000);
  refreshEvery(sessions, 30_000);
  refreshEvery(kills, 60_000);
  const [pending, setPending] = createSignal<Pending | null>(null);
  const killedDirectly = (client: Client) =>
    (kills.data()?.items ?? []).some((kill) => kill.targetType === 'client' && kill.targetId === client.id);
  const ownerKilled = (client: Client) =>
    (kills.data()?.items ?? []).some((kill) => kill.targetType === 'user' && kill.targetId === client.userId);
  const killed = (client: Client) => killedDirectly(client) || ownerKilled(client);
  const refresh = async (message: string) => {
    setPending(null);
    showFlash(message);
    await Promise.all([clients.refetch(), sessions.refetch(), kills.refetch()]);
  };
  const pendingOf = <K extends Pending['kind']>(kind: K) => {
    const current = pending();
    return current?.kind === kind ? (current as Extract<Pending, { kind: K }>) : undefined;
  };

  const clientColumns: Column<Client>[] = [
    { header: 'Client', cell: (client) => <span class="cell-primary">{client.name}</span> },
    { header: 'Owner', cell: (client) => client.username },
    { header: 'Kind', cell: (client) => client.kind },
    {
      header: 'Status',
      cell: (client) => (
        <>
          <Badge tone={client.status === 'active' ? 'success' : 'warning'}>{client.status}</Badge>{' '}
          <Show when={killed(client)}>
            <Badge tone="danger">{killedDirectly(client) ? 'killed' : 'owner killed'}</Badge>
          </Show>
        </>
      ),
    },
    {
      header: 'Connects with',
      cell: (client) =>
        client.oauthClientId ? connectionLabel(client).text : <code>{client.keyPrefix}…</code>,
    },
    { header: 'Last seen', cell: (client) => formatDateTime(client.lastSeenAt, 'never') },
    {
      header: <span class="sr-only">Actions</span>,
      class: 'col-actions',
      cell: (client) => (
        <Show
          when={killedDirectly(client)}
          fallback={
            <Button size="sm" variant="danger" onClick={() => setPending({ kind: 'kill', client })}>
              Kill…
            </Button>
          }
        >
          <Button size="sm" onClick={() => setPending({ kind: 'unkill', client })}>
            Un-kill
          </Button>
        </Show>
      ),
    },
  ];
  const sessionColumns: Column<McpSessionInfo>[] = [
    { header: 'Client', cell: (session) => session.clientName },
    { header: 'User', cell: (session) => session.username },
    { header: 'Started', cell: (session) => formatDateTime(session.startedAt) },
    { header: 'Last activity', cell: (session) => formatDateTime(session.lastActivityAt) },
    {
      header: <span class="sr-only">Actions</span>,
      class: 'col-actions',
      cell: (session) => (
        <Button size="sm" onClick={() => setPending({ kind: 'terminate', session })}>
          Terminate
        </Button>
      ),
    },
  ];

  return (
    <>
      <PageHeader
        title="Clients and sessions"
        description="Every AI client registered in Gatehouse, and the MCP sessions open now."
      />
      <section class="card stack" aria-label="Clients">
        <h2 class="card-title">Clients</h2>
        <ErrorNotice error={clients.error() ?? kills.error()} title="Clients could not be loaded" />
        <Table
          caption="All clients"
          columns={clientColumns}
          rows={clients.data()?.items}
          loading={clients.loading()}
          empty="No clients yet."
        />
      </section>
      <section class="card stack" aria-label="Open sessions">
        <h2 class="card-title">Open MCP sessions</h2>
        <ErrorNotice error={sessions.error()} title="Sessions could not be loaded" />
        <Table
          caption="Open MCP sessions"
          columns={sessionColumns}
          rows={sessions.data()?.items}
          loading={sessions.loading()}
          empty="No open sessions."
        />
      </section>
      <Show when={pendingOf('kill')}>
        {(current) => (
          <KillSwitchDialog
            mode="engage"
            target={{ type: 'client', id: current().client.id, name: current().client.name }}
            description="Every call and session of this client is refused at once, until an admin un-kills it."
            onClose={() => setPending(null)}
            onDone={() => void refresh(`Client ${current().client.name} was killed.`)}
          />
        )}
      </Show>
      <Show when={pendingOf('unkill')}>
        {(current) => (
          <KillSwitchDialog
            mode="release"
            target={{ type: 'client', id: current().client.id, name: current().client.name }}
            description="The client can connect and call again."
            onClose={() => setPending(null)}
            onDone={() => void refresh(`Client ${current().client.name} can connect again.`)}
          />
        )}
      </Show>
      <Show when={pendingOf('terminate')}>
        {(current) => (
          <ConfirmDialog
            title="Terminate session"
            confirmLabel="Terminate session"
            danger
            onClose={() => setPending(null)}
            onConfirm={async () => {
              await trpc.mcpSessions.terminate.mutate({ id: current().session.id });
              await refresh(`The session of ${current().session.clientName} was terminated.`);
            }}
          >
            The session of {current().session.clientName} ({current().session.username}) ends now; the client
            may open a new one.
          </ConfirmDialog>
        )}
      </Show>
    </>
  );
}
