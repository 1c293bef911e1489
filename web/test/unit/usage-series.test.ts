import { describe, expect, it } from 'vitest';
import {
  bucketStarts,
  callSeries,
  totalsPerBucket,
  type UsagePointView,
} from '../../src/features/audit/usage-series.js';

const point = (bucketStart: string, tool: string, calls: number, errors = 0): UsagePointView => ({
  bucketStart,
  tool,
  mcp: null,
  mcpId: null,
  user: null,
  userId: null,
  calls,
  errors,
  denied: 0,
  errorRate: calls ? errors / calls : 0,
  p95Ms: null,
});

describe('usage series for charts', () => {
  const h0 = '2026-11-24T10:00:00.000Z';
  const h1 = '2026-11-24T11:00:00.000Z';
  const h2 = '2026-11-24T12:00:00.000Z';

  it('lists every bucket of the range in order, aligned to the bucket size', () => {
    expect(
      bucketStarts(new Date('2026-11-24T10:30:00Z'), new Date('2026-11-24T12:10:00Z'), 3_600_000),
    ).toEqual([h0, h1, h2]);
  });

  it('keeps the busiest groups, sums the rest as "other", and fills empty buckets with zero', () => {
    const points = [
      point(h0, 'a', 5),
      point(h1, 'a', 5),
      point(h0, 'b', 4),
      point(h2, 'c', 1),
      point(h2, 'd', 1),
      point(h1, 'outside-range-bucket', 0),
    ];
    const { series } = callSeries(points, 'TOOL', [h0, h1, h2], 2);
    expect(series).toEqual([
      { label: 'a', values: [5, 5, 0] },
      { label: 'b', values: [4, 0, 0] },
      { label: 'other', values: [0, 0, 2] },
    ]);
  });

  it('totals calls and the error rate (in percent, one decimal) per bucket', () => {
    const totals = totalsPerBucket(
      [point(h0, 'a', 3, 1), point(h0, 'b', 0), point(h1, 'a', 2)],
      [h0, h1, h2],
    );
    expect(totals).toEqual({ calls: [3, 2, 0], errorRate: [33.3, 0, 0] });
  });
});
