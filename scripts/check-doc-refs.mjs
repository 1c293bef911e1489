#!/usr/bin/env node
// Fails when a document names a file that does not exist: markdown links (relative to the document) and
// code spans that look like source paths (`server/src/proxy/pipeline.ts`, or `proxy/pipeline.ts` relative to a
// package's source folder). Keeps docs/architecture.md and the ADRs true as files move.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bases = [
  '',
  'server/src',
  'server',
  'web/src',
  'web',
  'sdk/src',
  'sdk',
  'schema/src',
  'bench/src',
  'bench',
  'migrations/src',
];
const pathLike = /^[\w.@/-]+\.(?:ts|tsx|mjs|js|md|json|sql|yml|yaml|sh)$/;

function documents() {
  const found = ['README.md'];
  const walk = (dir) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith('.md')) found.push(relative);
    }
  };
  walk('docs');
  return found;
}

const problems = [];
for (const doc of documents()) {
  const text = readFileSync(path.join(root, doc), 'utf8');
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    for (const [, target] of line.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue;
      if (!existsSync(path.resolve(path.dirname(path.join(root, doc)), target))) {
        problems.push(`${doc}:${index + 1}: link to missing ${target}`);
      }
    }
    for (const [, span] of line.matchAll(/`([^`\s]+)`/g)) {
      const candidate = span.replace(/:\d+$/, '');
      if (!pathLike.test(candidate) || candidate.startsWith('.') || !candidate.includes('/')) continue;
      if (candidate.includes('*') || candidate.startsWith('node_modules')) continue;
      // A decision record may name a file it removed or renamed, if it says so on the same line.
      if (doc.startsWith('docs/decisions/') && /\b(?:removed|renamed)\b/.test(line)) continue;
      if (!bases.some((base) => existsSync(path.join(root, base, candidate)))) {
        problems.push(`${doc}:${index + 1}: names missing ${candidate}`);
      }
    }
  });
}

if (problems.length > 0) {
  process.stderr.write(`Dead references in the docs (${problems.length}):\n${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('docs: every referenced file exists\n');
