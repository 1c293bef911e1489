import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../platform/config.js';
import { isDatabaseUnavailable } from '../platform/http-guards.js';
import { hasQueryCredential } from '../platform/url-redaction.js';
import { sendWireError } from './jsonrpc-errors.js';
import { hostAllowed, originAllowed, ownHostnames } from './origin-guard.js';
import { hardenResponse, mcpHardeningHeaders } from './response-hardening.js';

/**
 * What every request to `/mcp` meets before its body is read or its key looked at: the hardening headers
 * (on every answer, the SDK's streams included), DNS-rebinding protection (`Host`, then `Origin`), and the
 * refusal of credentials in the query string. Also the scope's error handler, so a body that is too large
 * or a failure outside a handler is still a JSON-RPC error with no internal text.
 */
export function registerEndpointGuards(
  scope: FastifyInstance,
  config: Config,
  hooks: { onCredentialInUrl?: (request: FastifyRequest) => Promise<void> } = {},
): void {
  const headers = mcpHardeningHeaders(config.secureTransport);
  const hostnames = ownHostnames({
    boundHost: config.host,
    publicMcpUrl: config.publicMcpUrl,
    publicPortalUrl: config.publicPortalUrl,
    extra: config.mcpAllowedHosts,
  });
  scope.addHook('onRequest', async (request, reply) => {
    hardenResponse(reply.raw, headers);
    if (!hostAllowed(request.headers.host, hostnames)) return sendWireError(reply, 'HOST_NOT_ALLOWED');
    if (!originAllowed(request.headers.origin, config.mcpAllowedOrigins, hostnames)) {
      return sendWireError(reply, 'ORIGIN_NOT_ALLOWED');
    }
    if (hasQueryCredential(request.url)) {
      await hooks.onCredentialInUrl?.(request);
      reply.header('www-authenticate', 'Bearer realm="gatehouse", error="invalid_request"');
      return sendWireError(reply, 'CREDENTIAL_IN_URL');
    }
  });
  scope.setErrorHandler(clientPortErrorHandler(config.mcpLimits.maxBodyBytes));
}

/** How long a client is asked to wait when the database cannot be reached. */
const UNAVAILABLE_RETRY_SECONDS = 5;

/**
 * The one error handler of the client port (the `/mcp` scope and the port's other routes): every answer
 * comes from `WIRE_ERRORS`, so a body that is too large, a database outage (a typed 503 with Retry-After)
 * or any failure outside a handler never carries internal text. The cause is logged; a database error's
 * statement is not (the logger's serializer strips it).
 */
export function clientPortErrorHandler(maxBodyBytes: number) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendWireError(reply, 'BODY_TOO_LARGE', { detail: `at most ${maxBodyBytes} bytes` });
    }
    if (isDatabaseUnavailable(error)) {
      request.log.error({ err: error }, 'database unavailable');
      reply.header('retry-after', String(UNAVAILABLE_RETRY_SECONDS));
      return sendWireError(reply, 'UNAVAILABLE');
    }
    // Any other refusal while reading the request (bad length, unsupported media type, …) is the client's;
    // its text (which may quote the request) is not sent back.
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return sendWireError(reply, 'NOT_JSON_RPC');
    }
    request.log.error({ err: error }, 'client port failure');
    return sendWireError(reply, 'INTERNAL');
  };
}
