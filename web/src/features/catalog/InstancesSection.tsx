import type { InstanceStatus } from '@gatehouse/schema';
import { createSignal, For, Show } from 'solid-js';
import { createQuery, type Query, refreshEvery } from '../../lib/async.js';
import { formatDateTime } from '../../lib/format.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { Badge, Button, type Column, ConfirmDialog, ErrorNotice, Table } from '../../ui/index.js';
import { formatUptime, instanceLabels, instanceTone } from './mcp-status.js';

const LOG_REFRESH_MS = 30_000;

const timeOnly = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** The captured stderr of one instance, redacted of its credential values by the server. */
function LogViewer(props: { instanceKey: string; onClose: () => void }) {
  const logs = createQuery(
    () => props.instanceKey,
    (key) => trpc.runtime.logs.query({ key }),
  );
  refreshEvery(logs, LOG_REFRESH_MS);
  return (
    <div class="cat-stack-tight">
      <div class="cat-section-header">
        <h3 id="mcp-log-title" class="section-title">
          Log of <code>{props.instanceKey}</code>
        </h3>
        <span class="muted">Standard error, secrets redacted; refreshed every 30 seconds.</span>
        <div class="row cat-section-actions">
          <Button size="sm" busy={logs.loading()} onClick={() => void logs.refetch()}>
            Refresh log
          </Button>
          <Button size="sm" variant="ghost" onClick={() => props.onClose()}>
            Hide log
          </Button>
        </div>
      </div>
      <ErrorNotice error={logs.error()} title="The log could not be loaded" />
      <section
        class="cat-code-block cat-log-view"
        aria-labelledby="mcp-log-title"
        aria-busy={logs.loading() ? 'true' : undefined}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
      >
        <pre>
          <Show
            when={(logs.data()?.lines.length ?? 0) > 0}
            fallback={
              <span class="muted">{logs.data() ? 'Nothing was written to standard error.' : 'Loading…'}</span>
            }
          >
            <For each={logs.data()?.lines}>
              {(line) => (
                <span class="cat-log-line">
                  <time class="cat-log-time" datetime={line.at}>
                    {timeOnly.format(new Date(line.at))}
                  </time>{' '}
                  {line.text}
                </span>
              )}
            </For>
          </Show>
        </pre>
      </section>
    </div>
  );
}

type Pending = { kind: 'restart' | 'stop'; instance: InstanceStatus };

