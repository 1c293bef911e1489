import type { AppRouter } from '@gatehouse/server';
import { createTRPCClient, httpBatchLink, type TRPCClient } from '@trpc/client';
import { toGatehouseError } from './errors.js';

/**
 * Matches the server's tRPC `maxBatchSize`: a larger batch would be refused as a whole, so the link splits
 * bigger bursts of calls into several requests.
 */
const MAX_BATCH_SIZE = 20;

/** Options for {@link createGatehouseClient}. */
export interface GatehouseClientOptions {
  /**
   * The base URL of the Gatehouse portal listener (where the admin portal is served), such as
   * `https://gatehouse.example.com`. The client calls `${url}/trpc`; a trailing slash is ignored.
   */
  url: string;
  /**
   * An admin API token (`gh_at_…`), created in the portal or with `apiTokens.create`. It is sent as
   * `Authorization: Bearer <token>` on every request and never logged by the SDK.
   */
  token: string;
  /**
   * The `fetch` to send requests with; defaults to the global one. Pass one to add a proxy agent, timeouts,
   * retries or logging.
   */
  fetch?: typeof globalThis.fetch;
}

/**
 * Rewrites a tRPC client type so that `.query()` and `.mutate()` return plain promises. tRPC tags its
 * promises with the error shape for its `safe()` helper, which would claim the error is a `TRPCClientError`;
 * our calls reject with {@link GatehouseError} instead.
 */
type WithGatehouseErrors<TClient> = {
  [K in keyof TClient as K extends string ? K : never]: TClient[K] extends (
    ...args: infer TArgs
  ) => Promise<infer TData>
    ? (...args: TArgs) => Promise<TData>
    : WithGatehouseErrors<TClient[K]>;
};

/**
 * A typed Gatehouse control-plane client: one property per router (`users`, `groups`, `apiTokens`, …), and
 * on each procedure `.query(input)` or `.mutate(input)` with the server's exact input and output types.
 *
 * Every call rejects with a {@link GatehouseError}, never with a raw `TRPCClientError`.
 */
export type GatehouseClient = WithGatehouseErrors<TRPCClient<AppRouter>>;

const isPromiseLike = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') &&
  value !== null &&
  typeof (value as { then?: unknown }).then === 'function';

/**
 * Wraps tRPC's proxy client in a proxy of our own: property reads return wrapped children, and calls that
 * return a promise (`.query()`, `.mutate()`) have their rejection converted with `toGatehouseError`.
 */
function mapCallErrors<T extends object>(node: T): T {
  return new Proxy(node, {
    get(target, key, receiver) {
      const child: unknown = Reflect.get(target, key, receiver);
      return typeof key === 'string' && typeof child === 'function' ? mapCallErrors(child) : child;
    },
    apply(target, thisArg, args) {
      const result: unknown = Reflect.apply(target as (...args: unknown[]) => unknown, thisArg, args);
      if (!isPromiseLike(result)) return result;
      return Promise.resolve(result).catch((error: unknown) => {
        throw toGatehouseError(error);
      });
    },
  });
}

/**
 * Creates a typed client for the Gatehouse control-plane API.
 *
 * Calls made in the same tick are batched into one HTTP request (tRPC's `httpBatchLink`). Each call
 * resolves with the procedure's typed output or rejects with a {@link GatehouseError}.
 *
 * @param options - Where Gatehouse is, the API token to authenticate with, and optionally a `fetch`.
 * @returns The client.
 * @throws {TypeError} When `url` or `token` is empty.
 *
 * @example
 * ```ts
 * import { createGatehouseClient, isGatehouseError } from '@gatehouse/sdk';
 *
 * const gatehouse = createGatehouseClient({
 *   url: 'https://gatehouse.example.com',
 *   token: process.env.GATEHOUSE_TOKEN!,
 * });
 * const { items, total } = await gatehouse.users.list.query({});
 * const group = await gatehouse.groups.create.mutate({ name: 'platform' });
 * ```
 */
export function createGatehouseClient(options: GatehouseClientOptions): GatehouseClient {
  const { url, token, fetch } = options;
  if (!url) throw new TypeError('createGatehouseClient: `url` is required');
  if (!token) throw new TypeError('createGatehouseClient: `token` is required');
  const authorization = `Bearer ${token}`;
  const client = createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${url.replace(/\/+$/, '')}/trpc`,
        maxItems: MAX_BATCH_SIZE,
        headers: () => ({ authorization }),
        ...(fetch && { fetch }),
      }),
    ],
  });
  return mapCallErrors(client) as unknown as GatehouseClient;
}
