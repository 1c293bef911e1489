import type { MarketplaceEntry } from '@gatehouse/schema';
import { Show } from 'solid-js';
import { createQuery } from '../../lib/async.js';
import { plural } from '../../lib/format.js';
import { paths } from '../../lib/router.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, type Column, ErrorNotice, Loading, Notice, PageHeader, Table } from '../../ui/index.js';
import { needsOwnCredentials } from './search.js';

type Tool = MarketplaceEntry['tools'][number];

export function MarketplaceDetailScreen(props: { id: string }) {
  // The marketplace comes whole (there is no per-MCP query); it holds only what the user may see.
  const marketplace = createQuery(
    () => true,
    () => trpc.catalog.marketplace.query(),
  );
  const entry = () => marketplace.data()?.items.find((item) => item.id === props.id);

  const columns = (current: MarketplaceEntry): Column<Tool>[] => [
    {
      header: 'Tool',
      cell: (tool) => (
        <>
          <code class="cell-primary">{tool.name}</code>
          <span class="cell-secondary">
            {tool.title ? `${tool.title} · ` : ''}as <code>{`${current.slug}__${tool.name}`}</code>
          </span>
        </>
      ),
    },
    {
      header: 'Description',
      class: 'col-wrap',
      cell: (tool) => tool.description || <span class="muted">No description.</span>,
    },
  ];

  return (
    <>
      <a class="back-link" href={paths.marketplace}>
        ← Marketplace
      </a>
      <Show when={!entry()}>
        <Show
          when={marketplace.data()}
          fallback={
            <>
              <ErrorNotice error={marketplace.error()} title="This MCP could not be loaded" />
              <Show when={!marketplace.error()}>
                <Loading label="Loading MCP…" />
              </Show>
            </>
          }
        >
          <PageHeader title="MCP not available" />
          <p>
            This MCP does not exist or is not available to your groups.{' '}
            <a href={paths.marketplace}>Back to the marketplace</a>.
          </p>
        </Show>
      </Show>
      <Show when={entry()}>
        {(current) => (
          <>
            <PageHeader
              title={current().name}
              badge={
                <Show when={current().isolation === 'per-user'}>
                  <Badge tone="accent">Personal instance</Badge>
                </Show>
              }
              description={current().description || undefined}
              meta={
                <>
                  <code>{current().slug}</code> · {plural(current().tools.length, 'tool')}
                </>
              }
              actions={
                <a class="btn btn-primary" href={paths.myClients}>
                  Subscribe a client
                </a>
              }
            />
            <Show when={needsOwnCredentials(current())}>
              <Notice tone="info" title="This MCP needs your own credentials">
                <p>
                  It runs with values only you provide (
                  {current()
                    .credentials.map((field) => field.label)
                    .join(', ')}
                  ). Enter them in <a href={paths.credentials}>My credentials</a>.
                </p>
              </Notice>
            </Show>
            <Show when={current().isolation === 'per-user' && !needsOwnCredentials(current())}>
              <p class="field-hint">
                A personal instance runs for you alone. If it needs an account connection, set it up in{' '}
                <a href={paths.credentials}>My credentials</a>.
              </p>
            </Show>
            <h2 class="section-title">Tools</h2>
            <Table
              caption={`Tools of ${current().name}`}
              columns={columns(current())}
              rows={current().tools}
              loading={marketplace.loading()}
              empty="This MCP offers no approved tools yet."
            />
            <p class="field-hint">
              Subscribed clients see each tool under the name shown after “as”. To subscribe, open one of{' '}
              <a href={paths.myClients}>your clients</a> and choose <strong>Add MCP</strong>.
            </p>
          </>
        )}
      </Show>
    </>
  );
}
