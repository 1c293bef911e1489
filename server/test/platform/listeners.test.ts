import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpAdmin, startTestGatehouse, type TestGatehouse } from '../support/gatehouse.js';

describe('listeners', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse();
    await setUpAdmin(gh);
  });
  afterAll(() => gh.stop());

  it('serves health on both ports', async () => {
    for (const base of [gh.clientUrl, gh.portalUrl]) {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    }
  });

  it('exposes no admin or portal route on the client port', async () => {
    for (const route of [
      '/trpc/setup.status',
      '/trpc/users.list',
      '/trpc/auth.login',
      '/graphql',
      '/',
      '/index.html',
    ]) {
      const response = await fetch(`${gh.clientUrl}${route}`, {
        headers: { accept: 'text/html,application/json' },
      });
      expect(response.status, route).toBe(404);
    }
    const post = await fetch(`${gh.clientUrl}/trpc/users.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(404);
  });

  it('sends hardening headers and never caches API answers', async () => {
    const response = await fetch(`${gh.portalUrl}/trpc/setup.status`);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('answers unknown tRPC procedures and wrong methods with 4xx, not 500', async () => {
    expect((await fetch(`${gh.portalUrl}/trpc/nope.nothing`)).status).toBe(404);
    const wrongMethod = await fetch(`${gh.portalUrl}/trpc/users.create`);
    expect(wrongMethod.status).toBeGreaterThanOrEqual(400);
    expect(wrongMethod.status).toBeLessThan(500);
  });
});
