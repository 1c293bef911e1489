/** What a client's replay budget needs of one session's event store. */
export interface ReplayHolder {
  /** Bytes of the events this store holds. */
  readonly bytes: number;
  /** Drops this store's oldest event; false when it holds none. */
  dropOldest(): boolean;
}

/**
 * The replay memory one client's sessions share. Every session keeps the last events of its streams for
 * resumption; without a shared bound a client with many (abandoned) sessions holds that many buffers.
 * When the client's total goes over the limit, the largest buffer loses its oldest events first.
 */
export class ClientReplayBudget {
  private total = 0;
  private readonly holders = new Set<ReplayHolder>();

  constructor(
    readonly limitBytes: number,
    private readonly onEmpty: () => void,
  ) {}

  get bytes(): number {
    return this.total;
  }

  attach(holder: ReplayHolder): void {
    if (this.holders.has(holder)) return;
    this.holders.add(holder);
    this.total += holder.bytes;
    this.enforce();
  }

  detach(holder: ReplayHolder): void {
    if (!this.holders.delete(holder)) return;
    this.total -= holder.bytes;
    if (this.holders.size === 0) this.onEmpty();
  }

  /** A holder's size changed by `delta` bytes (positive when it stored an event). */
  changed(delta: number): void {
    this.total += delta;
    if (delta > 0) this.enforce();
  }

  private enforce(): void {
    while (this.total > this.limitBytes) {
      let largest: ReplayHolder | undefined;
      for (const holder of this.holders) if (!largest || holder.bytes > largest.bytes) largest = holder;
      // Dropping reports back through `changed`, which lowers the total.
      if (!largest?.dropOldest()) return;
    }
  }
}

/** One budget per client, created on the client's first session and forgotten with its last. */
export class ReplayBudgets {
  private readonly byClient = new Map<string, ClientReplayBudget>();

  constructor(private readonly limitBytes: number) {}

  forClient(clientId: string): ClientReplayBudget {
    let budget = this.byClient.get(clientId);
    if (!budget) {
      const created = new ClientReplayBudget(this.limitBytes, () => {
        if (this.byClient.get(clientId) === created) this.byClient.delete(clientId);
      });
      budget = created;
      this.byClient.set(clientId, budget);
    }
    return budget;
  }

  /** Replay bytes held for the client's sessions now. */
  bytesOf(clientId: string): number {
    return this.byClient.get(clientId)?.bytes ?? 0;
  }
}
