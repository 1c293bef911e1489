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

  it('serves the built portal with a strict CSP, revalidated pages, immutable assets, and no fallback elsewhere', async () => {
    const page = await fetch(`${gh.portalUrl}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toMatch(/script-src[^;]*unsafe/);
    const html = await page.text();
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/assets\/.+\.js$/);
    const asset = await fetch(`${gh.portalUrl}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    for (const path of ['/connections', '/admin/users', '/assets/missing.js', '/trpc']) {
      const response = await fetch(`${gh.portalUrl}${path}`, { headers: { accept: 'text/html' } });
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain('<div id="root"');
    }
  });
});
