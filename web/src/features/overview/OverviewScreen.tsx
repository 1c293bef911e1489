import { createMemo, createSignal, For, onCleanup, Show } from 'solid-js';
import { createQuery, refreshEvery } from '../../lib/async.js';
import { graphql } from '../../lib/graphql.js';
import { paths } from '../../lib/router.js';
import { canManage } from '../../lib/session.js';
import { trpc } from '../../lib/trpc.js';
import { ChartView } from '../../ui/Chart.js';
import { Badge, ErrorNotice, Loading, PageHeader } from '../../ui/index.js';
import { USAGE_FIELDS } from '../audit/UsagePanel.js';
import { bucketStarts, totalsPerBucket, type UsagePointView } from '../audit/usage-series.js';

const HOUR = 3_600_000;

/** The admin's and auditor's start page: health, sessions, the last 24 hours of calls, tools to review. */
export function OverviewScreen() {
  // The window moves with the clock: each refresh asks for the last 24 hours as of then.
  const [now, setNow] = createSignal(Date.now());
  const tick = setInterval(() => setNow(Date.now()), 60_000);
  onCleanup(() => clearInterval(tick));
  const period = createMemo(() => ({
    since: new Date(Math.floor(now() / HOUR) * HOUR - 23 * HOUR),
    until: new Date(now()),
  }));
  const usage = createQuery(period, (range) =>
    graphql<{ usage: UsagePointView[] }>(
      `query($filter: UsageFilter) { usage(bucket: HOUR, filter: $filter) { ${USAGE_FIELDS} } }`,
      { filter: { since: range.since.toISOString(), until: range.until.toISOString() } },
    ),
  );
  const instances = createQuery(
    () => canManage(),
    () => trpc.runtime.instances.query({}),
  );
  const sessions = createQuery(
    () => canManage(),
    () => trpc.mcpSessions.list.query(),
  );
  const mcps = createQuery(
    () => true,
    () => trpc.catalog.list.query(),
  );
  refreshEvery(instances, 60_000);
  refreshEvery(sessions, 60_000);
  const chart = createMemo(() => {
    const range = period();
    const buckets = bucketStarts(range.since, range.until, HOUR);
    const totals = totalsPerBucket(usage.data()?.usage ?? [], buckets);
    return {
      labels: buckets.map((bucket) =>
        new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }).format(new Date(bucket)),
      ),
      calls: totals.calls,
      errorRate: totals.errorRate,
      total: totals.calls.reduce((sum, count) => sum + count, 0),
    };
  });
  const unhealthy = () => (instances.data()?.items ?? []).filter((instance) => !instance.healthy);
  const toReview = () => (mcps.data()?.items ?? []).filter((mcp) => mcp.pendingReviews > 0);

  return (
    <>
      <PageHeader title="Overview" description="The last 24 hours at a glance; refreshed every minute." />
      <div class="stat-grid">
        <Show when={canManage()}>
          <section class="card stat" aria-label="Downstream health">
            <h2 class="card-title">Downstream instances</h2>
            <Show when={instances.data()} fallback={<Loading label="Loading…" />}>
              {(list) => (
                <p>
                  <span class="stat-number">{list().items.length}</span> running,{' '}
                  <Badge tone={unhealthy().length ? 'danger' : 'success'}>
                    {unhealthy().length} unhealthy
                  </Badge>
                </p>
              )}
            </Show>
            <ul class="plain-list">
              <For each={unhealthy()}>
                {(instance) => (
                  <li>
                    <a href={paths.mcp(instance.mcpId)}>{instance.slug}</a>: {instance.state}
                  </li>
                )}
              </For>
            </ul>
            <ErrorNotice error={instances.error()} title="Health could not be loaded" />
          </section>
          <section class="card stat" aria-label="Active sessions">
            <h2 class="card-title">Active MCP sessions</h2>
            <Show when={sessions.data()} fallback={<Loading label="Loading…" />}>
              {(list) => (
                <p>
                  <span class="stat-number">{list().items.length}</span> open ·{' '}
                  <a href={paths.clients}>Clients and sessions</a>
                </p>
              )}
            </Show>
            <ErrorNotice error={sessions.error()} title="Sessions could not be loaded" />
          </section>
        </Show>
        <section class="card stat" aria-label="Tools awaiting review">
          <h2 class="card-title">Tools awaiting review</h2>
          <Show when={mcps.data()} fallback={<Loading label="Loading…" />}>
            <Show
              when={toReview().length > 0}
              fallback={<p class="muted">No changed or new tools to review.</p>}
            >
              <ul class="plain-list">
                <For each={toReview()}>
                  {(mcp) => (
                    <li>
                      <a href={paths.mcp(mcp.id)}>{mcp.name}</a>: {mcp.pendingReviews} to review
                    </li>
                  )}
                </For>
              </ul>
            </Show>
          </Show>
          <ErrorNotice error={mcps.error()} title="The catalog could not be loaded" />
        </section>
      </div>
      <section class="card stack" aria-label="Calls in the last 24 hours">
        <h2 class="card-title">Calls and error rate, last 24 hours</h2>
        <ErrorNotice error={usage.error()} title="Usage could not be loaded" />
        <Show when={usage.data()} fallback={<Loading label="Loading usage…" />}>
          <Show when={chart().total > 0} fallback={<p class="muted">No tool calls in the last 24 hours.</p>}>
            <ChartView
              title="Calls and error rate per hour"
              labels={chart().labels}
              series={[
                { label: 'Calls', values: chart().calls },
                { label: 'Error rate (%)', values: chart().errorRate, secondary: true, kind: 'line' },
              ]}
              secondaryLabel="Error rate (%)"
            />
          </Show>
        </Show>
      </section>
    </>
  );
}
