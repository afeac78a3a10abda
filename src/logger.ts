/**
 * One logger per entity. Debug lines print when FOLEY_DEBUG is set and its
 * comma-separated list contains "*" or the logger's name prefix.
 */
export class Logger {
  readonly #debugEnabled: boolean;

  constructor(readonly name: string) {
    const spec = process.env.FOLEY_DEBUG ?? '';
    this.#debugEnabled = spec.split(',').some((s) => s === '*' || (s !== '' && name.startsWith(s)));
  }

  debug(message: string): void {
    if (this.#debugEnabled) process.stderr.write(`[debug] ${this.name}: ${message}\n`);
  }

  warn(message: string): void {
    process.stderr.write(`[warn] ${this.name}: ${message}\n`);
  }

  error(message: string): void {
    process.stderr.write(`[error] ${this.name}: ${message}\n`);
  }
}
