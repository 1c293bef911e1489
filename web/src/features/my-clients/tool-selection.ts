/**
 * The tool selection of a subscription as the portal edits it, kept free of UI code so it can be tested.
 *
 * A subscription's `tools` is either `null`, meaning every tool the MCP offers now and any it offers later, or
 * a list naming exactly the tools the client gets. "Select all" chooses `null`; ticking every box one by one
 * names the current tools only, so tools added to the MCP later are not included.
 */
export type ToolPick =
  | { readonly all: true }
  | { readonly all: false; readonly selected: ReadonlySet<string> };

/** Every tool, now and later (`tools: null`). */
export const allTools = (): ToolPick => ({ all: true });

/** Nothing selected: not submittable, a starting point for picking a few tools. */
export const noTools = (): ToolPick => ({ all: false, selected: new Set() });

/**
 * The pick for an existing subscription. Selected tools the MCP no longer offers are dropped (the server
 * refuses them) and returned as `missing`, so the screen can say they go away on save.
 */
export function pickFromSubscription(
  tools: readonly string[] | null,
  available: readonly string[],
): { pick: ToolPick; missing: string[] } {
  if (tools === null) return { pick: allTools(), missing: [] };
  const offered = new Set(available);
  return {
    pick: { all: false, selected: new Set(tools.filter((tool) => offered.has(tool))) },
    missing: tools.filter((tool) => !offered.has(tool)),
  };
}

export const isPicked = (pick: ToolPick, name: string): boolean => pick.all || pick.selected.has(name);

/** Ticks or unticks one tool. Unticking one while "all" is chosen keeps every other current tool. */
export function togglePick(pick: ToolPick, name: string, available: readonly string[]): ToolPick {
  if (pick.all) return { all: false, selected: new Set(available.filter((tool) => tool !== name)) };
  const selected = new Set(pick.selected);
  if (selected.has(name)) selected.delete(name);
  else selected.add(name);
  return { all: false, selected };
}

/** What `subscriptions.create` and `subscriptions.update` take: `null`, or the picked tools in offered order. */
export function pickToTools(pick: ToolPick, available: readonly string[]): string[] | null {
  if (pick.all) return null;
  return available.filter((tool) => pick.selected.has(tool));
}

export function pickedCount(pick: ToolPick, available: readonly string[]): number {
  return pick.all ? available.length : available.filter((tool) => pick.selected.has(tool)).length;
}

/** A sentence under the checkboxes saying what will be subscribed. */
export function describePick(pick: ToolPick, available: readonly string[]): string {
  if (pick.all) return 'All tools, including tools this MCP adds later.';
  const count = pickedCount(pick, available);
  if (count === 0) return 'No tools selected.';
  const of = `${count} of ${available.length} ${available.length === 1 ? 'tool' : 'tools'} selected`;
  return count === available.length ? `${of}; tools this MCP adds later are not included.` : `${of}.`;
}

/** Why the pick cannot be submitted, or undefined. */
export function pickError(pick: ToolPick, available: readonly string[]): string | undefined {
  return pickedCount(pick, available) === 0 && !pick.all
    ? 'Select at least one tool, or choose Select all'
    : undefined;
}

/** A subscription's tools in a table: "All tools" or "3 tools". */
export function describeTools(tools: readonly string[] | null): string {
  if (tools === null) return 'All tools';
  return tools.length === 1 ? '1 tool' : `${tools.length} tools`;
}
