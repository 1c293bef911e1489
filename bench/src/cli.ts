import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultOptions, formatTable, runBenchmark } from './benchmark.js';
import { defaultExplorerOptions, formatExplorerTable, runExplorerBench } from './explorer.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: defaultOptions.concurrency.join(',') },
    'stdio-concurrency': { type: 'string', default: defaultOptions.stdioConcurrency.join(',') },
    seconds: { type: 'string', default: String(defaultOptions.seconds) },
    rounds: { type: 'string', default: String(defaultOptions.rounds) },
    'explorer-events': { type: 'string', default: String(defaultExplorerOptions.events) },
    'explorer-only': { type: 'boolean', default: false },
  },
});
const list = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);

const log = (line: string) => process.stderr.write(`${line}\n`);
const databaseUrl = process.env.DATABASE_URL || undefined;
const startedAt = new Date().toISOString();
const proxy = values['explorer-only']
  ? undefined
  : await runBenchmark({
      ...defaultOptions,
      concurrency: list(values.concurrency),
      stdioConcurrency: list(values['stdio-concurrency']),
      seconds: Number(values.seconds),
      rounds: Number(values.rounds),
      databaseUrl,
      log,
    });
if (proxy) process.stdout.write(`\n${formatTable(proxy)}\n\n`);
const explorerEvents = Number(values['explorer-events']);
const explorer =
  explorerEvents > 0
    ? await runExplorerBench({ ...defaultExplorerOptions, events: explorerEvents, databaseUrl, log })
    : undefined;
if (explorer) process.stdout.write(`\n${formatExplorerTable(explorer)}\n\n`);
const report = { startedAt, proxy, explorer };
const dir = path.resolve(import.meta.dirname, '../results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${report.startedAt.replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`written to ${path.relative(process.cwd(), file)}\n`);
