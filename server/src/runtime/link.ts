/** A JSON-RPC 2.0 message as it travels to or from a downstream (already parsed, never re-validated here). */
export type JsonRpcMessage = Record<string, unknown> & { jsonrpc: '2.0' };

/** What a link reports to its peer. */
export interface LinkEvents {
  message(message: JsonRpcMessage): void;
  /** The connection ended (child exited or closed a pipe, session gone, our own close); called once. */
  closed(reason: string): void;
}

/** One message handed to a link: `done` settles when its exchange is over, `abort` ends it at once. */
export interface Sending {
  /** Resolves when the message is written (stdio) or its HTTP response fully read; rejects on a link failure. */
  readonly done: Promise<void>;
  /** Frees whatever the exchange holds (an HTTP request and its socket); harmless once done. */
  abort(): void;
}

/** A way to reach one downstream: a child's pipes, or HTTP. It frames messages; the peer gives them meaning. */
export interface Link {
  start(events: LinkEvents): Promise<void>;
  send(message: JsonRpcMessage): Sending;
  /** Sent on every later HTTP request (`MCP-Protocol-Version`); stdio has no use for it. */
  setProtocolVersion(version: string): void;
  close(): Promise<void>;
  readonly pid: number | null;
  /** How a stdio child ended, or why the link ended the connection itself; null while running. */
  exitDescription(): string | null;
}

/** A downstream message bigger than the limit: refused while reading, before the rest arrives. */
export class ResponseTooLarge extends Error {
  constructor(readonly limitBytes: number) {
    super(`the server sent a message larger than ${Math.round(limitBytes / 1024)} KiB`);
    this.name = 'ResponseTooLarge';
  }
}

/** A link failure that is not the downstream's answer (HTTP status, broken stream). */
export class LinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkError';
  }
}
