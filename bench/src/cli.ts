import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultOptions, formatTable, runBenchmark } from './benchmark.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: defaultOptions.concurrency.join(',') },
    'stdio-concurrency': { type: 'string', default: defaultOptions.stdioConcurrency.join(',') },
    seconds: { type: 'string', default: String(defaultOptions.seconds) },
    rounds: { type: 'string', default: String(defaultOptions.rounds) },
  },
});
const list = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);

const report = await runBenchmark({
  ...defaultOptions,
  concurrency: list(values.concurrency),
  stdioConcurrency: list(values['stdio-concurrency']),
  seconds: Number(values.seconds),
  rounds: Number(values.rounds),
  databaseUrl: process.env.DATABASE_URL || undefined,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`\n${formatTable(report)}\n\n`);
const dir = path.resolve(import.meta.dirname, '../results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${report.startedAt.replaceAll(':', '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`written to ${path.relative(process.cwd(), file)}\n`);
