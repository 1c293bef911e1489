import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { isPrivateAddress } from '../oauth/safe-http.js';

export interface FetchPolicy {
  allowHttp: boolean;
  allowPrivateNetworks: boolean;
  /** Extra trusted CAs (PEM), besides Node's roots. */
  caFile: string | undefined;
}

const MAX_BYTES = 64 * 1024;

/**
 * The `fetch` oidc-provider uses for what it fetches itself, Client ID Metadata Documents above all (ADR
 * 0033): https only, every resolved address checked when connecting (a DNS answer cannot rebind to an internal
 * address), private, loopback and link-local addresses refused unless `GATEHOUSE_OAUTH_ALLOW_PRIVATE_NETWORKS`,
 * no redirects followed, bounded in size and time (oidc-provider's own signal). It replaces oidc-provider's
 * SSRF dispatcher so that the one policy of Gatehouse applies (the operator's allowance included).
 */
export function guardedFetch(
  policy: FetchPolicy,
): (url: URL | string, init: RequestInit) => Promise<Response> {
  const ca = policy.caFile ? [...rootCertificates, readFileSync(policy.caFile, 'utf8')] : undefined;
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(String(input));
      if (url.protocol !== 'https:') return reject(new Error('only https URLs are fetched'));
      if (url.username || url.password) return reject(new Error('URLs with user info are refused'));
      const literal = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(literal) && isPrivateAddress(literal) && !policy.allowPrivateNetworks) {
        return reject(new Error('private addresses are refused'));
      }
      const lookup = (
        hostname: string,
        options: object,
        callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
      ) => {
        dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
          if (error) return callback(error, []);
          if (!policy.allowPrivateNetworks && addresses.some((entry) => isPrivateAddress(entry.address))) {
            return callback(new Error('resolves to a private address'), []);
          }
          if ((options as { all?: boolean }).all) return callback(null, addresses);
          const [first] = addresses;
          return callback(null, first?.address ?? '', first?.family);
        });
      };
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => {
        headers[key] = value;
      });
      const request = https.request(
        url,
        {
          method: init.method ?? 'GET',
          headers,
          lookup: lookup as never,
          ca,
          signal: init.signal ?? undefined,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BYTES) request.destroy(new Error('response too large'));
            else chunks.push(chunk);
          });
          response.on('end', () => {
            const responseHeaders = new Headers();
            for (const [key, value] of Object.entries(response.headers)) {
              if (typeof value === 'string') responseHeaders.set(key, value);
              else if (Array.isArray(value)) for (const v of value) responseHeaders.append(key, v);
            }
            const status = response.statusCode ?? 502;
            const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
            resolve(new Response(body, { status, headers: responseHeaders }));
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end();
    });
}
