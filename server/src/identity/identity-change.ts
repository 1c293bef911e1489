import type { Change } from '../platform/change-bus.js';

/** Users, roles, statuses and memberships decide what a client may reach: every such commit announces this. */
export const IDENTITY_CHANGE: Change = { kind: 'identity' };
