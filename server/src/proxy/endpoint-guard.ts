import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../platform/config.js';
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
  hooks: { onCredentialInUrl?: (request: FastifyRequest) => void } = {},
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
      hooks.onCredentialInUrl?.(request);
      reply.header('www-authenticate', 'Bearer realm="gatehouse", error="invalid_request"');
      return sendWireError(reply, 'CREDENTIAL_IN_URL');
    }
  });
  scope.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendWireError(reply, 'BODY_TOO_LARGE', {
        detail: `at most ${config.mcpLimits.maxBodyBytes} bytes`,
      });
    }
    // Any other refusal while reading the request (bad length, unsupported media type, …) is the client's.
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return sendWireError(reply, 'NOT_JSON_RPC');
    }
    request.log.error({ err: error }, 'MCP endpoint failure');
    return sendWireError(reply, 'INTERNAL');
  });
}
