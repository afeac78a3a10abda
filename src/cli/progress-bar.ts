/**
 * A one-line progress bar with ETA for a terminal (stderr). On anything that is not a TTY
 * it prints nothing, so logs and pipes stay clean.
 */

export interface ProgressBarOptions {
  stream?: NodeJS.WriteStream;
  width?: number;
  label?: string;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** The bar text for a fraction done and the time elapsed so far. */
export function renderBar(fraction: number, elapsedMs: number, width: number, label: string): string {
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(f * width);
  const eta = f > 0 ? (elapsedMs * (1 - f)) / f : Number.NaN;
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  return `${label} [${bar}] ${(f * 100).toFixed(0).padStart(3)}% ETA ${formatDuration(eta)}`;
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly width: number;
  private readonly label: string;
  private readonly started = performance.now();
  private lastDrawMs = 0;
  private closed = false;

  constructor(options: ProgressBarOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.width = options.width ?? 30;
    this.label = options.label ?? 'render';
  }

  get enabled(): boolean {
    return Boolean(this.stream.isTTY) && !this.closed;
  }

  update(fraction: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDrawMs < 50 && fraction < 1) return; // at most 20 redraws a second
    this.lastDrawMs = now;
    this.stream.write(`\r${renderBar(fraction, now - this.started, this.width, this.label)}`);
  }

  /** Clears the line. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    if (this.stream.isTTY) this.stream.write('\r\x1b[K');
    this.closed = true;
  }
}