/** Running (or recently failed) instances of this MCP: health, restarts, and their logs. */
export function InstancesSection(props: {
  instances: Query<{ items: InstanceStatus[] }>;
  onChanged: (message: string) => Promise<void>;
}) {
  /** `undefined`: follow the first instance; `null`: the viewer is hidden. */
  const [logKey, setLogKey] = createSignal<string | null | undefined>(undefined);
  const [pending, setPending] = createSignal<Pending | null>(null);
  const items = () => props.instances.data()?.items ?? [];
  const shownLog = () => {
    const chosen = logKey();
    if (chosen === null || !canManage()) return undefined;
    const keys = items().map((instance) => instance.key);
    return chosen !== undefined && keys.includes(chosen) ? chosen : keys[0];
  };

  const columns = (): Column<InstanceStatus>[] => [
    {
      header: 'Instance',
      cell: (instance) => (
        <>
          <span class="cell-primary mono">{instance.key}</span>
          <span class="cell-secondary">
            {instance.userId ? `user ${instance.userId}` : 'shared'}
            {instance.pid !== null ? ` · pid ${instance.pid}` : ''}
          </span>
        </>
      ),
    },
    {
      header: 'State',
      cell: (instance) => <Badge tone={instanceTone[instance.state]}>{instanceLabels[instance.state]}</Badge>,
    },
    {
      header: 'Health',
      cell: (instance) => (
        <Badge tone={instance.healthy ? 'success' : 'danger'}>
          {instance.healthy ? 'healthy' : 'unhealthy'}
        </Badge>
      ),
    },
    {
      header: 'Restarts',
      class: 'col-num',
      cell: (instance) => (
        <>
          {instance.restarts}
          <Show when={instance.consecutiveFailures > 0}>
            <span class="cell-secondary">{instance.consecutiveFailures} failing in a row</span>
          </Show>
        </>
      ),
    },
    { header: 'Uptime', cell: (instance) => formatUptime(instance.uptimeSeconds) },
    {
      header: 'Calls',
      cell: (instance) => `${instance.inFlight} running · ${instance.queued} queued`,
    },
    {
      header: 'Last error',
      class: 'col-wrap',
      cell: (instance) => (
        <>
          {instance.lastError ?? <span class="muted">None</span>}
          <Show when={instance.nextRestartAt}>
            <span class="cell-secondary">Next restart {formatDateTime(instance.nextRestartAt)}</span>
          </Show>
        </>
      ),
    },
    ...(canManage()
      ? [
          {
            header: <span class="sr-only">Actions</span>,
            class: 'col-actions',
            cell: (instance: InstanceStatus) => (
              <div class="table-actions">
                <Button
                  size="sm"
                  variant="ghost"
                  aria-label={`Show the log of ${instance.key}`}
                  aria-pressed={shownLog() === instance.key}
                  onClick={() => setLogKey(instance.key)}
                >
                  Log
                </Button>
                <Button
                  size="sm"
                  variant="ghost"
                  aria-label={`Restart ${instance.key}`}
                  onClick={() => setPending({ kind: 'restart', instance })}
                >
                  Restart
                </Button>
                <Button
                  size="sm"
                  variant="ghost"
                  class="btn-danger-text"
                  aria-label={`Stop ${instance.key}`}
                  onClick={() => setPending({ kind: 'stop', instance })}
                >
                  Stop
                </Button>
              </div>
            ),
          },
        ]
      : []),
  ];

  const pendingOf = (kind: Pending['kind']) => {
    const current = pending();
    return current?.kind === kind ? current.instance : undefined;
  };

  return (
    <section class="stack" aria-labelledby="mcp-instances-title">
      <div class="cat-section-header">
        <h2 id="mcp-instances-title" class="section-title">
          Instances
        </h2>
        <span class="muted">Health is refreshed every minute.</span>
        <div class="row cat-section-actions">
          <Button size="sm" busy={props.instances.loading()} onClick={() => void props.instances.refetch()}>
            Refresh
          </Button>
        </div>
      </div>
      <ErrorNotice error={props.instances.error()} title="Instances could not be loaded" />
      <Table
        caption="Instances"
        columns={columns()}
        rows={props.instances.data()?.items}
        loading={props.instances.loading()}
        empty="No instance is running."
      />
      <Show when={props.instances.data()?.items.length === 0}>
        <p class="field-hint">
          Shared MCPs start on first use (or at once, if eager); per-user MCPs start one instance per user.
        </p>
      </Show>
      <Show when={shownLog()} keyed>
        {(key) => <LogViewer instanceKey={key} onClose={() => setLogKey(null)} />}
      </Show>

      <Show when={pendingOf('restart')} keyed>
        {(instance) => (
          <ConfirmDialog
            title={`Restart ${instance.key}?`}
            confirmLabel="Restart instance"
            onClose={() => setPending(null)}
            onConfirm={async () => {
              await trpc.runtime.restart.mutate({ key: instance.key });
              setPending(null);
              await props.onChanged(`Instance ${instance.key} is restarting.`);
            }}
          >
            <p>The process is stopped and started again. Calls in flight on it fail.</p>
          </ConfirmDialog>
        )}
      </Show>
      <Show when={pendingOf('stop')} keyed>
        {(instance) => (
          <ConfirmDialog
            title={`Stop ${instance.key}?`}
            confirmLabel="Stop instance"
            danger
            onClose={() => setPending(null)}
            onConfirm={async () => {
              await trpc.runtime.stop.mutate({ key: instance.key });
              setPending(null);
              await props.onChanged(`Instance ${instance.key} was stopped.`);
            }}
          >
            <p>
              The process is stopped and calls in flight on it fail. It starts again on the next call, unless
              the MCP is archived or killed.
            </p>
          </ConfirmDialog>
        )}
      </Show>
    </section>
  );
}
