import * as client from 'openid-client';
import { type OutboundPolicy, outboundRequest } from '../oauth/safe-http.js';
import { DomainError } from '../platform/errors.js';
import type { SsoProviderRow } from './entities.js';

/**
 * openid-client over Gatehouse's SSRF-guarded HTTP (`oauth/safe-http.ts`): https only and no private
 * addresses unless `config.oauth` allows them, no redirects, bounded time and size.
 */
export function guardedFetch(policy: OutboundPolicy): client.CustomFetch {
  return async (url, options) => {
    const body = options.body;
    const answer = await outboundRequest(policy, url, {
      method: options.method === 'POST' ? 'POST' : 'GET',
      headers: options.headers,
      ...(body !== undefined && body !== null && { body: String(body) }),
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (typeof value === 'string') headers.set(name, value);
      else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    }
    // A Response cannot carry a body with these statuses.
    const bodyless = answer.status === 204 || answer.status === 304;
    return new Response(bodyless ? null : answer.body, { status: answer.status, headers });
  };
}

/**
 * Discovery results per provider, kept until its issuer, client id or client secret changes (a new seal
 * differs even for the same secret); openid-client also keeps the provider's JWKS on the Configuration.
 */
export class DiscoveryCache {
  private readonly entries = new Map<string, { key: string; config: Promise<client.Configuration> }>();

  constructor(private readonly policy: OutboundPolicy) {}

  get(provider: SsoProviderRow, clientSecret: string): Promise<client.Configuration> {
    const key = `${provider.issuer}|${provider.clientId}|${provider.clientSecretSealed}`;
    const cached = this.entries.get(provider.id);
    if (cached && cached.key === key) return cached.config;
    const fetcher = guardedFetch(this.policy);
    const config = client
      .discovery(
        new URL(provider.issuer),
        provider.clientId,
        undefined,
        client.ClientSecretBasic(clientSecret),
        {
          [client.customFetch]: fetcher,
          // The test IdP speaks http on 127.0.0.1: allowed only where outbound OAuth allows http.
          execute: this.policy.allowHttp ? [client.allowInsecureRequests] : [],
          timeout: 10,
        },
      )
      .then((configuration) => {
        configuration[client.customFetch] = fetcher;
        // Validate the ID token's signature against the provider's JWKS even though it came from the token
        // endpoint over TLS: a forged or altered token is refused.
        client.enableNonRepudiationChecks(configuration);
        return configuration;
      });
    // A failed discovery is not cached: the next sign-in tries again.
    config.catch(() => {
      if (this.entries.get(provider.id)?.config === config) this.entries.delete(provider.id);
    });
    this.entries.set(provider.id, { key, config });
    return config;
  }
}

export type SsoProblem =
  | 'nonce'
  | 'id_token'
  | 'token_exchange'
  | 'disabled'
  | 'provider_error'
  | 'provider_unavailable';

/** What went wrong in the code exchange or ID token validation, without any of the provider's text. */
export function classifyOidcFailure(error: unknown): SsoProblem {
  if (error instanceof DomainError) return 'provider_unavailable';
  if (error instanceof client.AuthorizationResponseError) {
    return error.error === 'access_denied' ? 'disabled' : 'provider_error';
  }
  if (error instanceof client.ResponseBodyError) return 'token_exchange';
  // openid-client wraps the check that failed; its cause names the claim ("nonce") that did not match.
  const cause =
    error instanceof Error ? (error.cause as { claim?: unknown; message?: unknown } | undefined) : undefined;
  if (cause?.claim === 'nonce' || (typeof cause?.message === 'string' && cause.message.includes('"nonce"'))) {
    return 'nonce';
  }
  return 'id_token';
}
