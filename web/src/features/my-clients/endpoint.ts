import { createQuery } from '../../lib/async.js';
import { trpc } from '../../lib/trpc.js';
import { fallbackEndpointUrl } from './snippets.js';

/**
 * The MCP endpoint AI clients connect to (the client port's `/mcp`), as the server reports it. If it cannot be
 * loaded, `guessed` is true and `url` is the portal's host on the default client port.
 */
export function createEndpoint() {
  const query = createQuery(
    () => true,
    () => trpc.clients.endpoint.query(),
  );
  return {
    url: (): string | undefined =>
      query.data()?.url ?? (query.error() ? fallbackEndpointUrl(window.location) : undefined),
    guessed: () => !query.data() && Boolean(query.error()),
    error: query.error,
    loading: query.loading,
  };
}
