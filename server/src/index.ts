/** Types the SDK and the portal import (type-only: no server code reaches them at runtime). */
export type { AppRouter } from './trpc/app-router.js';
