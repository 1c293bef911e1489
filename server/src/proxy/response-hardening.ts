import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** The headers every `/mcp` answer carries (docs/architecture.md, "Processes and listeners"). */
export function mcpHardeningHeaders(secureTransport: boolean): Readonly<Record<string, string>> {
  return Object.freeze({
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    ...(secureTransport && { 'strict-transport-security': 'max-age=31536000; includeSubDomains' }),
  });
}

/**
 * Puts the hardening headers on a response however it is written: through Fastify, or by the MCP SDK,
 * which writes its SSE and JSON answers straight to the Node response with `writeHead(status, headers)`,
 * whose headers would otherwise win (the SDK sends `Cache-Control: no-cache` on streams).
 */
export function hardenResponse(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  const writeHead = res.writeHead;
  res.writeHead = function hardenedWriteHead(this: ServerResponse, ...args: unknown[]) {
    const [, second, third] = args;
    const given = typeof second === 'string' ? third : second;
    if (given && typeof given === 'object' && !Array.isArray(given)) {
      const record = given as OutgoingHttpHeaders;
      for (const key of Object.keys(record)) {
        if (key.toLowerCase() in headers) delete record[key];
      }
    } else if (Array.isArray(given)) {
      // Raw [name, value, name, value, …] form: drop our names, ours are already set on the response.
      const kept: unknown[] = [];
      for (let i = 0; i + 1 < given.length; i += 2) {
        if (!(String(given[i]).toLowerCase() in headers)) kept.push(given[i], given[i + 1]);
      }
      args[typeof second === 'string' ? 2 : 1] = kept;
    }
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
