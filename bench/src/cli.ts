import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatTable, runBenchmark } from './benchmark.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1,16,64,256' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
  },
});

const report = await runBenchmark({
  concurrency: (values.concurrency ?? '')
    .split(',')
    .map(Number)
    .filter((n) => n > 0),
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
