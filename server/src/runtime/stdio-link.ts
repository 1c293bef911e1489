import { type ChildProcess, spawn } from 'node:child_process';
import type { JsonRpcMessage, Link, LinkEvents, Sending } from './link.js';

export interface StdioLinkOptions {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string | undefined;
  /** Largest single line accepted from the child; a longer one ends the connection. */
  maxMessageBytes: number;
  /** Time between closing stdin, SIGTERM and SIGKILL when stopping. */
  stopGraceMs: number;
  onStderr(chunk: string): void;
}

const NEWLINE = 0x0a;
/** How long a closed pipe waits for the child's exit to be reported, for a precise reason. */
const PIPE_EXIT_GRACE_MS = 100;

/**
 * A downstream child over line-framed stdin/stdout. The child runs in its own process group (so `npx`-style
 * launchers and their grandchildren are stopped together), never through a shell, and the whole group is reaped
 * on close: stdin end → SIGTERM → SIGKILL. The link reports the connection closed the moment the child exits,
 * closes its stdout or its stdin, or a pipe fails, so pending calls fail at once instead of timing out.
 */
export class StdioLink implements Link {
  private child: ChildProcess | undefined;
  private events: LinkEvents | undefined;
  private exited: Promise<void> | undefined;
  private closedReason: string | null = null;
  private exit: string | null = null;
  /** Bytes of the current, unfinished line. */
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly options: StdioLinkOptions) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  exitDescription(): string | null {
    return this.exit ?? this.closedReason;
  }

  setProtocolVersion(): void {}

  start(events: LinkEvents): Promise<void> {
    this.events = events;
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
        this.hangUp(error.message);
      });
      child.once('spawn', () => {
        this.watchStdin(child);
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.exit = signal ? `process was killed by ${signal}` : `process exited with code ${code}`;
        // Its last answers may still be in the pipe: the end of stdout (or 'close') reports it.
        if (child.stdout?.readableEnded !== false) this.hangUp(this.exit);
        else if (this.pipeTimer) this.hangUp(this.exit);
      });
      child.once('close', () => this.hangUp(this.exit ?? 'the process closed its pipes'));
      child.stdin?.on('error', () => this.pipeClosed('the process closed its stdin'));
      child.stdout?.on('data', (chunk: Buffer) => this.receive(chunk));
      child.stdout?.once('end', () => this.pipeClosed('the process closed its stdout'));
      child.stdout?.on('error', () => this.pipeClosed('its stdout failed'));
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => this.options.onStderr(chunk));
    });
  }

  /**
   * A pipe's writer learns that the reader closed only when it next writes. libuv's stdio pipes are socket
   * pairs, so reading our end of stdin (the child never writes to it) reports the child's close at once.
   */
  private watchStdin(child: ChildProcess): void {
    const handle = (child.stdin as unknown as { _handle?: { readStart?(): number; onread?: unknown } })
      ?._handle;
    if (!handle?.readStart) return;
    handle.onread = () => this.pipeClosed('the process closed its stdin');
    handle.readStart();
  }

  private receive(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) break;
      const piece = chunk.subarray(start, end);
      start = end + 1;
      if (this.partialBytes + piece.length > this.options.maxMessageBytes) {
        this.tooLarge();
        return;
      }
      const line = this.partialBytes === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      this.line(line);
      if (this.closedReason !== null) return;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    this.partialBytes += rest.length;
    // The cap applies while a line is still arriving: a child cannot make us buffer without bound.
    if (this.partialBytes > this.options.maxMessageBytes) {
      this.tooLarge();
      return;
    }
    this.partial.push(rest);
  }

  private line(line: Buffer): void {
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      // A stray log line on stdout must not cost the connection.
      return;
    }
    if (typeof message === 'object' && message !== null && !Array.isArray(message)) {
      this.events?.message(message as JsonRpcMessage);
    }
  }

  private tooLarge(): void {
    // There is no safe way to resynchronise after a line this long: end the connection.
    this.partial = [];
    this.partialBytes = 0;
    this.hangUp(`sent a message larger than ${Math.round(this.options.maxMessageBytes / 1024)} KiB`);
  }

  send(message: JsonRpcMessage): Sending {
    const done = new Promise<void>((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || this.closedReason !== null || !stdin.writable) return reject(new Error('Not connected'));
      if (stdin.write(`${JSON.stringify(message)}\n`)) resolve();
      else stdin.once('drain', resolve);
    });
    return { done, abort: () => undefined };
  }

  private pipeTimer: NodeJS.Timeout | undefined;

  /**
   * A pipe closed. A child that exits closes its pipes too, and its exit is reported separately: wait a
   * moment for it, so the reason says "exited with code 1" rather than "closed its stdout" when it did.
   */
  private pipeClosed(reason: string): void {
    if (this.closedReason !== null || this.pipeTimer || this.stopping) return;
    if (this.exit !== null) {
      this.hangUp(this.exit);
      return;
    }
    this.pipeTimer = setTimeout(() => this.hangUp(reason), PIPE_EXIT_GRACE_MS);
    this.pipeTimer.unref();
  }

  /** Reports the connection closed (once) and reaps the child if it is still there. */
  private hangUp(reason: string): void {
    clearTimeout(this.pipeTimer);
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.events?.closed(reason);
    void this.close();
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

  private closing: Promise<void> | undefined;
  private stopping = false;

  close(): Promise<void> {
    this.stopping = true;
    this.closing ??= this.reap();
    return this.closing;
  }

  private async reap(): Promise<void> {
    const child = this.child;
    if (child && this.exited) {
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
    }
    if (this.closedReason === null) {
      this.closedReason = 'Connection closed';
      this.events?.closed(this.closedReason);
    }
  }
}
