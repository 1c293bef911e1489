import type { InstanceStatus, McpConfig } from '@gatehouse/schema';
import type { Logger } from 'pino';
import type { ChangeBus } from '../platform/change-bus.js';
import { type Clock, systemClock } from '../platform/clock.js';
import type { RuntimeSettings } from '../platform/config.js';
import { DomainError, notFound } from '../platform/errors.js';
import type { ToolAndPromptListing } from './downstream.js';
import { type InstanceSpec, McpInstance } from './instance.js';
import type { LogLine } from './stderr-ring.js';

/** The published config version to run, as the live catalog knows it. */
export interface RuntimeTarget {
  readonly mcpId: string;
  readonly slug: string;
  readonly versionId: string;
  readonly config: McpConfig;
}

/** Where decrypted credential values come from; the vault implements it. `userId` is null for shared MCPs. */
export interface CredentialProvider {
  credentialsFor(request: { mcpId: string; userId: string | null }): Promise<Record<string, string>>;
}

export interface RuntimeManagerOptions {
  settings: RuntimeSettings;
  log: Logger;
  credentials: CredentialProvider;
  /** Time for the circuit breakers' cool-downs; the system clock unless a test injects one. */
  clock?: Clock;
  /** Pinning: reconciles each fresh tools/prompts listing against the approved definitions. */
  onListing(spec: InstanceSpec, listing: ToolAndPromptListing): Promise<void>;
}

const capacity = (message: string) => new DomainError('CAPACITY_EXCEEDED', message);
/** A healthy server answers a ping in milliseconds; waiting longer than the ping interval helps nobody. */
const MAX_PING_TIMEOUT_MS = 10_000;

/**
 * Owns every running downstream instance: one per published config version for shared MCPs, one per
 * (version, user) for per-user MCPs. Caps instance counts, pings, reaps idle per-user instances and stops
 * everything (no orphaned processes) on shutdown.
 */
