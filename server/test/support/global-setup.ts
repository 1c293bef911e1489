import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/platform/db.js';
import { createLogger } from '../../src/platform/logger.js';

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Uses the PostgreSQL server on 127.0.0.1:5432 (or TEST_PG_URL); when none answers, starts embedded
 * PostgreSQL for the run. Every suite then creates its own database on it.
 */
export async function setup(project: TestProject) {
  const configured = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  if (await reachable(configured)) {
    project.provide('pgAdminUrl', configured);
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-pg-'));
  const embedded = await startEmbeddedPostgres(dir, createLogger('warn'));
  const url = new URL(embedded.url);
  url.pathname = '/postgres';
  project.provide('pgAdminUrl', url.toString());
  return async () => {
    await embedded.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
