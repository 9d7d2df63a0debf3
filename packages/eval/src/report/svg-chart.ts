/**
 * A small dependency-free SVG chart for the experiment reports: series of
 * (x, y) points drawn as lines and/or markers, with axes, "nice" ticks, grid,
 * a legend, a title and optional point labels; the x axis may be
 * logarithmic. The output is deterministic (same input, same bytes), so a
 * regenerated plot only changes in git when its numbers do.
 */
import { PsicError } from '@psic/entropy';

export interface ChartPoint {
  x: number;
  y: number;
  /** short text drawn beside the marker (e.g. the model name) */
  label?: string;
}

export interface ChartSeries {
  name: string;
  points: readonly ChartPoint[];
  /** connect the points in x order (default true); false draws markers only (scatter) */
  line?: boolean;
  /** dashed line, e.g. for reference codecs next to learned ones */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** logarithmic x axis (every x must be > 0) */
  logX?: boolean;
  /** values the y axis must cover besides the points' (e.g. [0, 100] for percentages) */
  yInclude?: readonly number[];
  /** pixels (default 720 x 440) */
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;
const MARGIN = { top: 40, bottom: 52, left: 64 };

/**
 * Ticks at 1, 2 or 5 x 10^k steps covering [min, max], about `count` of
 * them; the first tick is <= min and the last >= max, so they also give the
 * axis range.
 */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new PsicError('USAGE', `chart ticks need a finite range, not [${min}, ${max}]`);
  if (min === max) {
    // one value: a small symmetric range around it so the point sits mid-axis
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const rough = (max - min) / Math.max(1, count - 1);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(roundTo(i * step, step));
  return ticks;
}

/** Log-axis ticks: 1, 2, 5 x 10^k (all of 1..9 x 10^k when that gives fewer than 3), the first <= min and the last >= max. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min) || !Number.isFinite(max)) throw new PsicError('USAGE', `a log axis needs 0 < min <= max, not [${min}, ${max}]`);
  const candidates = (mantissas: number[]) => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(min)) - 1; k <= Math.ceil(Math.log10(max)) + 1; k++) {
      for (const m of mantissas) out.push(roundTo(m * 10 ** k, 10 ** (k - 2)));
    }
    return out.sort((a, b) => a - b);
  };
  const within = (all: number[]) => {
    const lo = Math.max(...all.filter((t) => t <= min * (1 + 1e-9)));
    const hi = Math.min(...all.filter((t) => t >= max * (1 - 1e-9)));
    return all.filter((t) => t >= lo && t <= hi);
  };
  const coarse = within(candidates([1, 2, 5]));
  return coarse.length >= 3 ? coarse : within(candidates([1, 2, 3, 4, 5, 6, 7, 8, 9]));
}

/** Tick text with as many decimals as the step between ticks needs. */
export function formatTick(value: number, step: number): string {
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(Math.abs(step)) + 1e-9)));
  const text = value.toFixed(decimals);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

export function svgChart(opts: ChartOptions): string {
  validate(opts);
  const width = opts.width ?? 720;
  const height = opts.height ?? 440;
  // the legend sits right of the plot: room for its longest name (about 7 px a character at 12 px)
  const legendWidth = Math.min(320, 56 + 7 * Math.max(...opts.series.map((s) => s.name.length)));
  const plot = { left: MARGIN.left, top: MARGIN.top, right: width - legendWidth, bottom: height - MARGIN.bottom };
  if (plot.right - plot.left < 50 || plot.bottom - plot.top < 50) throw new PsicError('USAGE', `chart ${width}x${height} is too small for its axes and legend`);
  const points = opts.series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  // a little room around the points, so none sits on the frame with its label cut off;
  // with yInclude the caller chose the frame (e.g. 0..100 %), so y gets no padding
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const xPad = 0.04 * (xMax - xMin);
  const xTicks = opts.logX ? logTicks(xMin / 1.05, xMax * 1.05) : niceTicks(xMin - xPad, xMax + xPad);
  const include = opts.yInclude ?? [];
  const yPad = include.length ? 0 : 0.04 * (Math.max(...ys) - Math.min(...ys));
  const yTicks = niceTicks(Math.min(...ys, ...include) - yPad, Math.max(...ys, ...include) + yPad);
  const xMap = opts.logX ? (v: number) => Math.log10(v) : (v: number) => v;
  const [x0, x1] = [xMap(xTicks[0]), xMap(xTicks[xTicks.length - 1])];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (v: number) => plot.left + ((xMap(v) - x0) / (x1 - x0)) * (plot.right - plot.left);
  const py = (v: number) => plot.bottom - ((v - y0) / (y1 - y0)) * (plot.bottom - plot.top);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(opts.title)}</title>`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${n((plot.left + plot.right) / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(opts.title)}</text>`);

  // grid and ticks
  const yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  for (const t of yTicks) {
    const y = n(py(t));
    out.push(`<line x1="${plot.left}" y1="${y}" x2="${plot.right}" y2="${y}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${plot.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatTick(t, yStep))}</text>`);
  }
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
  for (const t of xTicks) {
    const x = n(px(t));
    out.push(`<line x1="${x}" y1="${plot.top}" x2="${x}" y2="${plot.bottom}" stroke="#e6e6e6"/>`);
    // log ticks have one significant digit: each is written with the decimals it needs
    out.push(`<text x="${x}" y="${plot.bottom + 16}" text-anchor="middle">${escapeXml(formatTick(t, opts.logX ? t : xStep))}</text>`);
  }
  out.push(`<rect x="${plot.left}" y="${plot.top}" width="${n(plot.right - plot.left)}" height="${n(plot.bottom - plot.top)}" fill="none" stroke="#333333"/>`);
  out.push(`<text x="${n((plot.left + plot.right) / 2)}" y="${height - 14}" text-anchor="middle">${escapeXml(opts.xLabel)}${opts.logX ? ' (log scale)' : ''}</text>`);
  out.push(`<text x="16" y="${n((plot.top + plot.bottom) / 2)}" text-anchor="middle" transform="rotate(-90 16 ${n((plot.top + plot.bottom) / 2)})">${escapeXml(opts.yLabel)}</text>`);

  // series, then the legend
  const placeLabel = labelPlacer();
  for (const [i, s] of opts.series.entries()) {
    const color = PALETTE[i % PALETTE.length];
    const marker = MARKERS[i % MARKERS.length];
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    out.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    if (s.line !== false && sorted.length > 1) {
      const path = sorted.map((p) => `${n(px(p.x))},${n(py(p.y))}`).join(' ');
      out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
    for (const p of sorted) {
      out.push(markerSvg(marker, px(p.x), py(p.y), color));
      if (p.label) {
        const at = placeLabel(px(p.x), py(p.y), p.label);
        out.push(`<text x="${n(at.x)}" y="${n(at.y)}" font-size="10" fill="#444444">${escapeXml(p.label)}</text>`);
      }
    }
    out.push('</g>');
    const ly = plot.top + 8 + i * 20;
    const lx = plot.right + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 26}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}${s.line === false ? ' stroke-opacity="0"' : ''}/>`);
    out.push(markerSvg(marker, lx + 13, ly, color));
    out.push(`<text x="${lx + 32}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Where to write each point label: above right of its marker, or the first
 * of a few other spots around it where it does not cover a label already
 * placed (text boxes estimated at 6 px a character, 10 px high).
 */
