import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/crypto/index.js';
import { ConfigError, loadConfig, type McpMessageLimits } from '../../src/platform/config.js';
import { clientPortUrl, hasQueryCredential, redactUrl } from '../../src/platform/url-redaction.js';
import { clientPortErrorHandler, registerEndpointGuards } from '../../src/proxy/endpoint-guard.js';
import { checkEnvelope, toWireError, wireSafe } from '../../src/proxy/jsonrpc-errors.js';
import { checkJsonLimits, readMessage } from '../../src/proxy/message-limits.js';
import { hostAllowed, hostnameOf, originAllowed, ownHostnames } from '../../src/proxy/origin-guard.js';
import { hardenResponse, mcpHardeningHeaders } from '../../src/proxy/response-hardening.js';

const limits: McpMessageLimits = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxDepth: 8,
  maxStringLength: 16,
  maxArrayLength: 4,
  maxValues: 40,
};

describe('checkJsonLimits (one iterative pass over the text)', () => {
  it('accepts what is within every bound and names the first bound broken', () => {
    expect(checkJsonLimits('{"a":[1,2,3,4],"b":{"c":"0123456789abcdef"}}', limits)).toBeNull();
    expect(checkJsonLimits('[[[[[[[[1]]]]]]]]', limits)).toBeNull();
    expect(checkJsonLimits('[[[[[[[[[1]]]]]]]]]', limits)).toEqual({ limit: 'depth', max: 8 });
    expect(checkJsonLimits('[1,2,3,4,5]', limits)).toEqual({ limit: 'array', max: 4 });
    expect(checkJsonLimits('{"a":1,"b":2,"c":3,"d":4,"e":5}', limits)).toEqual({ limit: 'array', max: 4 });
    expect(checkJsonLimits('["0123456789abcdefg"]', limits)).toEqual({ limit: 'string', max: 16 });
    expect(checkJsonLimits('{"0123456789abcdefg":1}', limits)).toEqual({ limit: 'string', max: 16 });
    const fourByFour = `[${Array.from({ length: 4 }, () => '[1,2,3,4]').join(',')}]`;
    expect(checkJsonLimits(fourByFour, limits)).toBeNull(); // 1 + 4 × 5 = 21 values
    expect(checkJsonLimits(`[${fourByFour},${fourByFour}]`, limits)).toEqual({ limit: 'values', max: 40 });
  });

  it('measures strings after unescaping, and is not fooled by escaped quotes or brackets in strings', () => {
    // 16 characters once unescaped, though 21 in the text; one more is too many.
    expect(checkJsonLimits('["\\u0041bcdefghijklm\\"pq"]', limits)).toBeNull();
    expect(checkJsonLimits('["\\u0041bcdefghijklm\\"pqr"]', limits)).toEqual({ limit: 'string', max: 16 });
    expect(checkJsonLimits('["[[[[[[[[[[", "]]]]"]', limits)).toBeNull();
    expect(checkJsonLimits('{"k":"a\\\\","l":[1,2,3,4]}', limits)).toBeNull();
    // Object keys are not values: 4 members, 1 + 4 values.
    expect(checkJsonLimits('{"a":"x","b":"y","c":"z","d":"w"}', limits)).toBeNull();
  });

  it('stops early on a huge hostile body instead of walking it', () => {
    const wide = `[${'0,'.repeat(1_000_000)}0]`;
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const defaults = { ...limits, maxDepth: 64, maxArrayLength: 10_000, maxValues: 20_000 };
    expect(checkJsonLimits(wide, defaults)).toEqual({ limit: 'array', max: 10_000 });
    expect(checkJsonLimits(deep, defaults)).toEqual({ limit: 'depth', max: 64 });
    // Malformed text is left to JSON.parse: no exception, no endless loop.
    expect(checkJsonLimits('{"a": tru', limits)).toBeNull();
    expect(checkJsonLimits('"unterminated', limits)).toBeNull();
  });
});

