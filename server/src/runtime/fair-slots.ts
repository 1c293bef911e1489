import { DomainError } from '../platform/errors.js';

/** Calls with no known caller (internal ones) share this queue. */
export const UNKNOWN_CALLER = '';

interface Waiter {
  readonly caller: CallerSlots;
  admit(): void;
  refuse(error: Error): void;
}

interface CallerSlots {
  readonly key: string;
  running: number;
  readonly queue: Waiter[];
  /** When this caller last got a slot (a sequence number), for round-robin among equals. */
  lastServed: number;
}

/**
 * The concurrency slots of one instance, shared fairly among its callers (users of a shared MCP).
 *
 * A free slot is taken at once while nobody waits, so a lone user can still use every slot. Once calls
 * wait, each freed slot goes to the waiting caller with the fewest calls running, the least recently
 * served first among equals: a burst of one user cannot hold the queue, and another user gets the next
 * slot that frees. Each caller may queue as many calls as the instance has slots; beyond that only that
 * caller is refused. See docs/decisions/0020-shared-instance-tenants.md.
 */
export class FairSlots {
  private running = 0;
  private waiting = 0;
  private served = 0;
  private readonly callers = new Map<string, CallerSlots>();

  constructor(
    private readonly capacity: number,
    private readonly slug: string,
    private readonly waitMs: number,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting;
  }

  /** The callers with calls running now. */
  *runningCallers(): Iterable<string> {
    for (const caller of this.callers.values()) if (caller.running > 0) yield caller.key;
  }

  /** Waits for a slot for `callerKey`; resolves once the slot is held (release it with `release`). */
  acquire(callerKey: string, signal: AbortSignal | undefined): Promise<void> {
    const caller = this.callerFor(callerKey);
    if (this.running < this.capacity && this.waiting === 0) {
      this.take(caller);
      return Promise.resolve();
    }
    if (caller.queue.length >= this.capacity) {
      this.forgetIfIdle(caller);
      return Promise.reject(
        new DomainError(
          'CAPACITY_EXCEEDED',
          `MCP "${this.slug}" is at its limit of ${this.capacity} concurrent calls with ` +
            `${caller.queue.length} waiting; try again shortly`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        remove();
        reject(
          new DomainError('DOWNSTREAM_TIMEOUT', `MCP "${this.slug}" stayed busy for ${this.waitMs / 1000}s`),
        );
      }, this.waitMs);
      const onAbort = () => {
        remove();
        reject(new DomainError('DOWNSTREAM_FAILED', 'The call was cancelled by the client'));
      };
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        caller,
        admit: () => {
          settle();
          resolve();
        },
        refuse: (error) => {
          settle();
          reject(error);
        },
      };
      const remove = () => {
        settle();
        const index = caller.queue.indexOf(waiter);
        if (index < 0) return;
        caller.queue.splice(index, 1);
        this.waiting--;
        this.forgetIfIdle(caller);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      caller.queue.push(waiter);
      this.waiting++;
      this.dispatch();
    });
  }

  /** Frees the slot `callerKey` held and hands free slots to the fairest waiting callers. */
  release(callerKey: string): void {
    const caller = this.callers.get(callerKey);
    this.running--;
    if (caller) {
      caller.running--;
      this.forgetIfIdle(caller);
    }
    this.dispatch();
  }

  /** Refuses every waiting call (the instance stops). */
  refuseAll(error: () => Error): void {
    for (const caller of [...this.callers.values()]) {
      for (const waiter of caller.queue.splice(0)) {
        this.waiting--;
        waiter.refuse(error());
      }
      this.forgetIfIdle(caller);
    }
  }

  private dispatch(): void {
    while (this.running < this.capacity && this.waiting > 0) {
      const next = this.fairestWaiting();
      const waiter = next?.queue.shift();
      if (!next || !waiter) return;
      this.waiting--;
      this.take(next);
      waiter.admit();
    }
  }

  /** Fewest calls running first; among equals, the caller served longest ago. */
  private fairestWaiting(): CallerSlots | undefined {
    let best: CallerSlots | undefined;
    for (const caller of this.callers.values()) {
      if (caller.queue.length === 0) continue;
      if (
        !best ||
        caller.running < best.running ||
        (caller.running === best.running && caller.lastServed < best.lastServed)
      ) {
        best = caller;
      }
    }
    return best;
  }

  private take(caller: CallerSlots): void {
    this.running++;
    caller.running++;
    caller.lastServed = ++this.served;
  }

  private callerFor(key: string): CallerSlots {
    let caller = this.callers.get(key);
    if (!caller) {
      caller = { key, running: 0, queue: [], lastServed: 0 };
      this.callers.set(key, caller);
    }
    return caller;
  }

  /** Callers with nothing running or waiting are dropped, so the map stays as small as the live callers. */
  private forgetIfIdle(caller: CallerSlots): void {
    if (caller.running <= 0 && caller.queue.length === 0) this.callers.delete(caller.key);
  }
}
