import {
  apiTokensRouter,
  authRouter,
  groupsRouter,
  setupRouter,
  usersRouter,
} from '../identity/identity.router.js';
import { router } from './init.js';

export const appRouter = router({
  setup: setupRouter,
  auth: authRouter,
  users: usersRouter,
  groups: groupsRouter,
  apiTokens: apiTokensRouter,
});

export type AppRouter = typeof appRouter;