describe('readMessage and checkEnvelope (the JSON-RPC envelope)', () => {
  const read = (text: string) => readMessage(text, { ...limits, maxStringLength: 1000 });
  it('maps each malformed message to its wire error', () => {
    expect(read('{"jsonrpc":"2.0","id":1,').ok).toBe(false);
    expect(read('not json')).toEqual({ ok: false, problem: { kind: 'PARSE_ERROR' } });
    expect(read('[{"jsonrpc":"2.0","id":1,"method":"ping"}]')).toEqual({
      ok: false,
      problem: { kind: 'BATCH' },
    });
    expect(read('{"jsonrpc":"1.0","id":1,"method":"ping"}')).toMatchObject({
      problem: { kind: 'NOT_JSON_RPC' },
    });
    expect(read('{"jsonrpc":"2.0","id":1}')).toMatchObject({ problem: { kind: 'INVALID_METHOD', id: 1 } });
    expect(read('{"jsonrpc":"2.0","id":1,"method":42}')).toMatchObject({
      problem: { kind: 'INVALID_METHOD' },
    });
    expect(read('{"jsonrpc":"2.0","method":null}')).toMatchObject({ problem: { kind: 'INVALID_METHOD' } });
    expect(read('{"jsonrpc":"2.0","id":{},"method":"ping"}')).toMatchObject({
      problem: { kind: 'INVALID_ID' },
    });
    expect(read('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":[]}')).toMatchObject({
      problem: { kind: 'INVALID_PARAMS', id: 7 },
    });
    expect(read('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({ ok: true });
    expect(read('{"jsonrpc":"2.0","id":1,"result":{}}')).toMatchObject({ ok: true });
  });

  it('answers tools/call without a valid name with one line naming the field', () => {
    for (const params of [{}, { name: 5 }, { arguments: {} }]) {
      const problem = checkEnvelope({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params });
      expect(problem).toEqual({ kind: 'INVALID_PARAMS', id: 'a', detail: 'params.name: expected a string' });
    }
    expect(checkEnvelope({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } })).toBeNull();
  });

  it('checks only the cheap shape of a served request: the full schema is left to the SDK, once', () => {
    const call = (params: unknown) => checkEnvelope({ jsonrpc: '2.0', id: 3, method: 'tools/call', params });
    expect(call({ name: 'x', arguments: [] })).toEqual({
      kind: 'INVALID_PARAMS',
      id: 3,
      detail: 'params.arguments: expected an object',
    });
    expect(call({ name: 'x', _meta: 5 })).toMatchObject({ detail: 'params._meta: expected an object' });
    // A mismatch only the SDK's schema sees (the SDK answers it, one line, through guardRequestHandlers).
    expect(call({ name: 'x', task: 5 })).toBeNull();
    expect(call({ name: 'x', arguments: { a: { deep: [1, 2] } } })).toBeNull();
  });
});

describe('toWireError and wireSafe (local errors stay local)', () => {
  it('passes JSON-RPC errors and turns anything else into a bare "Internal error", logging the cause', async () => {
    const logged: unknown[] = [];
    const deep: unknown[] = [];
    let cursor = deep;
    for (let i = 0; i < 200_000; i++) {
      const next: unknown[] = [];
      cursor.push(next);
      cursor = next;
    }
    const handler = wireSafe(
      async () => canonicalJson(deep),
      (error) => logged.push(error),
    );
    const failure = await handler().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(McpError);
    expect((failure as McpError).code).toBe(-32603);
    expect((failure as McpError).message).not.toMatch(/stack/i);
    expect((logged[0] as Error).message).toMatch(/call stack/);
    const passed = toWireError(new McpError(-32602, 'Unknown tool: x'), (error) => logged.push(error));
    expect(passed.code).toBe(-32602);
    expect(logged).toHaveLength(1);
  });
});

describe('origin-guard (DNS-rebinding protection)', () => {
  it('knows its own host names from the bound address, the public URL and the extra list', () => {
    const loopback = ownHostnames({ boundHost: '127.0.0.1' });
    expect([...loopback].sort()).toEqual(['127.0.0.1', '[::1]', 'localhost']);
    const v6 = ownHostnames({ boundHost: '::1' });
    expect(v6.has('[::1]') && v6.has('localhost')).toBe(true);
    const specific = ownHostnames({
      boundHost: '10.0.0.5',
      publicMcpUrl: 'https://MCP.Example.com/mcp',
      publicPortalUrl: 'https://portal.example.com',
      extra: ['gatehouse.lan:8443', 'other.lan'],
    });
    expect([...specific].sort()).toEqual([
      '10.0.0.5',
      'gatehouse.lan',
      'mcp.example.com',
      'other.lan',
      'portal.example.com',
    ]);
    const wildcard = ownHostnames({
      boundHost: '0.0.0.0',
      interfaces: () => ['192.168.1.9', 'fe80::1%eth0'],
    });
    expect([...wildcard].sort()).toEqual(['127.0.0.1', '192.168.1.9', '[::1]', '[fe80::1]', 'localhost']);
  });

  it('reads the name of a Host header and checks it, without caring about the port', () => {
    expect(hostnameOf('Example.COM:8443')).toBe('example.com');
    expect(hostnameOf('[::1]:9')).toBe('[::1]');
    expect(hostnameOf('[::1]x')).toBeNull();
    expect(hostnameOf('a:b')).toBeNull();
    expect(hostnameOf('')).toBeNull();
    const own = ownHostnames({ boundHost: '127.0.0.1' });
    expect(hostAllowed('127.0.0.1:8443', own)).toBe(true);
    expect(hostAllowed('localhost:1', own)).toBe(true);
    expect(hostAllowed('[::1]:8443', own)).toBe(true);
    expect(hostAllowed('evil.example.com', own)).toBe(false);
    expect(hostAllowed('evil.example.com:8443', own)).toBe(false);
    expect(hostAllowed('localhost.evil.example.com', own)).toBe(false);
    expect(hostAllowed(undefined, own)).toBe(false);
  });

  it('lets native clients (no Origin), listed origins and origins on its own names through', () => {
    const own = ownHostnames({ boundHost: '127.0.0.1' });
    expect(originAllowed(undefined, [], own)).toBe(true);
    expect(originAllowed('http://127.0.0.1:5555', [], own)).toBe(true);
    expect(originAllowed('https://localhost', [], own)).toBe(true);
    expect(originAllowed('http://evil.example.com', [], own)).toBe(false);
    expect(originAllowed('null', [], own)).toBe(false);
    expect(originAllowed('file://localhost', [], own)).toBe(false);
    expect(originAllowed('https://app.example', ['https://app.example'], own)).toBe(true);
    expect(originAllowed('https://app.example:444', ['https://app.example'], own)).toBe(false);
  });
});

describe('url-redaction (query-string credentials)', () => {
  it('recognizes credential parameters by name and redacts the whole query string', () => {
    for (const url of [
      '/mcp?access_token=gh_ck_x',
      '/mcp?token=1',
      '/mcp?key=1',
      '/mcp?api_key=1',
      '/mcp?apikey=1',
      '/mcp?client_key=1',
      '/mcp?auth=1',
      '/mcp?a=1&Authorization=Bearer%20x',
      '/mcp?%61ccess_token=1',
      '/oauth/callback?state=s&code=c',
      '/mcp?x=gh_ck_abc',
      '/mcp?gh_ck_abc',
      '/trpc/a?input=%7B%22k%22%3A%22gh_at_abc%22%7D',
      `/mcp?s=${'Ab9'.repeat(10)}xy`,
    ]) {
      expect(hasQueryCredential(url), url).toBe(true);
      expect(redactUrl(url)).toBe(`${url.slice(0, url.indexOf('?'))}?[redacted]`);
    }
    for (const url of ['/mcp', '/mcp?', '/mcp?page=2', '/healthz?verbose', `/x?id=${'a'.repeat(31)}`]) {
      expect(hasQueryCredential(url), url).toBe(false);
      expect(redactUrl(url)).toBe(url);
    }
    // The client port logs no query string at all.
    expect(clientPortUrl('/mcp?page=2')).toBe('/mcp?[redacted]');
    expect(clientPortUrl('/mcp')).toBe('/mcp');
  });
});

describe('response-hardening', () => {
  let server: Server;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hardenResponse(res, mcpHardeningHeaders(true));
      // As the SDK writes an SSE answer: its own Cache-Control in writeHead.
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform' });
      res.end('data: {}\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('wins over headers the writer passes to writeHead, and adds HSTS on a secure transport', async () => {
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const { port } = server.address() as AddressInfo;
      httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve(res.headers);
      })
        .on('error', reject)
        .end();
    });
    expect(headers).toMatchObject({
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
    });
    expect(mcpHardeningHeaders(false)).not.toHaveProperty('strict-transport-security');
  });
});

