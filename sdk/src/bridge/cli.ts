#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { checkClientKey, parseEndpointUrl, startBridge } from './bridge.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const USAGE = `Usage: gatehouse-connect --url <endpoint> [--key <client key>] [--verbose]

Connects a stdio-only MCP client to a Gatehouse MCP endpoint: MCP messages on stdin/stdout are relayed
to the endpoint over Streamable HTTP, and back.

Options:
  --url <url>   The Gatehouse MCP endpoint, e.g. https://gatehouse.example.com:8443/mcp
  --key <key>   The client key (gh_ck_...) from the Gatehouse portal. Defaults to the environment variable
                GATEHOUSE_CLIENT_KEY, which is preferable: other local users can see command-line arguments.
  --verbose     Also log transport diagnostics to stderr.
  -h, --help    Show this help.

Exit status: 0 when the client closes stdin, 2 on a usage error, 3 when the endpoint rejects the key.
`;

/** Anything shaped like a client key, in case one is misplaced on the command line (a stray argument). */
const redactKeys = (text: string) => text.replace(/gh_ck_[A-Za-z0-9_-]*/g, 'gh_ck_[redacted]');

function usageError(message: string): never {
  process.stderr.write(`gatehouse-connect: ${redactKeys(message)}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

const parse = () =>
  parseArgs({
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });

let values: ReturnType<typeof parse>['values'];
try {
  ({ values } = parse());
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error));
}

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (values.url === undefined) usageError('missing --url');
// Trimmed: a key pasted or read from a file often comes with a trailing newline.
const key = (values.key || process.env.GATEHOUSE_CLIENT_KEY)?.trim();
if (!key) usageError('missing client key: pass --key or set GATEHOUSE_CLIENT_KEY');
try {
  parseEndpointUrl(values.url);
  checkClientKey(key);
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error));
}

try {
  const bridge = await startBridge({ url: values.url, key, verbose: values.verbose ?? false });
  const stop = () => {
    void bridge.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.exit(await bridge.closed);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`gatehouse-connect: ${redactKeys(message).split(key).join('[redacted]')}\n`);
  process.exit(EXIT_FAILURE);
}
