/** Failed sign-ins per (account, IP) pair. After `maxFailures` in a window the pair is locked until it ends. */
export class LoginThrottle {
  private readonly windows = new Map<string, { startedAt: number; failures: number }>();

  constructor(
    private readonly maxFailures = 5,
    private readonly windowMs = 15 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  private key(username: string, ip: string) {
    return `${username}\u0000${ip}`;
  }

  private current(key: string) {
    const entry = this.windows.get(key);
    if (entry && this.now() - entry.startedAt >= this.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Milliseconds until the pair may try again, or 0 when it is not locked. */
  lockedForMs(username: string, ip: string): number {
    const entry = this.current(this.key(username, ip));
    if (!entry || entry.failures < this.maxFailures) return 0;
    return entry.startedAt + this.windowMs - this.now();
  }

  /** Records a failure; returns true when this failure engaged the lock. */
  recordFailure(username: string, ip: string): boolean {
    const key = this.key(username, ip);
    const entry = this.current(key) ?? { startedAt: this.now(), failures: 0 };
    entry.failures += 1;
    this.windows.set(key, entry);
    if (this.windows.size > 100_000) this.prune();
    return entry.failures === this.maxFailures;
  }

  recordSuccess(username: string, ip: string): void {
    this.windows.delete(this.key(username, ip));
  }

  private prune() {
    for (const key of [...this.windows.keys()]) this.current(key);
  }
}