describe('the /mcp settings', () => {
  it('reads each bound and the extra hosts, with defaults, and refuses values out of range', () => {
    const defaults = loadConfig({});
    expect(defaults.mcpLimits).toEqual({
      maxBodyBytes: 4 * 1024 * 1024,
      maxDepth: 64,
      maxStringLength: 1024 * 1024,
      maxArrayLength: 10_000,
      maxValues: 20_000,
    });
    expect(defaults.mcpAllowedHosts).toEqual([]);
    const tuned = loadConfig({
      GATEHOUSE_MCP_MAX_BODY_BYTES: '65536',
      GATEHOUSE_MCP_MAX_DEPTH: '16',
      GATEHOUSE_MCP_MAX_STRING_LENGTH: '4096',
      GATEHOUSE_MCP_MAX_ARRAY_LENGTH: '100',
      GATEHOUSE_MCP_MAX_VALUES: '1000',
      GATEHOUSE_MCP_ALLOWED_HOSTS: 'gatehouse.lan, 10.0.0.7',
    });
    expect(tuned.mcpLimits).toEqual({
      maxBodyBytes: 65536,
      maxDepth: 16,
      maxStringLength: 4096,
      maxArrayLength: 100,
      maxValues: 1000,
    });
    expect(tuned.mcpAllowedHosts).toEqual(['gatehouse.lan', '10.0.0.7']);
    expect(
      readMessage(
        `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":${'['.repeat(20)}${']'.repeat(20)}}}`,
        tuned.mcpLimits,
      ),
    ).toEqual({
      ok: false,
      problem: { kind: 'LIMIT_EXCEEDED', detail: 'the message is nested deeper than 16 levels' },
    });
    for (const [name, value] of [
      ['GATEHOUSE_MCP_MAX_DEPTH', '2'],
      ['GATEHOUSE_MCP_MAX_DEPTH', 'deep'],
      ['GATEHOUSE_MCP_MAX_BODY_BYTES', String(1024 ** 3)],
      ['GATEHOUSE_MCP_MAX_VALUES', '0'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(ConfigError);
    }
  });
});

describe('registerEndpointGuards (the /mcp scope on a real Fastify)', () => {
  it('answers failures outside the handlers as JSON-RPC: 4xx for the client, a bare 500 for ours', async () => {
    const app = Fastify({ logger: false });
    app.register(async (scope) => {
      registerEndpointGuards(scope, loadConfig({}));
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
        if (request.headers['content-type'] === 'application/x-unsupported') {
          done(
            Object.assign(new Error('Unsupported Media Type: application/x-unsupported'), {
              statusCode: 415,
            }),
          );
        } else done(null, body);
      });
      scope.post('/mcp', async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432 at internal/secret/path.js');
      });
    });
    const refused = await app.inject({
      method: 'POST',
      url: '/mcp',
      headers: { host: '127.0.0.1:8443', 'content-type': 'application/x-unsupported' },
      payload: 'x',
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 message' },
    });
    const failed = await app.inject({
      method: 'POST',
      url: '/mcp',
      headers: { host: '127.0.0.1:8443', 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(failed.statusCode).toBe(500);
    expect(failed.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32603, message: 'Internal error' },
    });
    expect(failed.headers['cache-control']).toBe('no-store');
    await app.close();
  });
});

