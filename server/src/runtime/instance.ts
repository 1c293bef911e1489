import type { InstanceState, InstanceStatus, McpConfig } from '@gatehouse/schema';
import type { CallToolResult, LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import { McpError, ErrorCode as McpErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { Clock } from '../platform/clock.js';
import type { RuntimeSettings } from '../platform/config.js';
import { DomainError } from '../platform/errors.js';
import { Breaker, CallerBreakers, openCircuitWhen } from './circuit-breaker.js';
import {
  type Downstream,
  listToolsAndPrompts,
  openDownstream,
  ProtocolVersionRefused,
  type ServerToClientRequest,
  type ToolAndPromptListing,
} from './downstream.js';
import { assertLaunchEnvAllowed } from './env-policy.js';
import { FairSlots, UNKNOWN_CALLER } from './fair-slots.js';
import type { PeerRequestOptions } from './jsonrpc-peer.js';
import { ResponseTooLarge } from './link.js';
import type { DownstreamClient } from './mcp-client.js';
import { type LogLine, redactSecrets, StderrRing } from './stderr-ring.js';
import { OAUTH_ACCESS_TOKEN, resolveLaunch } from './templating.js';

/** What one instance runs: a published config version, for everyone (shared) or for one user. */
export interface InstanceSpec {
  readonly key: string;
  readonly mcpId: string;
  readonly slug: string;
  readonly versionId: string;
  readonly userId: string | null;
  readonly config: McpConfig;
}

export interface InstanceHooks {
  /** Decrypted credential values for this instance; called at each start and never cached by the runtime. */
  credentialsFor(spec: InstanceSpec): Promise<Record<string, string>>;
  /** Every (re)connection and every list_changed hands the fresh listing to pinning. */
  onListing(spec: InstanceSpec, listing: ToolAndPromptListing): Promise<void>;
  /** The instance stopped for good (idle, admin, retired): the manager forgets it. */
  onStopped(instance: McpInstance): void;
  readonly settings: RuntimeSettings;
  readonly log: Logger;
  /** Time for the circuit breakers' cool-downs. */
  readonly clock: Clock;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** The user the call runs for: a shared instance shares its slots fairly among its callers. */
  caller?: string;
  /** Answers elicitation/sampling requests the downstream sends while this call runs. */
  onServerRequest?: (request: ServerToClientRequest) => Promise<Record<string, unknown>>;
  /** Receives the log messages the downstream sends while this call runs. */
  onLog?: (params: LoggingMessageNotification['params']) => void;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

const unavailable = (message: string) => new DomainError('DOWNSTREAM_UNAVAILABLE', message);

/**
 * One supervised downstream connection: started lazily, health-checked, restarted with exponential backoff
 * after a crash, guarded by a circuit breaker, and bounded in concurrent calls.
 */
export class McpInstance {
  private state: InstanceState = 'stopped';
  private downstream: Downstream | undefined;
  private starting: Promise<Downstream> | undefined;
  private stderr: StderrRing;
  private readonly slots: FairSlots;
  private restarts = 0;
  /** Failures of the instance itself (starts, crashes no single user caused, missed pings). */
  private readonly breaker: Breaker;
  /** Crashes that one user's calls alone can have caused count against that user only (shared MCPs). */
  private readonly callerBreakers: CallerBreakers;
  private startedAt: Date | null = null;
  private lastUsedAt: Date | null = null;
  private lastError: string | null = null;
  private nextRestartAt: Date | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private listingChain: Promise<void> = Promise.resolve();
  private stopRequested: string | null = null;
  /** Set once stopped for good: a stale reference can never start an unsupervised process. */
  private terminated = false;
  private hasStartedBefore = false;
  /** Superseded by a newer config version: finishing its calls, never restarted. */
  private retiring = false;
  /**
   * Callers with a call this process never answered (cancelled, timed out): the downstream may still be
   * running it, so a later crash may be theirs. Cleared at each start (ADR 0020).
   */
  private readonly unanswered = new Set<string>();
  /** Calls in flight that can answer server-to-client requests. */
  private readonly callRoutes = new Set<CallRoute>();
  /** Subscribed resource URI → who wants `resources/updated` for it. */
  /** Per downstream URI, each subscriber's (a session's) one listener: subscribing again replaces it. */
  private readonly resourceListeners = new Map<string, Map<string, (uri: string) => void>>();
  /** This start's credential values, kept only to redact them from captured output and error messages. */
  private secrets: readonly string[] = [];

  constructor(
    readonly spec: InstanceSpec,
    private readonly hooks: InstanceHooks,
  ) {
    this.stderr = new StderrRing(hooks.settings.stderrLines, []);
    const { limits, timeouts } = spec.config;
    this.slots = new FairSlots(limits.maxConcurrentCalls, spec.slug, timeouts.callMs);
    const { circuitBreakerFailures, circuitCooldownMs, restartBackoffMaxMs } = hooks.settings;
    const policy = {
      failures: circuitBreakerFailures,
      // A failure counts for `failures` cool-downs (150 s by default); an answered call does not reset it.
      windowMs: circuitBreakerFailures * circuitCooldownMs,
      cooldownMs: circuitCooldownMs,
      maxCooldownMs: Math.max(circuitCooldownMs, restartBackoffMaxMs),
    };
    this.breaker = new Breaker(policy, hooks.clock);
    this.callerBreakers = new CallerBreakers(policy, hooks.clock);
  }

  get key(): string {
    return this.spec.key;
  }

  get isRetiring(): boolean {
    return this.retiring;
  }

  get isStarting(): boolean {
    return this.starting !== undefined;
  }

  get isIdle(): boolean {
    return this.slots.inFlight === 0 && this.slots.queued === 0 && this.starting === undefined;
  }

  idleSince(): number {
    return (this.lastUsedAt ?? this.startedAt ?? new Date(0)).getTime();
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  /** Starts the downstream if it is not running; shared by concurrent callers. */
  async ensureStarted(): Promise<Downstream> {
    if (this.state === 'ready' && this.downstream) return this.downstream;
    if (this.starting) return this.starting;
    if (this.terminated || this.state === 'stopping') {
      throw unavailable(`MCP "${this.spec.slug}" was stopped (${this.stopRequested ?? 'stopped'})`);
    }
    if (this.state === 'backoff') {
      const seconds = Math.max(0, Math.ceil(((this.nextRestartAt?.getTime() ?? 0) - Date.now()) / 1000));
      throw unavailable(
        `MCP "${this.spec.slug}" is restarting after a failure (${this.lastError}); next attempt in ${seconds}s`,
      );
    }
    const waitMs = this.state === 'circuit_open' ? this.breaker.remainingMs() : 0;
    if (waitMs > 0) throw this.circuitOpen({ waitMs, trialRunning: false });
    return this.start();
  }

  private start(): Promise<Downstream> {
    this.state = 'starting';
    const attempt = this.connect();
    this.starting = attempt;
    attempt.then(
      () => {
        this.starting = undefined;
      },
      (error: unknown) => {
        this.starting = undefined;
        if (error instanceof DomainError && error.code === 'PRECONDITION_FAILED') {
          // A configuration problem (missing credentials): retrying cannot help, so do not back off.
          this.lastError = error.message;
          this.terminate();
        } else {
          this.recordFailure(this.describe(error));
        }
      },
    );
    return attempt.catch((error: unknown) => {
      throw this.toDomainError(error);
    });
  }

  private async connect(): Promise<Downstream> {
    const { config } = this.spec;
    // Before any credential is opened: a config stored before a name was denied never runs with it.
    assertLaunchEnvAllowed(this.spec.slug, config);
    const credentials = await this.hooks.credentialsFor(this.spec);
    const missing = config.credentials.filter((field) => field.required && !credentials[field.name]);
    if (missing.length > 0) {
      throw new DomainError(
        'PRECONDITION_FAILED',
        `MCP "${this.spec.slug}" needs credentials that are not set: ${missing.map((f) => f.label).join(', ')}`,
      );
    }
    if (config.oauth && !credentials[OAUTH_ACCESS_TOKEN]) {
      throw new DomainError(
        'PRECONDITION_FAILED',
        `MCP "${this.spec.slug}" needs your account: open Connections in the Gatehouse portal and choose Connect`,
      );
    }
    this.secrets = Object.values(credentials);
    this.stderr = new StderrRing(this.hooks.settings.stderrLines, this.secrets);
    const stderr = this.stderr;
    let downstream: Downstream | undefined;
    let closedEarly = false;
    downstream = await openDownstream({
      connection: config.connection,
      launch: resolveLaunch(config, credentials),
      connectTimeoutMs: config.timeouts.connectMs,
      // Room for a response at the limit plus its JSON-RPC envelope; bigger messages end the connection.
      maxMessageBytes: this.hooks.settings.maxResponseBytes * 2 + 65_536,
      stopGraceMs: this.hooks.settings.stopGraceMs,
      onStderr: (chunk) => stderr.write(chunk),
      onClose: () => {
        if (downstream && this.downstream === downstream) this.onConnectionClosed(downstream);
        else closedEarly = true;
      },
      onListChanged: () => {
        if (downstream) this.relist(downstream);
      },
      onServerRequest: (request) => this.routeServerRequest(request),
      onLog: (params) => this.soleCallRoute()?.onLog?.(params),
      onResourceUpdated: (uri) => {
        for (const listener of this.resourceListeners.get(uri)?.values() ?? []) listener(uri);
      },
    });
    let handedOver = false;
    try {
      // Pinning sees the listing before the first call can reach the new process.
      const listing = await listToolsAndPrompts(downstream, config.timeouts.connectMs);
      await this.hooks.onListing(this.spec, listing);
      if (this.stopRequested) {
        throw unavailable(`MCP "${this.spec.slug}" was stopped while starting (${this.stopRequested})`);
      }
      if (closedEarly)
        throw new Error(downstream.exitDescription() ?? 'the connection closed while starting');
      this.downstream = downstream;
      this.unanswered.clear();
      handedOver = true;
    } finally {
      // Anything short of a clean hand-over must not leave the process running unsupervised.
      if (!handedOver) await downstream.close().catch(() => undefined);
    }
    this.state = 'ready';
    this.startedAt = new Date();
    if (this.hasStartedBefore) this.restarts++;
    this.hasStartedBefore = true;
    this.nextRestartAt = null;
    this.hooks.log.info({ mcp: this.spec.slug, key: this.key, pid: downstream.pid }, 'downstream MCP ready');
    return downstream;
  }

  /**
   * Re-lists after `list_changed`, serialized so listings are reconciled in the order they were taken. If the
   * new listing cannot be checked, the connection is dropped: pinning fails closed, and the reconnect
   * re-checks everything before serving again.
   */
  private relist(downstream: Downstream): void {
    this.listingChain = this.listingChain
      .then(async () => {
        if (this.downstream !== downstream) return;
        const listing = await listToolsAndPrompts(downstream, this.spec.config.timeouts.connectMs);
        await this.hooks.onListing(this.spec, listing);
      })
      .catch(async (error: unknown) => {
        const why = this.redact(error instanceof Error ? error.message : String(error));
        this.hooks.log.warn(
          { mcp: this.spec.slug, key: this.key, why },
          'could not re-check tools after list_changed',
        );
        await this.dropConnection(downstream, `could not re-check its tools after a change (${why})`);
      });
  }

  /** Treats a live connection as failed (missed ping, unverifiable listing): close it and back off. */
  private async dropConnection(downstream: Downstream, reason: string): Promise<void> {
    if (this.downstream !== downstream) return;
    this.downstream = undefined;
    this.recordFailure(reason);
    await downstream.close().catch(() => undefined);
  }

  private onConnectionClosed(downstream: Downstream): void {
    this.downstream = undefined;
    const why = downstream.exitDescription() ?? 'the connection closed';
    this.hooks.log.warn({ mcp: this.spec.slug, key: this.key, why }, 'downstream MCP went away');
    const culprit = this.culpritOfCrash();
    if (culprit === undefined) {
      this.recordFailure(why);
      return;
    }
    // Only this user's calls can have caused it: their breaker counts it in full, the instance's at reduced
    // weight (several users, or accounts, crashing it in turn still open it), and it restarts.
    this.lastError = why;
    const strikes = this.callerBreakers.failed(culprit).failures;
    this.hooks.log.warn({ mcp: this.spec.slug, key: this.key, user: culprit, strikes }, 'crash attributed');
    if (this.stopRequested || this.retiring) this.recordFailure(why);
    else if (this.breaker.failed(ATTRIBUTED_CRASH_WEIGHT)) this.openCircuit();
    else this.scheduleRestart(this.hooks.settings.restartBackoffMs);
  }

  /**
   * The one user whose calls can have caused a crash of a shared instance: the only one with calls running
   * or with calls this process never answered (a cancelled call may still run downstream). Undefined when
   * there are several, or none, or during a trial of the instance's own breaker.
   */
  private culpritOfCrash(): string | undefined {
    if (this.spec.userId !== null || this.breaker.isOpen) return undefined;
    let culprit: string | undefined;
    for (const caller of [...this.slots.runningCallers(), ...this.unanswered]) {
      if (caller === UNKNOWN_CALLER || (culprit !== undefined && caller !== culprit)) return undefined;
      culprit = caller;
    }
    return culprit;
  }

  /** A failed start, crash or missed ping: back off and retry, or open the circuit after too many recently. */
  private recordFailure(reason: string): void {
    this.lastError = reason;
    if (this.stopRequested) return;
    if (this.retiring) {
      // A superseded version is never restarted.
      void this.stop('its configuration version was replaced');
      return;
    }
    if (this.breaker.failed()) {
      this.openCircuit();
      return;
    }
    const { restartBackoffMs, restartBackoffMaxMs } = this.hooks.settings;
    const exponent = Math.max(0, this.breaker.failures - 1);
    this.scheduleRestart(Math.min(restartBackoffMs * 2 ** exponent, restartBackoffMaxMs));
  }

  /** Open: nothing restarts until the cool-down has passed and a call comes to try it (half-open). */
  private openCircuit(): void {
    this.state = 'circuit_open';
    this.nextRestartAt = this.breaker.openUntil;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private scheduleRestart(wait: number): void {
    this.state = 'backoff';
    this.nextRestartAt = new Date(Date.now() + wait);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state !== 'backoff' && this.state !== 'circuit_open') return;
      this.start().catch(() => undefined);
    }, wait);
    this.restartTimer.unref();
  }

  private describe(error: unknown): string {
    if (error instanceof DomainError) return error.message;
    if (error instanceof ProtocolVersionRefused) return error.message;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `cannot start: command "${this.commandName()}" was not found`;
    if (code === 'EACCES') return `cannot start: command "${this.commandName()}" is not executable`;
    const exit = this.downstream?.exitDescription();
    return this.redact(exit ?? (error instanceof Error ? error.message : String(error)));
  }

  private commandName(): string {
    const { connection } = this.spec.config;
    return connection.transport === 'stdio' ? connection.command : connection.url;
  }

  private redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  private toDomainError(error: unknown): DomainError {
    if (error instanceof DomainError) return error;
    return unavailable(`MCP "${this.spec.slug}" could not start: ${this.lastError ?? this.describe(error)}`);
  }

  /** Calls one tool, waiting for a concurrency slot if needed; every failure is a clear DomainError. */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: CallOptions = {},
  ): Promise<CallToolResult> {
    return (await this.callToolSized(name, args, options)).result;
  }

  /** `callTool`, with the result's serialized size as measured for the response limit (the audit records it). */
  callToolSized(
    name: string,
    args: Record<string, unknown>,
    options: CallOptions = {},
  ): Promise<{ result: CallToolResult; bytes: number }> {
    return this.sizedRequest(
      (client, requestOptions) =>
        client.callTool({ name, arguments: args }, undefined, {
          ...requestOptions,
          onprogress: options.onProgress,
        }) as Promise<CallToolResult>,
      options,
      `Tool "${name}"`,
    );
  }

  /**
   * Any request to the downstream (a tool call, a prompt, a resource read) under the same supervision:
   * a concurrency slot, a started instance, the call timeout with cancellation, the response size limit,
   * and clear errors.
   */
  async request<T>(
    send: (client: DownstreamClient, options: DownstreamRequestOptions) => Promise<T>,
    options: CallOptions = {},
    what = 'The answer',
  ): Promise<T> {
    return (await this.sizedRequest(send, options, what)).result;
  }

  /** `request`, with the answer's serialized size (measured once, for the response limit). */
  private async sizedRequest<T>(
    send: (client: DownstreamClient, options: DownstreamRequestOptions) => Promise<T>,
    options: CallOptions,
    what: string,
  ): Promise<{ result: T; bytes: number }> {
    this.lastUsedAt = new Date();
    const caller = options.caller ?? UNKNOWN_CALLER;
    const callerTrial = this.admitCaller(caller);
    try {
      await this.slots.acquire(caller, options.signal);
    } catch (error) {
      if (callerTrial) this.callerBreakers.trialEnded(caller);
      throw error;
    }
    let answered = false;
    let sent = false;
    let trial = false;
    // Every request in flight counts: a server's request or log is relayed only when exactly one could
    // have caused it, and only to a caller that can take it.
    const route: CallRoute = { onServerRequest: options.onServerRequest, onLog: options.onLog };
    this.callRoutes.add(route);
    try {
      const downstream = await abortable(this.ensureStarted(), options.signal);
      trial = this.admitShared();
      let result: T;
      sent = true;
      try {
        result = await send(downstream.client, {
          timeout: this.spec.config.timeouts.callMs,
          maxTotalTimeout: this.maxTotalMs(),
          signal: options.signal,
        });
      } catch (error) {
        answered = isAnswer(error);
        throw this.callError(error, downstream);
      }
      answered = true;
      const size = Buffer.byteLength(JSON.stringify(result) ?? '');
      if (size > this.hooks.settings.maxResponseBytes) {
        throw new DomainError(
          'DOWNSTREAM_FAILED',
          `${what} of MCP "${this.spec.slug}" returned ${formatBytes(size)}, more than the ` +
            `${formatBytes(this.hooks.settings.maxResponseBytes)} response limit`,
        );
      }
      return { result, bytes: size };
    } finally {
      if (answered) {
        // The downstream works: a breaker closes (and forgets its failures) only when this was its trial.
        if (trial) this.breaker.succeeded();
        if (callerTrial) this.callerBreakers.succeeded(caller);
      } else {
        if (trial) this.breaker.trialEnded();
        if (callerTrial) this.callerBreakers.trialEnded(caller);
        if (sent) this.unanswered.add(caller);
      }
      this.callRoutes.delete(route);
      this.lastUsedAt = new Date();
      this.slots.release(caller);
    }
  }

  /** Refuses a user whose own calls keep crashing this instance; true when this call is their trial. */
  private admitCaller(caller: string): boolean {
    if (caller === UNKNOWN_CALLER) return false;
    const verdict = this.callerBreakers.admit(caller);
    if (verdict.kind !== 'open') return verdict.kind === 'trial';
    const failures = this.callerBreakers.breaker(caller)?.failures ?? 0;
    throw unavailable(
      `Your calls made MCP "${this.spec.slug}" crash ${failures} times recently; ${openCircuitWhen(verdict, true)}`,
    );
  }

  /** With the circuit open (after its cool-down), only one trial call runs; true when this is it. */
  private admitShared(): boolean {
    const verdict = this.breaker.admit();
    if (verdict.kind !== 'open') return verdict.kind === 'trial';
    throw this.circuitOpen(verdict);
  }

  private circuitOpen(verdict: { waitMs: number; trialRunning: boolean }): DomainError {
    return unavailable(
      `MCP "${this.spec.slug}" failed ${this.breaker.failures} times recently (${this.lastError}); ` +
        openCircuitWhen(verdict),
    );
  }

  /** A call whose progress keeps resetting its idle timeout still ends after this long. */
  private maxTotalMs(): number {
    const { callMs } = this.spec.config.timeouts;
    return Math.max(callMs, this.hooks.settings.callMaxTotalMs ?? callMs * CALL_MAX_TOTAL_FACTOR);
  }

  private callError(error: unknown, downstream: Downstream): DomainError {
    if (error instanceof ResponseTooLarge) {
      return new DomainError(
        'DOWNSTREAM_FAILED',
        `MCP "${this.spec.slug}" sent more than the ${formatBytes(this.hooks.settings.maxResponseBytes)} ` +
          'response limit; reading stopped and the request was ended',
      );
    }
    if (error instanceof McpError) {
      if (error.code === McpErrorCode.RequestTimeout) {
        const total = (error.data as { kind?: string } | undefined)?.kind === 'total';
        const seconds = (total ? this.maxTotalMs() : this.spec.config.timeouts.callMs) / 1000;
        return new DomainError(
          'DOWNSTREAM_TIMEOUT',
          total
            ? `MCP "${this.spec.slug}" did not finish within ${seconds}s (the longest a call may run); the call was cancelled`
            : `MCP "${this.spec.slug}" did not answer within ${seconds}s; the call was cancelled`,
        );
      }
      if (error.code === McpErrorCode.ConnectionClosed) {
        const why = this.stopRequested ?? downstream.exitDescription() ?? 'the connection closed';
        return unavailable(`MCP "${this.spec.slug}" stopped during the call (${why})`);
      }
      return new DomainError(
        'DOWNSTREAM_FAILED',
        `MCP "${this.spec.slug}" refused the call: ${this.redact(error.message)}`,
      );
    }
    if (error instanceof Error && error.name === 'AbortError') {
      return new DomainError('DOWNSTREAM_FAILED', 'The call was cancelled by the client');
    }
    return new DomainError(
      'DOWNSTREAM_FAILED',
      `MCP "${this.spec.slug}" failed: ${this.redact(error instanceof Error ? error.message : String(error))}`,
    );
  }

  /** Health check: a missed ping counts as a crash; an answered one shows the instance has recovered. */
  async ping(timeoutMs: number): Promise<void> {
    const downstream = this.downstream;
    if (this.state !== 'ready' || !downstream) return;
    try {
      await downstream.client.ping({ timeout: timeoutMs });
      // Failures are forgotten as the window passes; only an answered trial call closes the circuit.
    } catch {
      this.hooks.log.warn({ mcp: this.spec.slug, key: this.key }, 'downstream MCP did not answer ping');
      await this.dropConnection(downstream, `did not answer a health ping within ${timeoutMs / 1000}s`);
    }
  }

  /** Stops the downstream now; in-flight calls fail with `reason`. New calls already go to a fresh instance. */
  async stop(reason: string): Promise<void> {
    if (this.terminated) return;
    this.stopRequested = reason;
    this.terminate();
    this.state = 'stopping';
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAt = null;
    this.slots.refuseAll(() => unavailable(`MCP "${this.spec.slug}" was stopped (${reason})`));
    await this.starting?.catch(() => undefined);
    const downstream = this.downstream;
    this.downstream = undefined;
    await downstream?.close().catch(() => undefined);
    this.state = 'stopped';
    this.hooks.log.info({ mcp: this.spec.slug, key: this.key, reason }, 'downstream MCP stopped');
  }

  /** Leaves the manager for good, synchronously, so no new call can reach this instance. */
  private terminate(): void {
    this.terminated = true;
    this.state = 'stopped';
    this.hooks.onStopped(this);
  }

  /** Stops once in-flight calls finish (bounded by the call timeout); used when a new config version goes live. */
  async retire(reason: string): Promise<void> {
    this.retiring = true;
    const deadline = Date.now() + this.spec.config.timeouts.callMs;
    while (!this.isIdle && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    await this.stop(reason);
  }

  /**
   * Over stdio a server's request carries no link to the call that caused it, so it is relayed only when
   * exactly one call that can answer is in flight: it can never reach another user's session.
   */
  private soleCallRoute(): CallRoute | undefined {
    const [route, ...others] = this.callRoutes;
    return others.length === 0 ? route : undefined;
  }

  private routeServerRequest(request: ServerToClientRequest): Promise<Record<string, unknown>> {
    const answer = this.soleCallRoute()?.onServerRequest;
    if (!answer) {
      return Promise.reject(
        new McpError(McpErrorCode.InvalidRequest, 'Gatehouse cannot tell which client this request is for'),
      );
    }
    return answer(request);
  }

  /** Shares one downstream subscription per URI among every session (`subscriber`) that asked for it. */
  async subscribeResource(
    uri: string,
    subscriber: string,
    listener: (uri: string) => void,
    options: CallOptions = {},
  ): Promise<void> {
    if (!this.resourceListeners.get(uri)?.size) {
      await this.request(
        (client, requestOptions) => client.subscribeResource({ uri }, requestOptions),
        options,
      );
    }
    const listeners = this.resourceListeners.get(uri) ?? new Map<string, (uri: string) => void>();
    listeners.set(subscriber, listener);
    this.resourceListeners.set(uri, listeners);
  }

  /** Removes `subscriber`'s listener, when it is still `listener` (a newer one stays). */
  async unsubscribeResource(
    uri: string,
    subscriber: string,
    listener: (uri: string) => void,
    options: CallOptions = {},
  ): Promise<void> {
    const listeners = this.resourceListeners.get(uri);
    if (listeners?.get(subscriber) !== listener) return;
    listeners.delete(subscriber);
    if (listeners.size > 0) return;
    this.resourceListeners.delete(uri);
    await this.request(
      (client, requestOptions) => client.unsubscribeResource({ uri }, requestOptions),
      options,
    );
  }

  /** How many sessions listen for updates of `uri` (for tests and status). */
  resourceSubscribers(uri: string): number {
    return this.resourceListeners.get(uri)?.size ?? 0;
  }

  logs(): LogLine[] {
    return this.stderr.snapshot();
  }

  status(): InstanceStatus {
    const now = Date.now();
    return {
      key: this.key,
      mcpId: this.spec.mcpId,
      slug: this.spec.slug,
      versionId: this.spec.versionId,
      userId: this.spec.userId,
      state: this.state,
      healthy: this.state === 'ready',
      pid: this.downstream?.pid ?? null,
      startedAt: this.state === 'ready' ? (this.startedAt?.toISOString() ?? null) : null,
      uptimeSeconds:
        this.state === 'ready' && this.startedAt ? Math.round((now - this.startedAt.getTime()) / 1000) : null,
      restarts: this.restarts,
      consecutiveFailures: this.breaker.failures,
      nextRestartAt: this.nextRestartAt?.toISOString() ?? null,
      lastError: this.lastError,
      inFlight: this.slots.inFlight,
      queued: this.slots.queued,
      lastUsedAt: this.lastUsedAt?.toISOString() ?? null,
    };
  }
}

/**
 * How much a crash attributed to one user counts for the instance's breaker: two users' (or accounts')
 * attributed crashes weigh as much as one crash nobody can be blamed for (ADR 0020).
 */
const ATTRIBUTED_CRASH_WEIGHT = 0.5;

/** Without a setting, a call reporting progress may run this many idle timeouts in all. */
const CALL_MAX_TOTAL_FACTOR = 10;

/** What each forwarded request gets: the idle timeout, the total bound, and the caller's signal. */
export type DownstreamRequestOptions = Pick<PeerRequestOptions, 'timeout' | 'maxTotalTimeout' | 'signal'>;

/** What a call in flight can receive from the downstream besides its result. */
interface CallRoute {
  onServerRequest?: ((request: ServerToClientRequest) => Promise<Record<string, unknown>>) | undefined;
  onLog?: ((params: LoggingMessageNotification['params']) => void) | undefined;
}

/** The downstream answered the request, if only with an error: it is up and speaking MCP. */
const isAnswer = (error: unknown) =>
  error instanceof McpError &&
  error.code !== McpErrorCode.RequestTimeout &&
  error.code !== McpErrorCode.ConnectionClosed;

/** Stops waiting (the work itself goes on) when the caller gives up. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    // Nobody waits for `work` now: its failure (a start refused in backoff, say) must not go unhandled,
    // since an unhandled rejection ends the server process.
    work.catch(() => undefined);
    return Promise.reject(new DomainError('DOWNSTREAM_FAILED', 'The call was cancelled by the client'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(new DomainError('DOWNSTREAM_FAILED', 'The call was cancelled by the client'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const formatBytes = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
