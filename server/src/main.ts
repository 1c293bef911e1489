import type { AddressInfo } from 'node:net';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DestinationStream } from 'pino';
import { ChainMonitor } from './audit/chain-monitor.js';
import { AuditExplorer } from './audit/explorer.service.js';
import { AuditBatcher } from './audit/group-commit.js';
import { AuditMaintenance, ensureAuditPartitions } from './audit/maintenance.js';
import { AuditReader } from './audit/reader.js';
import { RefusalAudit } from './audit/refusal-audit.js';
import { warmEagerMcps } from './catalog/catalog.service.js';
import { LiveCatalog } from './catalog/live-catalog.js';
import { PinReconciler } from './catalog/pin-reconciler.js';
import { deriveKey, hashPassword, randomBase62 } from './crypto/index.js';
import { LoginThrottle, scheduleThrottlePruning } from './identity/login-throttle.js';
import { SetupGate } from './identity/setup.service.js';
import { ThrottleStore } from './identity/throttle-store.js';
import { ApiTokenThrottle } from './identity/token-throttle.js';
import { KillSwitchBoard } from './kill-switches/kill-switch-board.js';
import { DownstreamOAuth } from './oauth/oauth.service.js';
import { AuthorizationServer } from './oauth-server/authorization-server.js';
import { PublicUrls } from './oauth-server/resources.js';
import { ChangeBus } from './platform/change-bus.js';
import { type Clock, systemClock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { systemContext } from './platform/context.js';
import { type Database, openDatabase } from './platform/db.js';
import { type Apps, buildApps } from './platform/http.js';
import { createLogger } from './platform/logger.js';
import { loadTls, scheduleSelfSignedRenewal } from './platform/tls.js';
import { ClientAccessCache } from './proxy/access.js';
import { KeyGuard } from './proxy/key-guard.js';
import { ClientKeyIndex } from './proxy/key-index.js';
import { McpEndpoint } from './proxy/mcp-endpoint.js';
import { SessionStore } from './proxy/session-store.js';
import { ToolGateway } from './proxy/tool-gateway.js';
import { RuntimeManager } from './runtime/runtime-manager.js';
import type { PortalDeps } from './trpc/context.js';
import { VaultCredentialProvider } from './vault/credentials.service.js';
import { Keyring } from './vault/keyring.js';
import { auditUnreadableValues } from './vault/unreadable-audit.js';
import { Vault } from './vault/vault.js';

export interface RunningGatehouse {
  readonly config: Config;
  readonly database: Database;
  readonly apps: Apps;
  readonly liveCatalog: LiveCatalog;
  readonly runtime: RuntimeManager;
  /** The MCP endpoint, for its session bookkeeping (replay memory per client). */
  readonly mcp: McpEndpoint;
  readonly audit: PortalDeps['audit'];
  readonly clientUrl: string;
  readonly portalUrl: string;
  /** Stops accepting, lets in-flight requests finish (bounded by the shutdown grace), then closes the DB. */
  close(): Promise<void>;
}

export async function startGatehouse(
  config: Config,
  options: { logDestination?: DestinationStream; clock?: Clock } = {},
): Promise<RunningGatehouse> {
  const clock = options.clock ?? systemClock;
  const logger = createLogger(config.logLevel, options.logDestination);
  const keyring = Keyring.load(config, logger);
  const tls = await loadTls(config, logger);
  const database = await openDatabase(config, logger, { migrate: true, role: 'server' });
  const forkEm = () => database.orm.em.fork() as EntityManager;
  await ensureAuditPartitions(forkEm(), clock.now());
  const changes = new ChangeBus();
  const vault = new Vault(
    keyring,
    auditUnreadableValues({ em: forkEm, config, changes, clock, log: logger.child({ component: 'vault' }) }),
  );
  const liveCatalog = new LiveCatalog(database.orm);
  changes.subscribe((change) => {
    if (change.kind === 'catalog') liveCatalog.invalidate(change.mcpId);
  });
  const pins = new PinReconciler(database.orm, config, liveCatalog, changes, clock);
  const runtime = new RuntimeManager({
    settings: config.runtime,
    log: logger.child({ component: 'runtime' }),
    credentials: new VaultCredentialProvider(forkEm, vault),
    onListing: (spec, listing) => pins.reconcile(spec, listing),
    clock,
  });
  changes.subscribe((change) => {
    if (change.kind === 'credentials') void runtime.renewCredentials(change.mcpId, change.userId);
  });
  runtime.followUserFences(changes);
  const oauth = new DownstreamOAuth({
    em: forkEm,
    vault,
    config,
    changes,
    clock,
  });
  const audit = new AuditBatcher(database.url, {
    onUsageError: (error) => logger.error({ err: error }, 'audit usage fold failed'),
  });
  const throttleStore = new ThrottleStore(database.orm, clock);
  const refusals = new RefusalAudit({
    append: (record) => audit.append(record),
    clock,
    windowMs: config.throttle.auditWindowMs,
    log: logger.child({ component: 'auth-refusals' }),
  });
  const throttle = new LoginThrottle({
    store: throttleStore,
    orm: database.orm,
    clock,
    settings: config.throttle,
  });
  const deps = {
    orm: database.orm,
    config,
    throttle,
    refusals,
    tokenThrottle: new ApiTokenThrottle({ store: throttleStore, refusals, settings: config.throttle }),
    setupGate: new SetupGate(),
    dummyPasswordHash: hashPassword(randomBase62(24)),
    catalog: { liveCatalog, runtime },
    changes,
    clock,
    vault: { vault, keyring },
    oauth,
    audit: {
      explorer: new AuditExplorer(new AuditReader(database.url), clock),
      monitor: new ChainMonitor(forkEm, clock, logger.child({ component: 'audit-chain' })),
    },
  };
  const maintenance = new AuditMaintenance(
    () => systemContext(forkEm(), config, changes, clock),
    config.audit,
    logger.child({ component: 'audit-maintenance' }),
  );
  const kills = new KillSwitchBoard(database.orm, changes);
  const access = new ClientAccessCache(database.orm, changes);
  const keyIndex = new ClientKeyIndex(database.orm, changes, logger.child({ component: 'client-keys' }));
  await keyIndex.load();
  let apps: Apps | undefined;
  const portOf = (app: 'client' | 'portal', fallback: number) =>
    (apps?.[app].server.address() as AddressInfo | null)?.port ?? fallback;
  const urls = new PublicUrls(config, {
    secure: tls !== undefined,
    clientPort: () => portOf('client', config.clientPort),
    portalPort: () => portOf('portal', config.portalPort),
  });
  const authorization = new AuthorizationServer({
    orm: database.orm,
    config,
    clock,
    changes,
    vault,
    urls,
    log: logger.child({ component: 'oauth-server' }),
  });
  const gateway = new ToolGateway({
    liveCatalog,
    runtime,
    audit,
    argsKey: deriveKey(keyring.active().key, 'gatehouse-audit-args-v1'),
    config,
    changes,
    kills,
    oauth,
    clock,
  });
  const mcp = new McpEndpoint({
    access,
    guard: new KeyGuard({
      access,
      index: keyIndex,
      store: throttleStore,
      refusals,
      settings: config.throttle,
      tokens: authorization.tokens,
    }),
    refusals,
    urls,
    gateway,
    config,
    changes,
    store: new SessionStore(database.orm, clock, {
      onFlushError: (error) => logger.warn({ err: error }, 'could not record MCP session activity'),
    }),
    clock,
    log: logger.child({ component: 'mcp' }),
  });
  try {
    const clientPort = () => portOf('client', config.clientPort);
    apps = await buildApps({ ...deps, mcp, clientPort }, logger, tls, { mcp, authorization });
    await apps.client.listen({ host: config.host, port: config.clientPort });
    await apps.portal.listen({ host: config.host, port: config.portalPort });
  } catch (error) {
    await apps?.client.close();
    await apps?.portal.close();
    await runtime.shutdown();
    await refusals.close();
    await audit.close();
    await deps.audit.explorer.reader.close();
    await database.close();
    throw error;
  }
  deps.audit.monitor.start();
  maintenance.start();
  const stopThrottlePruning = scheduleThrottlePruning(throttleStore, throttle, config.throttle, logger);
  void maintenance.runOnce();
  const running = apps;
  warmEagerMcps(forkEm(), { liveCatalog, runtime }).catch((error: unknown) =>
    logger.error({ err: error }, 'could not start eager MCPs'),
  );
  const stopRenewal = scheduleSelfSignedRenewal(config, logger, (material) => {
    for (const app of [running.client, running.portal]) {
      (app.server as unknown as { setSecureContext(ctx: object): void }).setSecureContext(material);
    }
  });
  const scheme = tls ? 'https' : 'http';
  const urlOf = (app: typeof running.client) => {
    const { port } = app.server.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return `${scheme}://${host}:${port}`;
  };
  let closing: Promise<void> | undefined;
  return {
    config,
    database,
    apps: running,
    liveCatalog,
    runtime,
    mcp,
    audit: deps.audit,
    clientUrl: urlOf(running.client),
    portalUrl: urlOf(running.portal),
    close() {
      closing ??= (async () => {
        stopRenewal();
        const drained = Promise.all([running.client.close(), running.portal.close()]);
        // An idle GET stream is an open request: left open, it would hold the drain for the whole grace.
        mcp.closeIdleStreams();
        const grace = new Promise<'timeout'>((resolve) =>
          setTimeout(resolve, config.shutdownGraceMs, 'timeout').unref(),
        );
        if ((await Promise.race([drained, grace])) === 'timeout') {
          logger.warn('shutdown grace period elapsed; closing remaining connections');
          running.client.server.closeAllConnections();
          running.portal.server.closeAllConnections();
          await drained;
        }
        await deps.audit.monitor.stop();
        await maintenance.stop();
        stopThrottlePruning();
        await runtime.shutdown();
        await refusals.close();
        await audit.close();
        await deps.audit.explorer.reader.close();
        await database.close();
        logger.info('Gatehouse stopped');
      })();
      return closing;
    },
  };
}
