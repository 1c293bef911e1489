/**
 * `@gatehouse/sdk`: a typed TypeScript client for the Gatehouse MCP control plane.
 *
 * Create a client with {@link createGatehouseClient}; every call rejects with a {@link GatehouseError}.
 *
 * @packageDocumentation
 */
export { createGatehouseClient, type GatehouseClient, type GatehouseClientOptions } from './client.js';
export {
  type ErrorCode,
  type FieldErrors,
  GatehouseError,
  type GatehouseErrorOptions,
  isGatehouseError,
  toGatehouseError,
} from './errors.js';
