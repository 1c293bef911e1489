/**
 * What changed, announced after the change committed, so in-process caches (client access, live catalog)
 * drop what they hold before the next request. Other nodes will learn through PostgreSQL LISTEN/NOTIFY once
 * Gatehouse runs replicas; see ADR 0010.
 */
export type Change =
  | { kind: 'identity' }
  | { kind: 'clients' }
  | { kind: 'kill_switches' }
  | { kind: 'catalog'; mcpId: string }
  /** Stored credentials of one owner for one MCP changed (`userId` null: the MCP's shared credentials). */
  | { kind: 'credentials'; mcpId: string; userId: string | null }
  /**
   * A user's per-user instances must stop and none start again (`reason`), or may start again (`reason`
   * null: reactivated with no kill switch, or kill switch released while active). Every runtime applies it.
   */
  | { kind: 'user_fence'; userId: string; reason: string | null };

export class ChangeBus {
  private readonly listeners = new Set<(change: Change) => void>();

  publish(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
