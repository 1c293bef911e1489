/**
 * Usage examples, type-checked with the package (`tsc -p sdk`) but never built into `dist`. Keep
 * README.md's snippets in step with these.
 */
import { createGatehouseClient, isGatehouseError } from './index.js';

/** README "Usage": list users, create a group. */
export async function exampleUsage(token: string) {
  const gatehouse = createGatehouseClient({ url: 'https://gatehouse.example.com', token });

  const { items, total } = await gatehouse.users.list.query({});
  console.warn(`${total} users, first: ${items[0]?.username ?? 'none'}`);

  const group = await gatehouse.groups.create.mutate({ name: 'platform', description: 'Platform team' });
  const { items: groups } = await gatehouse.groups.list.query();
  return { group, groups };
}

/** README "Errors": branch on the typed code. */
export async function exampleErrors(token: string) {
  const gatehouse = createGatehouseClient({ url: 'https://gatehouse.example.com', token });
  try {
    return await gatehouse.groups.create.mutate({ name: 'platform' });
  } catch (error) {
    if (!isGatehouseError(error)) throw error;
    switch (error.code) {
      case 'CONFLICT':
        return undefined; // already exists
      case 'VALIDATION_FAILED':
        throw new Error(`invalid group: ${JSON.stringify(error.fieldErrors)}`);
      case 'UNAUTHENTICATED':
        throw new Error('the API token is wrong, expired or revoked');
      default:
        throw new Error(`Gatehouse said ${error.code} (${error.status}), request ${error.requestId}`, {
          cause: error,
        });
    }
  }
}
