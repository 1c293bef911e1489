// Launcher for the `@civic/passthrough-mcp-server` peer arm: an HTTP → HTTP passthrough with no hooks.
// Usage: node civic-passthrough.mjs <port> <target url>. Prints {"port":N} once it listens.
// The library logs every request with console.log at debug level; that is silenced so the peer is measured
// as it would run in production (Gatehouse runs at log level warn), while warnings and errors still print.
import { createHttpPassthroughProxy } from '@civic/passthrough-mcp-server';

const [port, target] = process.argv.slice(2);
if (!port || !target) {
  console.error('usage: civic-passthrough.mjs <port> <target url>');
  process.exit(2);
}
console.log = () => undefined;
console.debug = () => undefined;
console.info = () => undefined;

const proxy = await createHttpPassthroughProxy({
  port: Number(port),
  mcpPath: '/mcp',
  // The library joins `url` and `mcpPath` itself.
  target: { transportType: 'httpStream', url: new URL(target).origin, mcpPath: new URL(target).pathname },
  autoStart: true,
});
const stop = async () => {
  await proxy.stop().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(`${JSON.stringify({ port: Number(port) })}\n`);
