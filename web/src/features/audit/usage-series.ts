/** One `usage` point as the portal asks for it. */
export interface UsagePointView {
  bucketStart: string | null;
  tool: string | null;
  mcp: { slug: string } | null;
  mcpId: string | null;
  user: { username: string } | null;
  userId: string | null;
  calls: number;
  errors: number;
  denied: number;
  errorRate: number;
  p95Ms: number | null;
}

export type UsageGroup = 'TOOL' | 'USER' | 'MCP';

/** The name a point is charted under for `group`. */
export function groupName(point: UsagePointView, group: UsageGroup): string {
  if (group === 'TOOL') return point.tool ?? '(none)';
  if (group === 'MCP') return point.mcp?.slug ?? point.mcpId ?? '(none)';
  return point.user?.username ?? point.userId ?? '(none)';
}

export interface Series {
  labels: string[];
  series: { label: string; values: number[] }[];
}

/**
 * Calls per bucket for the `top` busiest groups, the rest summed as "other"; every bucket of the range
 * appears, in time order, even when it had no calls.
 */
export function callSeries(
  points: UsagePointView[],
  group: UsageGroup,
  buckets: string[],
  top = 5,
): { buckets: string[]; series: { label: string; values: number[] }[] } {
  const totals = new Map<string, number>();
  for (const point of points) {
    const name = groupName(point, group);
    totals.set(name, (totals.get(name) ?? 0) + point.calls);
  }
  const ranked = [...totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = ranked.slice(0, top).map(([name]) => name);
  const hasOther = ranked.length > top;
  const index = new Map(buckets.map((bucket, position) => [bucket, position]));
  const rows = new Map<string, number[]>(
    [...shown, ...(hasOther ? ['other'] : [])].map((name) => [name, buckets.map(() => 0)]),
  );
  for (const point of points) {
    const position = point.bucketStart ? index.get(point.bucketStart) : undefined;
    if (position === undefined) continue;
    const name = groupName(point, group);
    const row = rows.get(shown.includes(name) ? name : 'other');
    if (row) row[position] = (row[position] ?? 0) + point.calls;
  }
  return { buckets, series: [...rows].map(([label, values]) => ({ label, values })) };
}

/** The bucket starts (ISO, UTC) covering [since, until) for a bucket size in milliseconds. */
export function bucketStarts(since: Date, until: Date, bucketMs: number): string[] {
  const starts: string[] = [];
  for (
    let time = Math.floor(since.getTime() / bucketMs) * bucketMs;
    time < until.getTime();
    time += bucketMs
  ) {
    starts.push(new Date(time).toISOString());
  }
  return starts;
}

/** Calls and error rate per bucket, all groups together (the overview's 24-hour chart). */
export function totalsPerBucket(
  points: UsagePointView[],
  buckets: string[],
): { calls: number[]; errorRate: number[] } {
  const calls = buckets.map(() => 0);
  const errors = buckets.map(() => 0);
  const index = new Map(buckets.map((bucket, position) => [bucket, position]));
  for (const point of points) {
    const position = point.bucketStart ? index.get(point.bucketStart) : undefined;
    if (position === undefined) continue;
    calls[position] = (calls[position] ?? 0) + point.calls;
    errors[position] = (errors[position] ?? 0) + point.errors;
  }
  return {
    calls,
    errorRate: calls.map((count, position) =>
      count === 0 ? 0 : Math.round(((errors[position] ?? 0) / count) * 1000) / 10,
    ),
  };
}
