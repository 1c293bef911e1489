import type { MarketplaceEntry } from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createQuery, refreshEvery } from '../../lib/async.js';
import { plural } from '../../lib/format.js';
import { paths } from '../../lib/router.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, ErrorNotice, Loading, PageHeader, TextField } from '../../ui/index.js';
import { filterMarketplace, matchingTools, needsOwnCredentials } from './search.js';

export function MarketplaceScreen() {
  const marketplace = createQuery(
    () => true,
    () => trpc.catalog.marketplace.query(),
  );
  refreshEvery(marketplace, 60_000);
  const [search, setSearch] = createSignal('');
  const items = () => marketplace.data()?.items;
  const shown = () => filterMarketplace(items() ?? [], search());

  return (
    <>
      <PageHeader
        title="Marketplace"
        description={
          <>
            The MCPs your groups give you access to. To use one, subscribe one of{' '}
            <a href={paths.myClients}>your clients</a> to it.
          </>
        }
      />
      <search class="toolbar">
        <TextField
          class="toolbar-search"
          label="Search"
          type="search"
          value={search()}
          onInput={setSearch}
          placeholder="Name, description or tool"
          autocomplete="off"
          maxLength={128}
        />
      </search>
      <ErrorNotice error={marketplace.error()} title="The marketplace could not be loaded" />
      <Show
        when={items()}
        fallback={
          <Show when={!marketplace.error()}>
            <Loading label="Loading the marketplace…" />
          </Show>
        }
      >
        {(all) => (
          <>
            <p class="field-hint" role="status">
              {search().trim()
                ? `${plural(shown().length, 'MCP')} of ${all().length} match “${search().trim()}”.`
                : `${plural(all().length, 'MCP')} available to you.`}
            </p>
            <Show
              when={shown().length > 0}
              fallback={
                <p class="ss-empty">
                  {all().length === 0
                    ? 'No MCPs are available to you yet. An administrator grants MCPs to groups you belong to.'
                    : 'No MCP matches this search. Try another word, or clear the search.'}
                </p>
              }
            >
              <ul class="ss-grid" aria-label="MCPs" aria-busy={marketplace.loading() ? 'true' : undefined}>
                <For each={shown()}>{(entry) => <MarketplaceCard entry={entry} search={search()} />}</For>
              </ul>
            </Show>
          </>
        )}
      </Show>
    </>
  );
}

function MarketplaceCard(props: { entry: MarketplaceEntry; search: string }) {
  const matched = () => matchingTools(props.entry, props.search);
  return (
    <li class="ss-panel ss-card">
      <div class="ss-card-head">
        <Show when={props.entry.iconUrl}>
          {(icon) => <img class="ss-icon" src={icon()} alt="" referrerPolicy="no-referrer" loading="lazy" />}
        </Show>
        <div class="ss-card-title">
          <h2 class="section-title">
            <a href={paths.marketplaceMcp(props.entry.id)}>{props.entry.name}</a>
          </h2>
          <code class="cell-secondary">{props.entry.slug}</code>
        </div>
      </div>
      <p class="ss-card-text">{props.entry.description || <span class="muted">No description.</span>}</p>
      <div class="row">
        <Badge>{plural(props.entry.tools.length, 'tool')}</Badge>
        <Show when={needsOwnCredentials(props.entry)}>
          <Badge tone="warning">Needs your credentials</Badge>
        </Show>
        <Show when={props.entry.isolation === 'per-user'}>
          <Badge tone="accent">Personal instance</Badge>
        </Show>
      </div>
      <Show when={matched().length > 0}>
        <p class="field-hint">
          Matching tools: <span class="mono">{matched().join(', ')}</span>
        </p>
      </Show>
    </li>
  );
}