describe('clientPortErrorHandler (the one error table of the client port)', () => {
  /** A real driver error: PostgreSQL is not listening where the query is sent. */
  async function databaseError(): Promise<unknown> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'gatehouse', database: 'gatehouse' });
    const error = await client.connect().then(
      () => undefined,
      (cause: unknown) => cause,
    );
    expect(String(error)).toContain('ECONNREFUSED');
    return error;
  }

  it('answers a database outage with a typed 503 and Retry-After, in the /mcp scope and on the other routes', async () => {
    const outage = await databaseError();
    const app = Fastify({ logger: false });
    app.setErrorHandler(clientPortErrorHandler(1024));
    app.register(async (scope) => {
      registerEndpointGuards(scope, loadConfig({}));
      scope.post('/mcp', async () => {
        throw outage;
      });
    });
    app.get('/elsewhere', async () => {
      throw outage;
    });
    for (const request of [
      { method: 'POST' as const, url: '/mcp', payload: '{}' },
      { method: 'GET' as const, url: '/elsewhere' },
    ]) {
      const answer = await app.inject({
        ...request,
        headers: { host: '127.0.0.1:8443', 'content-type': 'application/json' },
      });
      expect(answer.statusCode, request.url).toBe(503);
      expect(answer.headers['retry-after']).toBe('5');
      expect(answer.json()).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32000, message: 'Gatehouse is temporarily unavailable; retry later' },
      });
      expect(answer.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    }
    await app.close();
  });

  it("never sends a client error's own text on the port's other routes", async () => {
    const app = Fastify({ logger: false });
    app.setErrorHandler(clientPortErrorHandler(1024));
    app.get('/elsewhere', async () => {
      throw Object.assign(new Error('Bad thing at /internal/secret/path.js with gh_ck_secret'), {
        statusCode: 400,
      });
    });
    const answer = await app.inject({ method: 'GET', url: '/elsewhere' });
    expect(answer.statusCode).toBe(400);
    expect(answer.json()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 message' },
    });
    expect(answer.body).not.toMatch(/secret|gh_ck_/);
    await app.close();
  });
});
