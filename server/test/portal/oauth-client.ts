import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the authorization server sent back to the client's loopback redirect URI. */
export interface CallbackResult {
  code: string | null;
  error: string | null;
  state: string | null;
}

/**
 * A native app's loopback redirect listener (RFC 8252 §7.3): an HTTP server on 127.0.0.1 that takes one
 * authorization response at `/callback` and answers the browser with a plain page.
 */
export class LoopbackRedirect {
  private server: Server | undefined;
  private waiting: ((result: CallbackResult) => void) | undefined;
  private received: CallbackResult[] = [];
  url = '';

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/callback') {
        response.writeHead(404).end();
        return;
      }
      const result = {
        code: url.searchParams.get('code'),
        error: url.searchParams.get('error'),
        state: url.searchParams.get('state'),
      };
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<h1>Done: you can close this window.</h1>');
      const waiter = this.waiting;
      this.waiting = undefined;
      if (waiter) waiter(result);
      else this.received.push(result);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callback`;
    return this;
  }

  /** The next authorization response (one already received, or the next to arrive). */
  next(): Promise<CallbackResult> {
    const first = this.received.shift();
    if (first) return Promise.resolve(first);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
