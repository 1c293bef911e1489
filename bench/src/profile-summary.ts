import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/**
 * Self time of a V8 .cpuprofile, grouped by where the code lives: Gatehouse's own directories, the
 * libraries it runs on, Node.js internals, and V8's own (GC, program, idle). Frames without a script
 * (V8 builtins and native bindings such as `writev`) are charged to the nearest caller that has one, so
 * they land in the category of the code that called them. `--window window.json` (from profile-run.ts)
 * counts only the samples taken under load.
 *
 * `--callers <regex>` also lists the stacks (`--depth`, 5 callers deep by default) under the functions whose name matches.
 *
 * `--inclusive <regex>` (repeatable) gives the share of samples with a frame whose `name url` matches on the stack.
 *
 *   npx tsx src/profile-summary.ts CPU.….cpuprofile --window window-….json [--top 15] [--callers writev]
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    window: { type: 'string' },
    top: { type: 'string', default: '15' },
    callers: { type: 'string' },
    depth: { type: 'string', default: '5' },
    inclusive: { type: 'string', multiple: true },
  },
});
const file = positionals[0];
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [--window window.json] [--top N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const window = values.window
  ? (JSON.parse(readFileSync(values.window, 'utf8')) as { window: { from: number; to: number } }).window
  : { from: -Infinity, to: Infinity };

const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);
const PACKAGE_GROUPS: [RegExp, string][] = [
  [
    /^(fastify|@fastify\/.*|find-my-way|avvio|light-my-request|fast-json-stringify|fast-querystring|toad-cache)$/,
    'fastify',
  ],
  [/^undici$/, 'undici'],
  [/^(pg|pg-.*|postgres-.*)$/, 'pg'],
  [/^(pino|pino-.*|sonic-boom|thread-stream|fast-redact|on-exit-leak-free)$/, 'pino'],
  [/^zod$/, 'zod'],
  [/^@modelcontextprotocol\/sdk$/, 'MCP SDK'],
  [/^(@mikro-orm\/.*|knex)$/, 'MikroORM'],
  [/^(tsx|esbuild)$/, 'tsx'],
];

function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return SPECIAL.has(functionName) ? `V8 ${functionName}` : '';
  if (url.startsWith('wasm://')) return 'wasm (llhttp)';
  if (url.startsWith('node:')) {
    const name = url.slice(5);
    if (/streams|^stream/.test(name)) return 'node: streams';
    if (/http|^_http/.test(name)) return 'node: http';
    if (/^net$|internal\/net|stream_base_commons|^dns/.test(name)) return 'node: net (socket I/O)';
    if (/crypto/.test(name)) return 'node: crypto';
    if (/source_map|internal\/errors/.test(name)) return 'node: error stacks (source-mapped)';
    if (/abort_controller|domexception|event_target/.test(name)) return 'node: AbortController, DOMException';
    if (/async_hooks|async_local_storage/.test(name)) return 'node: async hooks';
    if (/timers|task_queues/.test(name)) return 'node: timers, task queues';
    if (/^events$/.test(name)) return 'node: events';
    return 'node: other';
  }
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    const name = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? '?');
    for (const [pattern, group] of PACKAGE_GROUPS) if (pattern.test(name)) return group;
    return `other package: ${name}`;
  }
  const own = /\/(server|schema|sdk|migrations)\/src\/(?:([^/]+)\/)?/.exec(url);
  if (own)
    return own[1] === 'server' ? `gatehouse: ${own[2] ? `${own[2]}/` : 'src/*.ts'}` : `@gatehouse/${own[1]}`;
  return `other: ${url}`;
}

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
/** Category of a node: its own, or (no script) that of the nearest caller with one. */
const categoryOf = new Map<number, string>();
function resolve(id: number): string {
  const known = categoryOf.get(id);
  if (known !== undefined) return known;
  const node = byId.get(id) as ProfileNode;
  let found = category(node.callFrame);
  if (!found) {
    const up = parent.get(id);
    found = up === undefined ? 'native (no caller)' : resolve(up);
    if (found === 'V8 (root)') found = `native: ${node.callFrame.functionName}`;
  }
  categoryOf.set(id, found);
  return found;
}
/** Categories anywhere on the stack of a node, for inclusive time. */
const stackOf = new Map<number, Set<string>>();
function stack(id: number): Set<string> {
  const known = stackOf.get(id);
  if (known) return known;
  const up = parent.get(id);
  const set = new Set(up === undefined ? [] : stack(up));
  set.add(resolve(id));
  stackOf.set(id, set);
  return set;
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const functions = new Map<string, { micros: number; category: string }>();
const callers = new Map<string, number>();
const callersOf = values.callers ? new RegExp(values.callers) : undefined;
let total = 0;
const inclusiveOf = (values.inclusive ?? []).map((source) => ({
  pattern: new RegExp(source),
  source,
  micros: 0,
}));
function onStack(id: number, pattern: RegExp): boolean {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = (byId.get(at) as ProfileNode).callFrame;
    if (pattern.test(`${frame.functionName} ${frame.url}`)) return true;
  }
  return false;
}
let time = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  time += profile.timeDeltas[i] ?? 0;
  // A sample's weight is the time until the next one (the last one's, the time to the profile's end).
  const next = i + 1 < profile.samples.length ? time + (profile.timeDeltas[i + 1] ?? 0) : profile.endTime;
  if (time < window.from || time > window.to) continue;
  const micros = Math.max(0, next - time);
  const id = profile.samples[i] as number;
  const node = byId.get(id) as ProfileNode;
  const group = resolve(id);
  total += micros;
  self.set(group, (self.get(group) ?? 0) + micros);
  for (const entry of stack(id)) inclusive.set(entry, (inclusive.get(entry) ?? 0) + micros);
  for (const entry of inclusiveOf) if (onStack(id, entry.pattern)) entry.micros += micros;
  const { functionName, url, lineNumber } = node.callFrame;
  if (callersOf?.test(functionName)) {
    const chain: string[] = [];
    for (
      let up = parent.get(id);
      up !== undefined && chain.length < Number(values.depth);
      up = parent.get(up)
    ) {
      const frame = (byId.get(up) as ProfileNode).callFrame;
      chain.push(
        `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|src)\//, '')}`,
      );
    }
    const path = `${functionName} ← ${chain.join(' ← ')}`;
    callers.set(path, (callers.get(path) ?? 0) + micros);
  }
  // tsx compiles each file to few lines, so Gatehouse's own line numbers say nothing: only the file is shown.
  const file = url
    .replace(/^.*\/node_modules\//, '')
    .replace(/^file:\/\/.*?\/(server|schema|sdk)\/src\//, '$1/src/');
  const where = !url ? '' : file.includes('/src/') ? ` ${file}` : ` ${file}:${lineNumber + 1}`;
  const key = `${functionName || '(anonymous)'}${where}`;
  const entry = functions.get(key) ?? { micros: 0, category: group };
  entry.micros += micros;
  functions.set(key, entry);
}

const pct = (micros: number) => `${((100 * micros) / total).toFixed(1)} %`;
const ms = (micros: number) => `${(micros / 1000).toFixed(0)} ms`;
const lines: string[] = [];
lines.push(`${file}: ${ms(total)} sampled${values.window ? ' in the load window' : ''}`);
lines.push('', '| category | self | self % | inclusive % |', '| --- | --: | --: | --: |');
for (const [group, micros] of [...self].sort((a, b) => b[1] - a[1])) {
  lines.push(`| ${group} | ${ms(micros)} | ${pct(micros)} | ${pct(inclusive.get(group) ?? 0)} |`);
}
lines.push('', '| function | category | self % |', '| --- | --- | --: |');
for (const [key, { micros, category: group }] of [...functions]
  .sort((a, b) => b[1].micros - a[1].micros)
  .slice(0, Number(values.top))) {
  lines.push(`| \`${key}\` | ${group} | ${pct(micros)} |`);
}
for (const { source, micros } of inclusiveOf) lines.push(`on the stack /${source}/: ${pct(micros)}`);
if (callersOf) {
  lines.push('', `stacks under /${values.callers}/:`);
  for (const [path, micros] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    lines.push(`${pct(micros).padStart(7)}  ${path}`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
