import { createMemo, createSignal, Show } from 'solid-js';
import { createQuery } from '../../lib/async.js';
import { graphql } from '../../lib/graphql.js';
import { ChartView } from '../../ui/Chart.js';
import { ErrorNotice, Loading, Select } from '../../ui/index.js';
import { bucketStarts, callSeries, type UsageGroup, type UsagePointView } from './usage-series.js';

const HOUR = 3_600_000;
const ranges = {
  day: { label: 'Last 24 hours', span: 24 * HOUR, bucket: 'HOUR', bucketMs: HOUR },
  week: { label: 'Last 7 days', span: 7 * 24 * HOUR, bucket: 'DAY', bucketMs: 24 * HOUR },
  month: { label: 'Last 30 days', span: 30 * 24 * HOUR, bucket: 'DAY', bucketMs: 24 * HOUR },
} as const;
type RangeKey = keyof typeof ranges;

export const USAGE_FIELDS =
  'bucketStart tool mcpId mcp { slug } userId user { username } calls errors denied errorRate p95Ms';

/** Hours in local time; days as the server counts them, from UTC midnight. */
const bucketLabel = (iso: string, bucketMs: number) =>
  new Intl.DateTimeFormat(
    undefined,
    bucketMs < 24 * HOUR
      ? { hour: '2-digit', minute: '2-digit' }
      : { month: 'short', day: 'numeric', timeZone: 'UTC' },
  ).format(new Date(iso));

/** Tool-call usage over time as a chart, grouped by tool, user or MCP (`groups` lists the choices). */
export function UsagePanel(props: { title: string; groups: UsageGroup[] }) {
  const [range, setRange] = createSignal<RangeKey>('day');
  const [group, setGroup] = createSignal<UsageGroup>(props.groups[0] ?? 'TOOL');
  const period = createMemo(() => {
    const chosen = ranges[range()];
    const until = new Date();
    const since = new Date(
      Math.floor((until.getTime() - chosen.span) / chosen.bucketMs) * chosen.bucketMs + chosen.bucketMs,
    );
    return { ...chosen, since, until, group: group() };
  });
  const usage = createQuery(period, (current) =>
    graphql<{ usage: UsagePointView[] }>(
      `query($groupBy: [UsageGroupBy!], $bucket: UsageBucket!, $filter: UsageFilter) {
        usage(groupBy: $groupBy, bucket: $bucket, filter: $filter) { ${USAGE_FIELDS} } }`,
      {
        groupBy: [current.group],
        bucket: current.bucket,
        filter: { since: current.since.toISOString(), until: current.until.toISOString() },
      },
    ),
  );
  const chart = createMemo(() => {
    const current = period();
    const buckets = bucketStarts(current.since, current.until, current.bucketMs);
    const data = callSeries(usage.data()?.usage ?? [], current.group, buckets);
    return {
      labels: data.buckets.map((bucket) => bucketLabel(bucket, current.bucketMs)),
      series: data.series,
      total: (usage.data()?.usage ?? []).reduce((sum, point) => sum + point.calls, 0),
    };
  });
  const groupLabels: Record<UsageGroup, string> = { TOOL: 'Tool', USER: 'User', MCP: 'MCP' };
  return (
    <section class="card stack" aria-label={props.title}>
      <div class="row row-wrap">
        <h2 class="card-title">{props.title}</h2>
        <Select
          label="Range"
          value={range()}
          options={(Object.keys(ranges) as RangeKey[]).map((key) => ({
            value: key,
            label: ranges[key].label,
          }))}
          onChange={setRange}
        />
        <Show when={props.groups.length > 1}>
          <Select
            label="Group by"
            value={group()}
            options={props.groups.map((value) => ({ value, label: groupLabels[value] }))}
            onChange={setGroup}
          />
        </Show>
      </div>
      <ErrorNotice error={usage.error()} title="Usage could not be loaded" />
      <Show when={usage.data()} fallback={<Loading label="Loading usage…" />}>
        <Show when={chart().total > 0} fallback={<p class="muted">No tool calls in this range.</p>}>
          <ChartView
            title={`${props.title}: calls per ${period().bucket === 'DAY' ? 'day (UTC)' : 'hour'}`}
            labels={chart().labels}
            series={chart().series}
            stacked
          />
        </Show>
      </Show>
    </section>
  );
}
