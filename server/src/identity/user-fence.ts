import type { ServiceContext } from '../platform/context.js';

/** Stops a user's per-user downstream instances (and the credentials in their environment); the runtime does it. */
export interface UserInstances {
  /** Resolves once this process's instances of the user are stopped. */
  stopUser(userId: string, reason: string): Promise<void>;
  /** Records a stop that failed after the change committed. */
  stopFailed(userId: string, error: unknown): void;
}

/**
 * After a suspension, deletion or user kill switch committed: announces the fence on the change bus (every
 * runtime in this process applies it), then waits for this process's instances to stop, so the answer
 * comes when the processes holding the user's credentials are gone. A failed stop is reported, never thrown:
 * the change took effect, and the fence refuses new instances anyway.
 */
export async function fenceUser(
  ctx: ServiceContext,
  instances: UserInstances,
  userId: string,
  reason: string,
): Promise<void> {
  ctx.changes.publish({ kind: 'user_fence', userId, reason });
  try {
    await instances.stopUser(userId, reason);
  } catch (error) {
    instances.stopFailed(userId, error);
  }
}

/** The user may run instances again: only once they are active and no user kill switch is engaged. */
export function liftUserFence(ctx: ServiceContext, userId: string): void {
  ctx.changes.publish({ kind: 'user_fence', userId, reason: null });
}
