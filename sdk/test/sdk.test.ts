import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../../server/test/support/gatehouse.js';
// The built package, on purpose: this suite tests what gets published. `pnpm test` builds it first; for a
// local run, `pnpm --filter @gatehouse/sdk build`. Without dist this import fails and so does the suite.
import { createGatehouseClient, GatehouseError, isGatehouseError, toGatehouseError } from '../dist/index.js';

const distDir = fileURLToPath(new URL('../dist/', import.meta.url));

/** Awaits a call that must fail and returns its error, which must be a GatehouseError. */
async function gatehouseErrorOf(promise: Promise<unknown>): Promise<GatehouseError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GatehouseError);
    if (!isGatehouseError(error)) throw error;
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

describe('the built package', () => {
  const jsFiles = () => readdirSync(distDir).filter((file) => file.endsWith('.js'));

  it('exists (build it with `pnpm --filter @gatehouse/sdk build`)', () => {
    expect(jsFiles()).toContain('index.js');
    expect(readdirSync(distDir)).toContain('index.d.ts');
  });

  it('contains no server, schema or node: import in any emitted module', () => {
    for (const file of jsFiles()) {
      const source = readFileSync(path.join(distDir, file), 'utf8');
      expect(source, file).not.toContain('@gatehouse/server');
      expect(source, file).not.toContain('@gatehouse/schema');
      expect(source, file).not.toMatch(/from\s+['"]node:|import\(\s*['"]node:|require\(\s*['"]node:/);
    }
  });

  it('loads in plain Node ESM, outside any bundler or test transform', () => {
    const script = `const sdk = await import(${JSON.stringify(path.join(distDir, 'index.js'))});
      console.log(JSON.stringify(Object.keys(sdk).sort()));`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(JSON.parse(output)).toEqual([
      'GatehouseError',
      'createGatehouseClient',
      'isGatehouseError',
      'toGatehouseError',
    ]);
  });
});

describe('toGatehouseError', () => {
  it('maps failures that did not come from Gatehouse', () => {
    const network = toGatehouseError(new TypeError('fetch failed'));
    expect(network).toMatchObject({ code: 'INTERNAL', status: 0, message: 'fetch failed' });
    expect(network.cause).toBeInstanceOf(TypeError);
    const proxied = toGatehouseError(
      Object.assign(new Error('Too Many Requests'), { meta: { response: { status: 429 } } }),
    );
    expect(proxied).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(toGatehouseError(proxied)).toBe(proxied);
  });

  it('rejects an empty token up front', () => {
    expect(() => createGatehouseClient({ url: 'http://localhost', token: '' })).toThrow(TypeError);
  });
});

describe('createGatehouseClient against a running Gatehouse', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let token: string;
  let tokenId: string;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    const created = await admin.apiTokens.create.mutate({ name: 'sdk-test' });
    expect(created.token).toMatch(/^gh_at_/);
    token = created.token;
    tokenId = created.apiToken.id;
  });
  afterAll(() => gh?.stop());

  it('lists users with the API token', async () => {
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token });
    const page = await gatehouse.users.list.query({});
    expect(page.total).toBeGreaterThanOrEqual(1);
    expect(page.items.map((user) => user.username)).toContain('root-admin');
  });

  it('batches calls made together into one request that carries the bearer token', async () => {
    const requests: { url: string; authorization: string | null }[] = [];
    const gatehouse = createGatehouseClient({
      url: `${gh.portalUrl}/`,
      token,
      fetch: (input, init) => {
        requests.push({ url: String(input), authorization: new Headers(init?.headers).get('authorization') });
        return fetch(input, init);
      },
    });
    const [users, groups] = await Promise.all([
      gatehouse.users.list.query({}),
      gatehouse.groups.list.query(),
    ]);
    expect(users.total).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(groups.items)).toBe(true);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toContain(`${gh.portalUrl}/trpc/users.list,groups.list?batch=1`);
    expect(requests[0]?.authorization).toBe(`Bearer ${token}`);
  });

  it('creates a group and sees it listed', async () => {
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token });
    const group = await gatehouse.groups.create.mutate({ name: 'sdk-group' });
    expect(group).toMatchObject({ name: 'sdk-group', builtIn: false });
    const { items } = await gatehouse.groups.list.query();
    expect(items.map((listed) => listed.id)).toContain(group.id);
  });

  it('rejects a duplicate with a typed CONFLICT error', async () => {
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token });
    const error = await gatehouseErrorOf(gatehouse.groups.create.mutate({ name: 'sdk-group' }));
    expect(error).toMatchObject({ name: 'GatehouseError', code: 'CONFLICT', status: 409 });
    expect(error.message).toContain('sdk-group');
    expect(error.requestId).toEqual(expect.any(String));
  });

  it('rejects invalid input with VALIDATION_FAILED and field errors', async () => {
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token });
    const error = await gatehouseErrorOf(gatehouse.groups.create.mutate({ name: '!!' }));
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect(error.fieldErrors?.name?.length).toBeGreaterThan(0);
  });

  it('maps each failure in a batch separately', async () => {
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token });
    const [ok, invalid] = await Promise.allSettled([
      gatehouse.groups.list.query(),
      gatehouse.groups.create.mutate({ name: '!!' }),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(invalid).toMatchObject({ status: 'rejected', reason: { code: 'VALIDATION_FAILED', status: 400 } });
  });

  it('answers UNAUTHENTICATED for a bogus token', async () => {
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token: 'gh_at_not-a-real-token' });
    const error = await gatehouseErrorOf(gatehouse.users.list.query({}));
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('answers UNAUTHENTICATED once the token is revoked', async () => {
    await admin.apiTokens.revoke.mutate({ id: tokenId });
    const gatehouse = createGatehouseClient({ url: gh.portalUrl, token });
    const error = await gatehouseErrorOf(gatehouse.users.list.query({}));
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('reports an unreachable server as INTERNAL with status 0', async () => {
    const gatehouse = createGatehouseClient({ url: 'http://127.0.0.1:1', token: 'gh_at_x' });
    const error = await gatehouseErrorOf(gatehouse.users.list.query({}));
    expect(error).toMatchObject({ code: 'INTERNAL', status: 0 });
    expect(error.cause).toBeDefined();
  });
});