export class RuntimeManager {
  private readonly instances = new Map<string, McpInstance>();
  /** Instances replaced after a credential change, finishing their calls; still stopped at shutdown. */
  private readonly renewing = new Set<McpInstance>();
  /** Health pings and idle reaping: armed only while an instance exists, so an idle Gatehouse sleeps (ADR 0029). */
  private timers: NodeJS.Timeout[] = [];
  /**
   * Users stopped because they were suspended, killed or deleted: no per-user instance starts for them again,
   * not even for a call authorized just before the change, until `allowUser`. One set lookup per new instance.
   */
  private readonly disabledUsers = new Set<string>();
  /** Stops of disabled users' instances still under way, so a second `stopUser` also waits for them. */
  private readonly userStops = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly options: RuntimeManagerOptions) {}

  /** Whether the health ping and the idle reaper are armed (they are exactly while an instance exists). */
  get periodicJobsArmed(): boolean {
    return this.timers.length > 0;
  }

  /** Arms the periodic jobs when the first instance appears, disarms them when the last one is gone. */
  private syncTimers(): void {
    const wanted = this.instances.size > 0 && !this.closed;
    if (wanted === this.timers.length > 0) return;
    if (!wanted) {
      for (const timer of this.timers) clearInterval(timer);
      this.timers = [];
      return;
    }
    const { healthIntervalMs, idleTimeoutMs } = this.options.settings;
    this.timers = [
      setInterval(() => void this.pingAll(), healthIntervalMs),
      setInterval(() => void this.reapIdle(), Math.max(250, Math.min(idleTimeoutMs / 4, 30_000))),
    ];
    for (const timer of this.timers) timer.unref();
  }

  private hooksFor() {
    return {
      credentialsFor: (spec: InstanceSpec) =>
        this.options.credentials.credentialsFor({ mcpId: spec.mcpId, userId: spec.userId }),
      onListing: (spec: InstanceSpec, listing: ToolAndPromptListing) => this.options.onListing(spec, listing),
      onStopped: (instance: McpInstance) => {
        if (this.instances.get(instance.key) === instance) this.instances.delete(instance.key);
        this.syncTimers();
      },
      settings: this.options.settings,
      log: this.options.log,
      clock: this.options.clock ?? systemClock,
    };
  }

  /** The instance that serves `userId` for this target, created (not yet started) if needed. */
  instanceFor(target: RuntimeTarget, userId: string | null): McpInstance {
    if (this.closed) throw new DomainError('DOWNSTREAM_UNAVAILABLE', 'Gatehouse is shutting down');
    const perUser = target.config.isolation === 'per-user';
    if (perUser && !userId) {
      throw new DomainError('PRECONDITION_FAILED', `MCP "${target.slug}" runs per user and needs a user`);
    }
    const key = perUser ? `${target.versionId}/${userId}` : target.versionId;
    const existing = this.instances.get(key);
    if (existing) return existing;
    if (perUser && this.disabledUsers.has(userId as string)) {
      throw new DomainError('FORBIDDEN', 'The user is suspended or killed');
    }
    if (perUser) {
      let running = 0;
      for (const instance of this.instances.values()) if (instance.spec.mcpId === target.mcpId) running++;
      if (running >= target.config.limits.maxInstances) {
        throw capacity(
          `MCP "${target.slug}" already runs ${running} per-user instances, its limit; try again later`,
        );
      }
    }
    if (this.instances.size >= this.options.settings.maxInstances) {
      throw capacity(
        `Gatehouse already runs ${this.instances.size} downstream instances, its limit; try again later`,
      );
    }
    const instance = new McpInstance(
      {
        key,
        mcpId: target.mcpId,
        slug: target.slug,
        versionId: target.versionId,
        userId,
        config: target.config,
      },
      this.hooksFor(),
    );
    this.instances.set(key, instance);
    this.syncTimers();
    return instance;
  }

  /** Eager start for shared MCPs on publish; failures are logged and follow the normal backoff. */
  warm(target: RuntimeTarget): void {
    const failed = (error: unknown) =>
      this.options.log.warn(
        { mcp: target.slug, why: error instanceof Error ? error.message : String(error) },
        'eager start of downstream MCP failed',
      );
    try {
      this.instanceFor(target, null).ensureStarted().catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  private matching(predicate: (instance: McpInstance) => boolean): McpInstance[] {
    return [...this.instances.values()].filter(predicate);
  }

  /** Archive or kill switch: stop every instance of the MCP at once. */
  async stopMcp(mcpId: string, reason: string): Promise<void> {
    await Promise.all(this.matching((i) => i.spec.mcpId === mcpId).map((i) => i.stop(reason)));
  }

  /**
   * A new config version went live: old-version instances finish their calls, then stop. They stay listed
   * (and reachable by archive and shutdown) until they do; new calls go to the new version's instances.
   */
  async retireOldVersions(mcpId: string, liveVersionId: string): Promise<void> {
    const old = this.matching(
      (i) => i.spec.mcpId === mcpId && i.spec.versionId !== liveVersionId && !i.isRetiring,
    );
    await Promise.all(old.map((i) => i.retire('a new configuration version went live')));
  }

  /**
   * The credentials of `userId` (or the shared credentials when null) for this MCP changed: the next call
   * starts a fresh instance with the new values, while the current one finishes its calls, then stops.
   */
  async renewCredentials(mcpId: string, userId: string | null): Promise<void> {
    const stale = this.matching((i) => i.spec.mcpId === mcpId && i.spec.userId === userId && !i.isRetiring);
    for (const instance of stale) {
      this.instances.delete(instance.key);
      this.renewing.add(instance);
    }
    this.syncTimers();
    await Promise.all(
      stale.map((i) => i.retire('its credentials changed').finally(() => this.renewing.delete(i))),
    );
  }

  /**
   * Applies the user fences services announce on the bus (`user_fence`), so every runtime subscribed in this
   * process agrees, not only the one the request's service was handed. Returns the unsubscribe function.
   */
  followUserFences(changes: ChangeBus): () => void {
    return changes.subscribe((change) => {
      if (change.kind !== 'user_fence') return;
      if (change.reason === null) this.allowUser(change.userId);
      else void this.stopUser(change.userId, change.reason);
    });
  }

  /**
   * The user was suspended, killed or deleted: their per-user instances stop, and none starts again. Resolves
   * once every stop of this user under way (from the bus or a direct call) is done; never rejects: the change
   * has committed, so a failed stop is logged, not thrown at whoever made it.
   */
  async stopUser(userId: string, reason: string): Promise<void> {
    this.disabledUsers.add(userId);
    const stopping = Promise.allSettled(
      this.matching((i) => i.spec.userId === userId).map((i) => i.stop(reason)),
    ).then((results) => {
      for (const result of results) if (result.status === 'rejected') this.stopFailed(userId, result.reason);
    });
    const all = Promise.all([this.userStops.get(userId), stopping]).then(() => undefined);
    this.userStops.set(userId, all);
    await all;
    if (this.userStops.get(userId) === all) this.userStops.delete(userId);
  }

  /** A disabled user's instance could not be stopped: logged for an operator; the fence still holds. */
  stopFailed(userId: string, error: unknown): void {
    this.options.log.error({ err: error, userId }, "could not stop a disabled user's instance");
  }

  /** The user was reactivated or their kill switch released: per-user instances may start again. */
  allowUser(userId: string): void {
    this.disabledUsers.delete(userId);
  }

  list(mcpId?: string): InstanceStatus[] {
    return this.matching((i) => mcpId === undefined || i.spec.mcpId === mcpId)
      .map((i) => i.status())
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  private get(key: string): McpInstance {
    const instance = this.instances.get(key);
    if (!instance) throw notFound('Instance', key);
    return instance;
  }

  describe(key: string): InstanceStatus {
    return this.get(key).status();
  }

  logs(key: string): LogLine[] {
    return this.get(key).logs();
  }

  async stop(key: string, reason: string): Promise<void> {
    await this.get(key).stop(reason);
  }

  /**
   * Stops the instance and starts a fresh one of `target` (the MCP's current live version, so a restart
   * never brings back a superseded config); failure count and circuit reset. Returns the new status.
   */
  async restart(key: string, target: RuntimeTarget): Promise<InstanceStatus> {
    const old = this.get(key);
    await old.stop('restarted by an admin');
    const fresh = this.instanceFor(target, old.spec.userId);
    await fresh.ensureStarted().catch(() => undefined);
    return fresh.status();
  }

  private async pingAll(): Promise<void> {
    const timeout = Math.min(MAX_PING_TIMEOUT_MS, this.options.settings.healthIntervalMs);
    await Promise.all(this.matching((i) => i.isReady).map((i) => i.ping(timeout)));
  }

  /** Per-user instances idle past the timeout stop; one with a call in flight, queued or starting is never touched. */
  private async reapIdle(): Promise<void> {
    const cutoff = Date.now() - this.options.settings.idleTimeoutMs;
    // Failed ones too: a per-user instance stuck in backoff must not hold a slot (and retry) forever.
    const idle = this.matching(
      (i) => i.spec.userId !== null && !i.isStarting && i.isIdle && i.idleSince() < cutoff,
    );
    await Promise.all(idle.map((i) => i.stop('idle timeout')));
  }

  /** Stops every instance and reaps every child process. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.syncTimers();
    await Promise.all(
      [...this.matching(() => true), ...this.renewing].map((i) => i.stop('Gatehouse is shutting down')),
    );
  }
}
