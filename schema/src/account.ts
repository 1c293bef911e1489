import { z } from 'zod';
import { IsoDateTime, NewPassword, PasswordAttempt, prefixedId, Reason, UserId } from './common.js';

export const PortalSessionId = prefixedId('session');

/** A signed-in person changes their own password; the current one proves it is them. */
export const ChangePasswordInput = z.object({
  currentPassword: PasswordAttempt,
  newPassword: NewPassword,
});
export type ChangePasswordInput = z.infer<typeof ChangePasswordInput>;
/** How many of the person's other portal sessions the change ended (the one that made it stays). */
export const ChangePasswordResult = z.object({ endedSessions: z.number().int() });
export type ChangePasswordResult = z.infer<typeof ChangePasswordResult>;

/** One of the caller's portal sessions; never its token. `current` marks the session making the request. */
export const PortalSessionInfo = z.object({
  id: PortalSessionId,
  createdAt: IsoDateTime,
  lastSeenAt: IsoDateTime,
  expiresAt: IsoDateTime,
  ip: z.string(),
  userAgent: z.string(),
  current: z.boolean(),
});
export type PortalSessionInfo = z.infer<typeof PortalSessionInfo>;
export const PortalSessionList = z.object({ items: z.array(PortalSessionInfo) });
export type PortalSessionList = z.infer<typeof PortalSessionList>;
export const PortalSessionRef = z.object({ id: PortalSessionId });
export type PortalSessionRef = z.infer<typeof PortalSessionRef>;

/** An admin ends every portal session of a user (a lost laptop, a departure). */
export const EndUserSessionsInput = z.object({ id: UserId, reason: Reason.optional() });
export type EndUserSessionsInput = z.infer<typeof EndUserSessionsInput>;
export const EndedSessions = z.object({ ended: z.number().int() });
export type EndedSessions = z.infer<typeof EndedSessions>;
