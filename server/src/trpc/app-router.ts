import { catalogRouter } from '../catalog/catalog.router.js';
import { clientsRouter, subscriptionsRouter } from '../clients/clients.router.js';
import { accountRouter } from '../identity/account.router.js';
import {
  apiTokensRouter,
  authRouter,
  groupsRouter,
  setupRouter,
  usersRouter,
} from '../identity/identity.router.js';
import { killSwitchesRouter } from '../kill-switches/kill-switches.router.js';
import { oauthRouter } from '../oauth/oauth.router.js';
import { mcpSessionsRouter } from '../proxy/sessions.router.js';
import { runtimeRouter } from '../runtime/runtime.router.js';
import { ssoRouter } from '../sso/sso.router.js';
import { credentialsRouter, vaultRouter } from '../vault/credentials.router.js';
import { router } from './init.js';

export const appRouter = router({
  setup: setupRouter,
  auth: authRouter,
  account: accountRouter,
  users: usersRouter,
  groups: groupsRouter,
  apiTokens: apiTokensRouter,
  catalog: catalogRouter,
  runtime: runtimeRouter,
  clients: clientsRouter,
  subscriptions: subscriptionsRouter,
  credentials: credentialsRouter,
  vault: vaultRouter,
  oauth: oauthRouter,
  killSwitches: killSwitchesRouter,
  mcpSessions: mcpSessionsRouter,
  sso: ssoRouter,
});

export type AppRouter = typeof appRouter;
