import { createSignal, For, Show } from 'solid-js';
import type { AppError } from '../../lib/errors.js';
import { formatDateTime } from '../../lib/format.js';
import { graphql } from '../../lib/graphql.js';
import { Badge, type BadgeTone, Button, type Column, Dialog, ErrorNotice, Table } from '../../ui/index.js';

export interface AuditEventView {
  id: string;
  time: string;
  type: string;
  decision: 'ALLOW' | 'DENY' | null;
  outcome: 'SUCCESS' | 'FAILURE' | 'DENIED';
  callStatus: string | null;
  reason: string | null;
  durationMs: number | null;
  resultBytes: number | null;
  toolDefinitionHash: string | null;
  ip: string | null;
  requestId: string | null;
  details: string;
  hash: string;
  prevHash: string;
  actor: {
    type: string;
    label: string | null;
    user: { username: string } | null;
    client: { name: string } | null;
    apiToken: { name: string } | null;
  };
  target: {
    type: string | null;
    id: string | null;
    label: string | null;
    toolName: string | null;
    mcp: { slug: string } | null;
  };
}

export const EVENT_FIELDS = `id time type decision outcome callStatus reason durationMs resultBytes toolDefinitionHash
  ip requestId details hash prevHash
  actor { type label user { username } client { name } apiToken { name } }
  target { type id label toolName mcp { slug } }`;

interface EventPage {
  auditEvents: {
    edges: { node: AuditEventView }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

const outcomeTone: Record<AuditEventView['outcome'], BadgeTone> = {
  SUCCESS: 'success',
  FAILURE: 'danger',
  DENIED: 'warning',
};

export const actorOf = (event: AuditEventView) =>
  event.actor.label ?? event.actor.user?.username ?? event.actor.type;

export const targetOf = (event: AuditEventView) => {
  if (event.target.toolName)
    return `${event.target.mcp?.slug ?? event.target.label ?? '?'} · ${event.target.toolName}`;
  return event.target.label ?? event.target.id ?? '—';
};

/**
 * A page-by-page list of audit events for `filter` (newest first), with "Load more" and a detail dialog.
 * The server decides what the viewer may see; `key` changes reload from the first page.
 */
export function createEventList(filter: () => Record<string, unknown>, pageSize = 50) {
  const [events, setEvents] = createSignal<AuditEventView[]>();
  const [cursor, setCursor] = createSignal<string | null>(null);
  const [more, setMore] = createSignal(false);
  const [loading, setLoading] = createSignal(false);
  const [error, setError] = createSignal<AppError>();
  let generation = 0;

  async function load(reset: boolean) {
    const call = ++generation;
    setLoading(true);
    try {
      const data = await graphql<EventPage>(
        `query($filter: AuditEventFilter, $first: Int, $after: String) {
          auditEvents(filter: $filter, first: $first, after: $after) {
            edges { node { ${EVENT_FIELDS} } } pageInfo { hasNextPage endCursor } } }`,
        { filter: filter(), first: pageSize, after: reset ? null : cursor() },
      );
      if (call !== generation) return;
      const page = data.auditEvents;
      const nodes = page.edges.map((edge) => edge.node);
      setEvents((current) => (reset ? nodes : [...(current ?? []), ...nodes]));
      setCursor(page.pageInfo.endCursor);
      setMore(page.pageInfo.hasNextPage);
      setError(undefined);
    } catch (caught) {
      if (call === generation) setError(caught as AppError);
    } finally {
      if (call === generation) setLoading(false);
    }
  }
  return { events, more, loading, error, reload: () => load(true), loadMore: () => load(false) };
}

export function EventTable(props: {
  caption: string;
  list: ReturnType<typeof createEventList>;
  empty: string;
}) {
  const [selected, setSelected] = createSignal<AuditEventView | null>(null);
  const columns: Column<AuditEventView>[] = [
    { header: 'Time', cell: (event) => formatDateTime(event.time) },
    { header: 'Event', cell: (event) => <code>{event.type}</code> },
    { header: 'Actor', cell: (event) => actorOf(event), class: 'col-wrap' },
    { header: 'Target', cell: (event) => targetOf(event), class: 'col-wrap' },
    {
      header: 'Outcome',
      cell: (event) => <Badge tone={outcomeTone[event.outcome]}>{event.callStatus ?? event.outcome}</Badge>,
    },
    {
      header: 'Duration',
      cell: (event) => (event.durationMs === null ? '—' : `${event.durationMs} ms`),
      class: 'col-num',
    },
    { header: 'Reason', cell: (event) => event.reason ?? '', class: 'col-wrap' },
    {
      header: <span class="sr-only">Actions</span>,
      cell: (event) => (
        <Button size="sm" onClick={() => setSelected(event)} aria-label={`Details of event ${event.id}`}>
          Details
        </Button>
      ),
      class: 'col-actions',
    },
  ];
  return (
    <>
      <ErrorNotice error={props.list.error()} title="The events could not be loaded" />
      <Table
        caption={props.caption}
        columns={columns}
        rows={props.list.events()}
        loading={props.list.loading()}
        empty={props.empty}
      />
      <Show when={props.list.more()}>
        <div class="row">
          <Button onClick={() => void props.list.loadMore()} busy={props.list.loading()}>
            Load more
          </Button>
        </div>
      </Show>
      <Show when={selected()}>
        {(event) => <EventDetail event={event()} onClose={() => setSelected(null)} />}
      </Show>
    </>
  );
}

const prettyJson = (text: string) => {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
};

function EventDetail(props: { event: AuditEventView; onClose: () => void }) {
  const facts = (): [string, string][] => {
    const event = props.event;
    return [
      ['Event id', event.id],
      ['Time', formatDateTime(event.time)],
      ['Type', event.type],
      ['Actor', `${actorOf(event)} (${event.actor.type})`],
      ['Via', event.actor.client?.name ?? event.actor.apiToken?.name ?? '—'],
      ['Target', targetOf(event)],
      ['Decision', event.decision ?? '—'],
      ['Outcome', event.callStatus ?? event.outcome],
      ['Reason', event.reason ?? '—'],
      ['Duration', event.durationMs === null ? '—' : `${event.durationMs} ms`],
      ['Result size', event.resultBytes === null ? '—' : `${event.resultBytes} bytes`],
      ['Tool definition hash', event.toolDefinitionHash ?? '—'],
      ['IP address', event.ip ?? '—'],
      ['Request id', event.requestId ?? '—'],
      ['Hash', event.hash],
      ['Previous hash', event.prevHash],
    ];
  };
  return (
    <Dialog title={`Audit event ${props.event.id}`} onClose={props.onClose} size="lg">
      <dl class="facts">
        <For each={facts()}>
          {([label, value]) => (
            <>
              <dt>{label}</dt>
              <dd class="break-all">{value}</dd>
            </>
          )}
        </For>
      </dl>
      <h3>Details</h3>
      <pre class="code-block">{prettyJson(props.event.details)}</pre>
      <div class="row">
        <Button onClick={props.onClose}>Close</Button>
      </div>
    </Dialog>
  );
}
