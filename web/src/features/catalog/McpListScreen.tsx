import type { McpStatus, McpSummary } from '@gatehouse/schema';
import { createSignal, Show } from 'solid-js';
import { createQuery, refreshEvery } from '../../lib/async.js';
import { showFlash } from '../../lib/flash.js';
import { formatDateTime, plural } from '../../lib/format.js';
import { navigate, paths } from '../../lib/router.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import {
  Badge,
  Button,
  type Column,
  ErrorNotice,
  Form,
  PageHeader,
  Select,
  Table,
  TextField,
} from '../../ui/index.js';
import { ImportMcpDialog } from './ImportMcpDialog.js';
import { matchesSearch, statusTone, transportLabels, versionSummary } from './mcp-status.js';

const REFRESH_MS = 60_000;

/** The admin catalog: every MCP with its status, transport and kill state; new and imported MCPs start here. */
export function McpListScreen() {
  const mcps = createQuery(
    () => true,
    () => trpc.catalog.list.query({}),
  );
  const kills = createQuery(
    () => true,
    () => trpc.killSwitches.list.query(),
  );
  refreshEvery(mcps, REFRESH_MS);
  refreshEvery(kills, REFRESH_MS);

  const [search, setSearch] = createSignal('');
  const [status, setStatus] = createSignal<McpStatus | 'all'>('all');
  const [importing, setImporting] = createSignal(false);

  const killed = () =>
    new Set(
      (kills.data()?.items ?? []).filter((kill) => kill.targetType === 'mcp').map((kill) => kill.targetId),
    );
  const rows = () =>
    mcps
      .data()
      ?.items.filter(
        (mcp) => (status() === 'all' || mcp.status === status()) && matchesSearch(mcp, search()),
      );
  const filtered = () => Boolean(search().trim()) || status() !== 'all';

  const columns: Column<McpSummary>[] = [
    {
      header: 'MCP',
      cell: (mcp) => (
        <>
          <a class="cell-primary" href={paths.mcp(mcp.id)}>
            {mcp.name}
          </a>{' '}
          <Show when={killed().has(mcp.id)}>
            <Badge tone="danger">killed</Badge>
          </Show>
          <span class="cell-secondary mono">{mcp.slug}</span>
        </>
      ),
    },
    { header: 'Status', cell: (mcp) => <Badge tone={statusTone[mcp.status]}>{mcp.status}</Badge> },
    { header: 'Transport', cell: (mcp) => transportLabels[mcp.transport] },
    { header: 'Isolation', cell: (mcp) => (mcp.isolation === 'shared' ? 'shared' : 'per user') },
    { header: 'Version', cell: (mcp) => versionSummary(mcp) },
    {
      header: 'Reviews',
      cell: (mcp) => (
        <Show when={mcp.pendingReviews > 0} fallback={<span class="muted">None</span>}>
          <Badge tone="warning">{plural(mcp.pendingReviews, 'to review', 'to review')}</Badge>
        </Show>
      ),
    },
    { header: 'Updated', cell: (mcp) => formatDateTime(mcp.updatedAt) },
  ];

  return (
    <>
      <PageHeader
        title="MCPs"
        description="The MCP servers Gatehouse offers. Users see published MCPs granted to their groups."
        actions={
          <Show when={canManage()}>
            <Button onClick={() => setImporting(true)}>Import</Button>
            <a class="btn btn-primary" href={paths.mcpNew}>
              New MCP
            </a>
          </Show>
        }
      />

      <Form class="toolbar" aria-label="Filter MCPs" onSubmit={() => undefined}>
        <TextField
          class="toolbar-search"
          label="Search"
          type="search"
          value={search()}
          onInput={setSearch}
          placeholder="Slug, name or description"
          autocomplete="off"
          maxLength={128}
        />
        <Select
          label="Status"
          value={status()}
          options={[
            { value: 'all', label: 'Any status' },
            { value: 'draft', label: 'Draft' },
            { value: 'published', label: 'Published' },
            { value: 'archived', label: 'Archived' },
          ]}
          onChange={setStatus}
        />
      </Form>

      <ErrorNotice error={mcps.error()} title="MCPs could not be loaded" />
      <ErrorNotice error={kills.error()} title="Kill switches could not be loaded" />
      <Table
        caption="MCPs"
        columns={columns}
        rows={rows()}
        loading={mcps.loading()}
        empty={
          filtered() ? (
            'No MCPs match these filters.'
          ) : canManage() ? (
            <>
              No MCPs yet. <a href={paths.mcpNew}>Add one</a> or import a registry entry.
            </>
          ) : (
            'No MCPs yet.'
          )
        }
      />

      <Show when={importing()}>
        <ImportMcpDialog
          onClose={() => setImporting(false)}
          onImported={(mcp) => {
            setImporting(false);
            void mcps.refetch();
            showFlash(
              `MCP ${mcp.name} was imported as a draft. Review it, then validate it.`,
              paths.mcp(mcp.id),
            );
            navigate(paths.mcp(mcp.id));
          }}
        />
      </Show>
    </>
  );
}
