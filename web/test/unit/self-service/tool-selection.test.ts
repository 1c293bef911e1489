import { describe, expect, it } from 'vitest';
import {
  allTools,
  describePick,
  describeTools,
  isPicked,
  noTools,
  pickError,
  pickedCount,
  pickFromSubscription,
  pickToTools,
  togglePick,
} from '../../../src/features/my-clients/tool-selection.js';

const offered = ['search', 'create_issue', 'close_issue'];

describe('tool selection', () => {
  it('"Select all" means every tool now and later: null', () => {
    const pick = allTools();
    expect(pickToTools(pick, offered)).toBeNull();
    expect(offered.every((tool) => isPicked(pick, tool))).toBe(true);
    expect(pickedCount(pick, offered)).toBe(3);
    expect(describePick(pick, offered)).toBe('All tools, including tools this MCP adds later.');
    expect(pickError(pick, offered)).toBeUndefined();
  });

  it('"Select none" selects nothing and cannot be submitted', () => {
    const pick = noTools();
    expect(pickToTools(pick, offered)).toEqual([]);
    expect(offered.some((tool) => isPicked(pick, tool))).toBe(false);
    expect(describePick(pick, offered)).toBe('No tools selected.');
    expect(pickError(pick, offered)).toMatch(/at least one tool/);
  });

  it('toggles one tool on and off, keeping the offered order', () => {
    let pick = togglePick(noTools(), 'close_issue', offered);
    pick = togglePick(pick, 'search', offered);
    expect(pickToTools(pick, offered)).toEqual(['search', 'close_issue']);
    expect(describePick(pick, offered)).toBe('2 of 3 tools selected.');
    pick = togglePick(pick, 'search', offered);
    expect(pickToTools(pick, offered)).toEqual(['close_issue']);
  });

  it('unticking one tool while all are chosen keeps the other current tools as a list', () => {
    const pick = togglePick(allTools(), 'create_issue', offered);
    expect(pick.all).toBe(false);
    expect(pickToTools(pick, offered)).toEqual(['search', 'close_issue']);
  });

  it('ticking every tool by hand names them, which excludes tools added later', () => {
    let pick = noTools();
    for (const tool of offered) pick = togglePick(pick, tool, offered);
    expect(pickToTools(pick, offered)).toEqual(offered);
    expect(describePick(pick, offered)).toBe(
      '3 of 3 tools selected; tools this MCP adds later are not included.',
    );
  });

  it('starts from a subscription: null is all, a list is those tools, gone tools are reported', () => {
    expect(pickFromSubscription(null, offered)).toEqual({ pick: allTools(), missing: [] });
    const { pick, missing } = pickFromSubscription(['search', 'deleted_tool'], offered);
    expect(pickToTools(pick, offered)).toEqual(['search']);
    expect(missing).toEqual(['deleted_tool']);
  });

  it('an MCP without tools can only be subscribed as a whole', () => {
    expect(pickError(allTools(), [])).toBeUndefined();
    expect(pickToTools(allTools(), [])).toBeNull();
    expect(pickError(noTools(), [])).toBeDefined();
  });

  it('summarizes a subscription for a table', () => {
    expect(describeTools(null)).toBe('All tools');
    expect(describeTools(['a'])).toBe('1 tool');
    expect(describeTools(['a', 'b'])).toBe('2 tools');
  });
});
