import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditRows,
  failureOf,
  type PortalClient,
  setUpAdmin,
  startTestGatehouse,
  type TestGatehouse,
} from '../support/gatehouse.js';
import { httpBrowser } from '../support/idp.js';

/** Discovery and token requests go through the SSRF guard of `config.oauth` (here its defaults). */
describe('single sign-on under the default outbound policy', () => {
  let gh: TestGatehouse;
  let admin: PortalClient;
  let listener: Server;
  let connections = 0;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    admin = await setUpAdmin(gh);
    listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => listener?.close(() => resolve()));
    await gh?.stop();
  });

  it('refuses an http issuer, and never connects to a provider on a private address', async () => {
    const port = (listener.address() as AddressInfo).port;
    const base = {
      displayName: 'Internal',
      clientId: 'gatehouse',
      clientSecret: 'internal-secret',
      allowedDomains: ['internal.test'],
    };
    const http = await failureOf(
      admin.sso.createProvider.mutate({ ...base, slug: 'plain', issuer: `http://idp.example.test:${port}` }),
    );
    expect(http.code).toBe('VALIDATION_FAILED');
    expect(http.fieldErrors).toEqual({ issuer: ['must be an https URL'] });

    await admin.sso.createProvider.mutate({ ...base, slug: 'internal', issuer: `https://localhost:${port}` });
    const start = await httpBrowser().get(`${gh.portalUrl}/auth/sso/internal/start`);
    expect(start.headers.get('location')).toBe('/#/?sso_error=provider_unavailable');
    expect(connections).toBe(0);
    expect((await auditRows(gh, 'auth.sso_login_failed')).map((row) => row.details)).toEqual([
      { provider: 'internal', reason: 'provider_unavailable' },
    ]);
    expect(await gh.db.query('select * from sso_login_state')).toEqual([]);
  });
});
