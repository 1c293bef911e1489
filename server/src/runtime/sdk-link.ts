import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcMessage, Link, LinkEvents, Sending } from './link.js';

/**
 * The legacy HTTP+SSE transport (protocol 2024-11-05 servers behind a 2025 revision) through the MCP SDK's
 * client transport: rare, and not on the hot path. The lean peer still owns ids, timeouts and cancellation.
 */
export class SdkTransportLink implements Link {
  readonly pid = null;
  private closed = false;

  constructor(private readonly transport: Transport) {}

  start(events: LinkEvents): Promise<void> {
    this.transport.onmessage = (message) => events.message(message as unknown as JsonRpcMessage);
    this.transport.onerror = () => undefined;
    this.transport.onclose = () => {
      if (this.closed) return;
      this.closed = true;
      events.closed('Connection closed');
    };
    return this.transport.start();
  }

  send(message: JsonRpcMessage): Sending {
    return { done: this.transport.send(message as unknown as JSONRPCMessage), abort: () => undefined };
  }

  setProtocolVersion(version: string): void {
    this.transport.setProtocolVersion?.(version);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  exitDescription(): string | null {
    return null;
  }
}
