import { type ChildProcess, spawn } from 'node:child_process';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface ProcessTransportOptions {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string | undefined;
  /** Largest single message accepted from the child; a bigger one ends the connection. */
  maxMessageBytes: number;
  /** Time between closing stdin, SIGTERM and SIGKILL when stopping. */
  stopGraceMs: number;
  onStderr(chunk: string): void;
  onExit(code: number | null, signal: NodeJS.Signals | null): void;
}

/**
 * stdio transport for downstream MCP servers. Unlike the SDK's, it starts the child in its own process group
 * (so `npx`-style launchers and their grandchildren are stopped together), never through a shell, and reaps
 * the whole group on close: stdin end → SIGTERM → SIGKILL.
 */
export class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private readonly buffer: ReadBuffer;
  private exited: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: ProcessTransportOptions) {
    this.buffer = new ReadBuffer({ maxBufferSize: options.maxMessageBytes });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.command, [...this.options.args], {
        env: this.options.env,
        cwd: this.options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
        windowsHide: true,
      });
      this.child = child;
      this.exited = new Promise((done) => child.once('close', () => done()));
      child.once('error', (error) => {
        reject(error);
        this.onerror?.(error);
        this.finish();
      });
      child.once('spawn', () => resolve());
      child.once('close', (code, signal) => {
        this.options.onExit(code, signal);
        this.finish();
      });
      child.stdin?.on('error', (error) => this.onerror?.(error));
      child.stdout?.on('data', (chunk: Buffer) => this.receive(chunk));
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => this.options.onStderr(chunk));
    });
  }

  private receive(chunk: Buffer): void {
    try {
      this.buffer.append(chunk);
    } catch {
      // A message too large to buffer: there is no safe way to resynchronise, so end this connection.
      this.protocolError = `sent a message larger than ${Math.round(this.options.maxMessageBytes / 1024)} KiB`;
      this.onerror?.(new Error(this.protocolError));
      void this.close();
      return;
    }
    for (;;) {
      try {
        const message = this.buffer.readMessage();
        if (!message) return;
        this.onmessage?.(message);
      } catch (error) {
        // The bad line is already consumed; a stray log line on stdout must not cost the connection.
        this.onerror?.(error as Error);
      }
    }
  }

  /** Why this transport ended the connection itself, if it did. */
  protocolError: string | null = null;

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || this.closed) return reject(new Error('Not connected'));
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    this.onclose?.();
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || !this.exited) return this.finish();
    const exited = this.exited;
    const waitExit = (ms: number) =>
      Promise.race([
        exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(resolve, ms, false).unref()),
      ]);
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      if (!(await waitExit(this.options.stopGraceMs / 2))) {
        this.signalGroup('SIGTERM');
        if (!(await waitExit(this.options.stopGraceMs))) {
          this.signalGroup('SIGKILL');
          // 'close' also waits for stdio to drain; a descendant that left the group could hold it open.
          await waitExit(this.options.stopGraceMs);
        }
      }
    }
    // The leader may exit before its children: make sure nothing of the group survives it.
    this.signalGroup('SIGKILL');
    this.finish();
  }
}
