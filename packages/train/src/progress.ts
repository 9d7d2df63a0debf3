/**
 * A one-line progress bar on stderr with ETA and running figures. On a TTY it
 * redraws in place; otherwise (CI, logs) it prints a line at most every
 * `minIntervalMs` so logs stay readable.
 */
export interface ProgressOptions {
  total: number;
  start?: number;
  label?: string;
  stream?: NodeJS.WriteStream;
  minIntervalMs?: number;
}

export class ProgressBar {
  private readonly t0 = Date.now();
  private readonly start: number;
  private lastDraw = 0;
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly opts: ProgressOptions) {
    this.start = opts.start ?? 0;
    this.stream = opts.stream ?? process.stderr;
  }

  update(done: number, figures: Record<string, string | number> = {}, force = false): void {
    const now = Date.now();
    const interval = this.stream.isTTY ? 200 : (this.opts.minIntervalMs ?? 30_000);
    if (!force && now - this.lastDraw < interval && done < this.opts.total) return;
    this.lastDraw = now;
    const line = formatProgress(done, this.opts.total, this.start, now - this.t0, this.opts.label, figures);
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K`);
    else this.stream.write(`${line}\n`);
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

export function formatProgress(
  done: number,
  total: number,
  start: number,
  elapsedMs: number,
  label = '',
  figures: Record<string, string | number> = {},
): string {
  const width = 24;
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  const rate = (done - start) / Math.max(elapsedMs / 1000, 1e-9);
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  const figs = Object.entries(figures)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`)
    .join('  ');
  return `${label ? `${label} ` : ''}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ETA ${formatDuration(eta)}${figs ? `  ${figs}` : ''}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(3) : v.toFixed(4);
}
