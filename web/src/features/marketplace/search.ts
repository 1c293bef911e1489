import type { MarketplaceEntry } from '@gatehouse/schema';

/** What search looks at: the MCP's name, slug and description, and its tools' names and titles. */
type Searchable = Pick<MarketplaceEntry, 'name' | 'slug' | 'description' | 'tools'>;

const termsOf = (query: string) => query.toLowerCase().split(/\s+/).filter(Boolean);

const haystackOf = (entry: Searchable) =>
  [entry.name, entry.slug, entry.description, ...entry.tools.flatMap((tool) => [tool.name, tool.title ?? ''])]
    .join('\n')
    .toLowerCase();

/** Every word of the query appears somewhere in the entry (case-insensitive); an empty query matches all. */
export function matchesSearch(entry: Searchable, query: string): boolean {
  const haystack = haystackOf(entry);
  return termsOf(query).every((term) => haystack.includes(term));
}

export function filterMarketplace<T extends Searchable>(entries: readonly T[], query: string): T[] {
  return entries.filter((entry) => matchesSearch(entry, query));
}

/** The tools whose name or title contains a word of the query, to say why an entry matched. */
export function matchingTools(entry: Searchable, query: string): string[] {
  const terms = termsOf(query);
  if (terms.length === 0) return [];
  return entry.tools
    .filter((tool) => {
      const text = `${tool.name}\n${tool.title ?? ''}`.toLowerCase();
      return terms.some((term) => text.includes(term));
    })
    .map((tool) => tool.name);
}

/** Whether the user must enter their own values before the MCP works for them. */
export const needsOwnCredentials = (entry: Pick<MarketplaceEntry, 'isolation' | 'credentials'>): boolean =>
  entry.isolation === 'per-user' && entry.credentials.length > 0;
