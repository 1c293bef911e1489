import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { DomainError } from '../platform/errors.js';

const MAX_RESPONSE_BYTES = 256 * 1024;
const TIMEOUT_MS = 10_000;

/** Loopback, private, link-local, shared, multicast and reserved ranges: never reached unless allowed. */
const privateRanges = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv6');
}

export const isPrivateAddress = (address: string): boolean =>
  privateRanges.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

export interface OutboundPolicy {
  allowHttp: boolean;
  allowPrivateNetworks: boolean;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const refused = (message: string) => new DomainError('VALIDATION_FAILED', message);

/**
 * HTTP for OAuth metadata, token and revocation endpoints, which admins configure and downstreams advertise:
 * https only (unless allowed), every resolved address checked at connect time so DNS cannot rebind to an
 * internal one, no redirects, bounded time and size. Failures never echo the response body.
 */
export function outboundRequest(
  policy: OutboundPolicy,
  target: string,
  options: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
): Promise<OutboundResponse> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.reject(refused(`"${target.slice(0, 200)}" is not a valid URL`));
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return Promise.reject(refused(`${url.origin} is not an https URL`));
  }
  if (url.username || url.password) return Promise.reject(refused('URLs with user info are refused'));
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && isPrivateAddress(literal) && !policy.allowPrivateNetworks) {
    return Promise.reject(refused(`${url.origin} is a private address`));
  }
  const lookup = (
    hostname: string,
    lookupOptions: object,
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const blocked = addresses.find((entry) => isPrivateAddress(entry.address));
      if (blocked && !policy.allowPrivateNetworks) {
        return callback(
          Object.assign(new Error(`${hostname} resolves to a private address`), { code: 'EPRIVATE' }),
          [],
        );
      }
      const wantsAll = (lookupOptions as { all?: boolean }).all;
      if (wantsAll) return callback(null, addresses);
      const [first] = addresses;
      return callback(null, first?.address ?? '', first?.family);
    });
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: options.method,
        headers: { accept: 'application/json', ...options.headers },
        lookup: lookup as never,
        timeout: TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            request.destroy(refused(`${url.origin} answered with more than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('timeout', () =>
      request.destroy(new DomainError('DOWNSTREAM_TIMEOUT', `${url.origin} did not answer in time`)),
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof DomainError) reject(error);
      else if (error.code === 'EPRIVATE') reject(refused(error.message));
      else
        reject(
          new DomainError(
            'DOWNSTREAM_UNAVAILABLE',
            `${url.origin} could not be reached (${error.code ?? 'error'})`,
          ),
        );
    });
    if (options.body !== undefined) request.write(options.body);
    request.end();
  });
}

/** GET a JSON document (metadata); anything but a 200 JSON object is refused. */
export async function fetchJson(policy: OutboundPolicy, target: string): Promise<Record<string, unknown>> {
  const response = await outboundRequest(policy, target, { method: 'GET' });
  if (response.status !== 200) {
    throw new DomainError(
      'DOWNSTREAM_FAILED',
      `${new URL(target).origin} answered ${response.status} for its metadata`,
    );
  }
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new DomainError('DOWNSTREAM_FAILED', `${new URL(target).origin} did not answer with a JSON object`);
}
