import { AuditAction } from '@gatehouse/schema';
import { createSignal, onMount, Show } from 'solid-js';
import { createQuery } from '../../lib/async.js';
import { formatDateTime } from '../../lib/format.js';
import { graphql } from '../../lib/graphql.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, ErrorNotice, Field, Form, PageHeader, Select, TextField } from '../../ui/index.js';
import { createEventList, EventTable } from './EventList.js';
import { UsagePanel } from './UsagePanel.js';

interface ChainStatus {
  intact: boolean;
  verifiedThrough: number;
  checkpointThrough: number;
  brokenAt: number | null;
  problem: string | null;
  checkedAt: string | null;
}

interface FilterForm {
  type: string;
  mcpId: string;
  tool: string;
  outcome: string;
  reasonSearch: string;
  since: string;
  until: string;
}

const emptyFilter: FilterForm = {
  type: '',
  mcpId: '',
  tool: '',
  outcome: '',
  reasonSearch: '',
  since: '',
  until: '',
};

/** `datetime-local` values are local time; the API wants instants. */
const instant = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** The form as the GraphQL filter: empty fields are left out. */
export function filterOf(form: FilterForm): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries({
      types: form.type ? [form.type] : undefined,
      mcpId: form.mcpId || undefined,
      tool: form.tool.trim() || undefined,
      outcomes: form.outcome ? [form.outcome] : undefined,
      reasonSearch: form.reasonSearch.trim() || undefined,
      since: instant(form.since),
      until: instant(form.until),
    }).filter(([, value]) => value !== undefined),
  );
}

/** The audit explorer for auditors and admins: filterable events, usage over time, export, chain status. */
export function AuditScreen() {
  const [form, setForm] = createSignal<FilterForm>(emptyFilter);
  const [applied, setApplied] = createSignal<FilterForm>(emptyFilter);
  const list = createEventList(() => filterOf(applied()));
  onMount(() => void list.reload());
  const mcps = createQuery(
    () => true,
    () => trpc.catalog.list.query(),
  );
  const chain = createQuery(
    () => true,
    () =>
      graphql<{ auditChainStatus: ChainStatus }>(
        '{ auditChainStatus { intact verifiedThrough checkpointThrough brokenAt problem checkedAt } }',
      ),
  );
  const set = (key: keyof FilterForm) => (value: string) => setForm({ ...form(), [key]: value });
  const apply = () => {
    setApplied(form());
    void list.reload();
  };
  const exportHref = () => {
    const query = new URLSearchParams({ format: 'jsonl' });
    const since = instant(applied().since);
    const until = instant(applied().until);
    if (since) query.set('since', since);
    if (until) query.set('until', until);
    return `/api/audit/export?${query}`;
  };

  return (
    <>
      <PageHeader
        title="Audit explorer"
        description="Every call and change, hash-chained. Filter the trail, inspect an event, export it for your SIEM."
        actions={
          <a
            class="btn btn-secondary"
            href={exportHref()}
            download=""
            title="Every event between From and Until (other filters do not apply), as verifiable JSONL"
          >
            Export time range (JSONL)
          </a>
        }
      />
      <section class="card stack" aria-label="Chain status">
        <ErrorNotice error={chain.error()} title="The chain status could not be loaded" />
        <Show when={chain.data()?.auditChainStatus}>
          {(status) => (
            <p class="row row-wrap">
              <Badge tone={status().intact ? 'success' : 'danger'}>
                {status().intact ? 'Chain intact' : 'Chain broken'}
              </Badge>
              <span>
                Verified through event {status().verifiedThrough}
                {status().checkpointThrough > 0
                  ? ` (from retention checkpoint ${status().checkpointThrough})`
                  : ''}
                , checked {formatDateTime(status().checkedAt, 'not yet')}.
              </span>
              <Show when={status().problem}>
                {(problem) => (
                  <strong>
                    Broken at event {status().brokenAt}: {problem()}
                  </strong>
                )}
              </Show>
            </p>
          )}
        </Show>
      </section>
      <UsagePanel title="Tool calls" groups={['TOOL', 'USER', 'MCP']} />
      <section class="card stack" aria-label="Events">
        <h2 class="card-title">Events</h2>
        <Form onSubmit={apply} class="filter-grid">
          <Select
            label="Event type"
            value={form().type}
            options={[
              { value: '', label: 'Any' },
              ...AuditAction.options.map((value) => ({ value, label: value })),
            ]}
            onChange={set('type')}
          />
          <Select
            label="MCP"
            value={form().mcpId}
            options={[
              { value: '', label: 'Any' },
              ...(mcps.data()?.items ?? []).map((mcp) => ({ value: mcp.id, label: mcp.name })),
            ]}
            onChange={set('mcpId')}
          />
          <TextField label="Tool" value={form().tool} onInput={set('tool')} maxLength={256} />
          <Select
            label="Outcome"
            value={form().outcome}
            options={[
              { value: '', label: 'Any' },
              { value: 'SUCCESS', label: 'Success' },
              { value: 'FAILURE', label: 'Failure' },
              { value: 'DENIED', label: 'Denied' },
            ]}
            onChange={set('outcome')}
          />
          <TextField
            label="Reason contains"
            value={form().reasonSearch}
            onInput={set('reasonSearch')}
            maxLength={200}
          />
          <DateTimeField label="From" value={form().since} onInput={set('since')} />
          <DateTimeField label="Until" value={form().until} onInput={set('until')} />
          <div class="row filter-actions">
            <Button type="submit" variant="primary" busy={list.loading()}>
              Apply filters
            </Button>
            <Button
              onClick={() => {
                setForm(emptyFilter);
                setApplied(emptyFilter);
                void list.reload();
              }}
            >
              Clear
            </Button>
          </div>
        </Form>
        <EventTable caption="Audit events, newest first" list={list} empty="No events match these filters." />
      </section>
    </>
  );
}

function DateTimeField(props: { label: string; value: string; onInput: (value: string) => void }) {
  return (
    <Field label={props.label}>
      {(frame) => (
        <input
          id={frame.id}
          class="input"
          type="datetime-local"
          value={props.value}
          aria-describedby={frame.describedBy}
          onInput={(event) => props.onInput(event.currentTarget.value)}
        />
      )}
    </Field>
  );
}
