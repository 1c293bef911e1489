import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { certificateValidTo } from '../crypto/index.js';
import type { Config } from './config.js';

export interface TlsMaterial {
  key: string;
  cert: string;
}

const validityDays = 365;
/** A self-signed certificate is replaced this long before it expires. */
const renewBeforeMs = 30 * 86_400_000;

async function selfSigned(config: Config, log: FastifyBaseLogger): Promise<TlsMaterial> {
  const dir = path.join(config.dataDir, 'tls');
  const certFile = path.join(dir, 'self-signed.crt');
  const keyFile = path.join(dir, 'self-signed.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    if (certificateValidTo(cert).getTime() - Date.now() > renewBeforeMs) {
      return { cert, key: readFileSync(keyFile, 'utf8') };
    }
    log.info({ certFile }, 'self-signed certificate expires soon; generating a new one');
  }
  const now = new Date();
  // Loaded only to make a certificate: node-forge is ~8 MiB resident that other modes never need (ADR 0029).
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'gatehouse.local' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + validityDays * 86_400_000),
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          ...(config.host !== '127.0.0.1' && config.host !== 'localhost' && config.host !== '0.0.0.0'
            ? [
                /^[\d.]+$/.test(config.host)
                  ? { type: 7 as const, ip: config.host }
                  : { type: 2 as const, value: config.host },
              ]
            : []),
        ],
      },
    ],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  log.info({ certFile }, 'generated a self-signed TLS certificate');
  return { cert: pems.cert, key: pems.private };
}

/** TLS material for the configured mode, or undefined for plain HTTP. */
export async function loadTls(config: Config, log: FastifyBaseLogger): Promise<TlsMaterial | undefined> {
  switch (config.tls.mode) {
    case 'off':
      return undefined;
    case 'files':
      return {
        cert: readFileSync(config.tls.certFile ?? '', 'utf8'),
        key: readFileSync(config.tls.keyFile ?? '', 'utf8'),
      };
    case 'self-signed':
      return selfSigned(config, log);
  }
}

/** Checks the self-signed certificate twice a day and swaps a renewed one into the running servers. */
export function scheduleSelfSignedRenewal(
  config: Config,
  log: FastifyBaseLogger,
  apply: (material: TlsMaterial) => void,
): () => void {
  if (config.tls.mode !== 'self-signed') return () => {};
  const timer = setInterval(
    () => {
      selfSigned(config, log).then(apply, (error) => log.error({ err: error }, 'certificate renewal failed'));
    },
    12 * 3600 * 1000,
  );
  timer.unref();
  return () => clearInterval(timer);
}
