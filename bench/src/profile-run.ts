import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startFixtureHttp } from '../../server/test/fixtures/fixture-launch.js';
import { cpuSeconds } from './cpu.js';
import { closeSessions, driveLean, leanAgent, openSessions } from './lean-client.js';
import { benchDatabase, startGatehouseProcess, temporaryDataDir } from './processes.js';
import { provision } from './provision.js';

/**
 * One arm, one N: the lean generator drives `tools/call echo` through Gatehouse over the Streamable HTTP
 * downstream while Gatehouse runs with `--cpu-prof`. The load window (monotonic µs, the clock of the
 * .cpuprofile's timestamps on Linux) is written beside the profile, so `profile-summary.ts --window` counts
 * only the samples taken under load, not start-up, provisioning or shutdown.
 *
 *   DATABASE_URL=… npx tsx src/profile-run.ts --concurrency 64 --seconds 12 --out profiles
 */
const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '3' },
    out: { type: 'string', default: 'profiles' },
  },
});
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const out = path.resolve(values.out ?? 'profiles');
mkdirSync(out, { recursive: true });
process.env.GATEHOUSE_BENCH_CPU_PROF = out;
const log = (line: string) => process.stderr.write(`${line}\n`);
const nowMicros = () => Number(process.hrtime.bigint() / 1000n);

const database = await benchDatabase(process.env.DATABASE_URL || undefined);
const downstream = await startFixtureHttp('http');
const gatehouse = await startGatehouseProcess(database.url, temporaryDataDir());
try {
  const provisioner = await provision(gatehouse.portal);
  const mcp = await provisioner.publish('bench', {
    connection: { transport: 'streamable-http', url: downstream.url },
    limits: { maxConcurrentCalls: 256, maxInstances: 1 },
  });
  const keys = (await provisioner.clientKeys(concurrency, [mcp])).map((client) => client.key);
  const agent = leanAgent(concurrency);
  const sessions = await openSessions(agent, concurrency, (i) => ({
    url: `${gatehouse.client}/mcp`,
    headers: { authorization: `Bearer ${keys[i]}` },
    tool: 'bench__echo',
  }));
  await driveLean(sessions, Number(values.warmup));
  const cpuBefore = cpuSeconds(gatehouse.pid);
  const from = nowMicros();
  const run = await driveLean(sessions, seconds);
  const to = nowMicros();
  const cpu = cpuSeconds(gatehouse.pid) - cpuBefore;
  await closeSessions(sessions);
  agent.destroy();
  const calls = run.latencies.length;
  const summary = {
    concurrency,
    seconds,
    calls,
    errors: run.errors,
    callsPerSecond: Math.round(calls / seconds),
    gatewayCpuMsPerCall: Math.round(((cpu * 1000) / calls) * 1000) / 1000,
    window: { from, to },
  };
  writeFileSync(path.join(out, `window-${gatehouse.pid}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  log(JSON.stringify(summary));
} finally {
  await gatehouse.stop();
  await downstream.close();
  await database.close();
}
