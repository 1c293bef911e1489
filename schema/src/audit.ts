import { z } from 'zod';

/** Closed vocabulary of audit actions (`entity.verb`). Adding an emit site means adding a member here. */
export const AuditAction = z.enum([
  'setup.complete',
  'setup.refused',
  'auth.login',
  'auth.login_failed',
  'auth.lockout',
  'auth.logout',
  'user.create',
  'user.update',
  'user.suspend',
  'user.reactivate',
  'user.reset_password',
  'user.delete',
  'group.create',
  'group.update',
  'group.delete',
  'group.add_member',
  'group.remove_member',
  'api_token.create',
  'api_token.revoke',
  'mcp.create',
  'mcp.update',
  'mcp.validate',
  'mcp.discover',
  'mcp.publish',
  'mcp.archive',
  'mcp.set_groups',
  'mcp.import',
  'mcp.export',
  'mcp.pin_changed',
  'mcp.pin_new',
  'mcp.pin_removed',
  'mcp.pin_restored',
  'mcp.pin_approve',
  'mcp.pin_reject',
  'runtime.restart',
  'runtime.stop',
  'client.create',
  'client.rotate_key',
  'client.suspend',
  'client.reactivate',
  'client.revoke',
  'subscription.create',
  'subscription.update',
  'subscription.delete',
  'mcp_session.start',
  'mcp_session.end',
  'tool.call',
  'tool.denied',
]);
export type AuditAction = z.infer<typeof AuditAction>;

export const ActorType = z.enum(['user', 'api_token', 'client', 'system', 'anonymous']);
export type ActorType = z.infer<typeof ActorType>;
export const AuditOutcome = z.enum(['success', 'failure', 'denied']);
export type AuditOutcome = z.infer<typeof AuditOutcome>;
