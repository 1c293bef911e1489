/** One captured stderr line. */
export interface LogLine {
  at: Date;
  text: string;
}

/** Replaces every occurrence of each secret value (of 4 characters or more) with `[REDACTED]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('[REDACTED]');
  }
  return result;
}

const MAX_LINE_CHARS = 2000;
/** Longer than any credential value, so redaction sees a secret whole before an endless line is cut. */
const MAX_PARTIAL_CHARS = 16_384;

/**
 * The last `capacity` stderr lines of one instance, with every known secret value replaced by `[REDACTED]`
 * before it is stored, so no captured line can ever hold a credential.
 */
export class StderrRing {
  private readonly lines: LogLine[] = [];
  private partial = '';

  constructor(
    private readonly capacity: number,
    private readonly secrets: readonly string[],
  ) {}

  write(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = (parts.pop() ?? '').slice(-MAX_PARTIAL_CHARS);
    for (const part of parts) this.push(part);
  }

  private push(raw: string): void {
    const text = this.redact(raw.replace(/\r$/, '')).slice(0, MAX_LINE_CHARS);
    if (text.length === 0) return;
    this.lines.push({ at: new Date(), text });
    if (this.lines.length > this.capacity) this.lines.shift();
  }

  private redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  snapshot(): LogLine[] {
    return this.partial
      ? [...this.lines, { at: new Date(), text: this.redact(this.partial) }]
      : [...this.lines];
  }
}
