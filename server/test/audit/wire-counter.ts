import net from 'node:net';

/**
 * A TCP relay in front of PostgreSQL that records what clients send: the text of every statement (Parse and
 * simple Query messages). It observes the real protocol between a real client and the real server, so a test
 * can count the statements a component runs without changing it.
 */
export class WireCounter {
  readonly statements: string[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      this.sockets.add(client).add(upstream);
      upstream.pipe(client);
      let pending = Buffer.alloc(0);
      let started = false;
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          // Before the startup message completes, messages have no type byte (SSLRequest, then Startup).
          const header = started ? 5 : 4;
          if (pending.length < header) break;
          const length = started ? pending.readInt32BE(1) + 1 : pending.readInt32BE(0);
          if (pending.length < length) break;
          const message = pending.subarray(0, length);
          pending = pending.subarray(length);
          if (!started) {
            // 80877103 is the SSLRequest code: the real startup message follows it.
            started = message.readInt32BE(4) !== 80877103;
            continue;
          }
          const type = String.fromCharCode(message[0] ?? 0);
          if (type === 'Q') this.statements.push(message.subarray(5, -1).toString());
          if (type === 'P') {
            // Parse: a NUL-terminated statement name, then the NUL-terminated query text.
            const nameEnd = message.indexOf(0, 5);
            this.statements.push(message.subarray(nameEnd + 1, message.indexOf(0, nameEnd + 1)).toString());
          }
        }
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  /** Starts a relay to the server of `databaseUrl`; `url` is the same database through the relay. */
  static async start(databaseUrl: string): Promise<{ counter: WireCounter; url: string }> {
    const target = new URL(databaseUrl);
    const counter = new WireCounter({ host: target.hostname, port: Number(target.port || 5432) });
    await new Promise<void>((resolve) => counter.server.listen(0, '127.0.0.1', resolve));
    const { port } = counter.server.address() as net.AddressInfo;
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return { counter, url: url.toString() };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