function labelPlacer(): (x: number, y: number, text: string) => { x: number; y: number } {
  const placed: { x: number; y: number; w: number; h: number }[] = [];
  return (x, y, text) => {
    const w = 6 * text.length;
    const h = 10;
    const spots = [[6, -6], [6, 14], [-w - 6, -6], [-w - 6, 14], [6, -18], [6, 26]];
    const box = ([dx, dy]: number[]) => ({ x: x + dx, y: y + dy - h, w, h });
    const overlaps = (b: { x: number; y: number; w: number; h: number }) => placed.some((q) => b.x < q.x + q.w && q.x < b.x + b.w && b.y < q.y + q.h && q.y < b.y + b.h);
    const spot = spots.find((d) => !overlaps(box(d))) ?? spots[0];
    placed.push(box(spot));
    return { x: x + spot[0], y: y + spot[1] };
  };
}

function validate(opts: ChartOptions): void {
  if (!Array.isArray(opts.series) || opts.series.length === 0) throw new PsicError('USAGE', `chart "${opts.title}" has no series`);
  if (opts.yInclude?.some((v) => !Number.isFinite(v))) throw new PsicError('USAGE', `chart "${opts.title}": yInclude must hold finite numbers`);
  for (const s of opts.series) {
    if (typeof s.name !== 'string' || s.name === '') throw new PsicError('USAGE', `chart "${opts.title}": every series needs a name`);
    if (!Array.isArray(s.points) || s.points.length === 0) throw new PsicError('USAGE', `chart "${opts.title}": series "${s.name}" has no points`);
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) throw new PsicError('USAGE', `chart "${opts.title}": series "${s.name}" has a non-finite point (${p.x}, ${p.y})`);
      if (opts.logX && !(p.x > 0)) throw new PsicError('USAGE', `chart "${opts.title}": a log x axis needs x > 0; series "${s.name}" has x = ${p.x}`);
    }
  }
}

function markerSvg(kind: (typeof MARKERS)[number], x: number, y: number, color: string): string {
  const r = 4;
  switch (kind) {
    case 'circle':
      return `<circle cx="${n(x)}" cy="${n(y)}" r="${r}" fill="${color}"/>`;
    case 'square':
      return `<rect x="${n(x - r)}" y="${n(y - r)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
    case 'triangle':
      return `<polygon points="${n(x)},${n(y - r - 1)} ${n(x + r + 1)},${n(y + r)} ${n(x - r - 1)},${n(y + r)}" fill="${color}"/>`;
    case 'diamond':
      return `<polygon points="${n(x)},${n(y - r - 1)} ${n(x + r + 1)},${n(y)} ${n(x)},${n(y + r + 1)} ${n(x - r - 1)},${n(y)}" fill="${color}"/>`;
    case 'cross':
      return `<path d="M${n(x - r)},${n(y - r)}L${n(x + r)},${n(y + r)}M${n(x - r)},${n(y + r)}L${n(x + r)},${n(y - r)}" stroke="${color}" stroke-width="2"/>`;
  }
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Coordinates with two decimals: enough for a screen, short and stable in git. */
function n(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** `v` rounded to a multiple of a small fraction of `unit`, to drop float noise such as 0.30000000000000004. */
function roundTo(v: number, unit: number): number {
  const q = unit / 1000;
  return Number((Math.round(v / q) * q).toPrecision(12));
}
