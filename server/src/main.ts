import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { hashPassword, randomBase62 } from './crypto/index.js';
import { LoginThrottle } from './identity/login-throttle.js';
import { SetupGate } from './identity/setup.service.js';
import type { Config } from './platform/config.js';
import { type Database, openDatabase } from './platform/db.js';
import { type Apps, buildApps } from './platform/http.js';
import { createLogger } from './platform/logger.js';
import { loadMasterKey } from './platform/master-key.js';
import { loadTls, scheduleSelfSignedRenewal } from './platform/tls.js';

export interface RunningGatehouse {
  readonly config: Config;
  readonly database: Database;
  readonly apps: Apps;
  readonly clientUrl: string;
  readonly portalUrl: string;
  /** Stops accepting, lets in-flight requests finish (bounded by the shutdown grace), then closes the DB. */
  close(): Promise<void>;
}

export async function startGatehouse(
  config: Config,
  options: { logDestination?: DestinationStream } = {},
): Promise<RunningGatehouse> {
  const logger = createLogger(config.logLevel, options.logDestination);
  loadMasterKey(config, logger);
  const tls = await loadTls(config, logger);
  const database = await openDatabase(config, logger, { migrate: true });
  const deps = {
    orm: database.orm,
    config,
    throttle: new LoginThrottle(),
    setupGate: new SetupGate(),
    dummyPasswordHash: hashPassword(randomBase62(24)),
  };
  let apps: Apps | undefined;
  try {
    apps = await buildApps(deps, logger, tls);
    await apps.client.listen({ host: config.host, port: config.clientPort });
    await apps.portal.listen({ host: config.host, port: config.portalPort });
  } catch (error) {
    await apps?.client.close();
    await apps?.portal.close();
    await database.close();
    throw error;
  }
  const running = apps;
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
    clientUrl: urlOf(running.client),
    portalUrl: urlOf(running.portal),
    close() {
      closing ??= (async () => {
        stopRenewal();
        const drained = Promise.all([running.client.close(), running.portal.close()]);
        const grace = new Promise<'timeout'>((resolve) =>
          setTimeout(resolve, config.shutdownGraceMs, 'timeout').unref(),
        );
        if ((await Promise.race([drained, grace])) === 'timeout') {
          logger.warn('shutdown grace period elapsed; closing remaining connections');
          running.client.server.closeAllConnections();
          running.portal.server.closeAllConnections();
          await drained;
        }
        await database.close();
        logger.info('Gatehouse stopped');
      })();
      return closing;
    },
  };
}
