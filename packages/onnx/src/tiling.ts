/**
 * Tiling of a fully convolutional transform, so a large image runs in
 * bounded memory: the latent grid is cut into tiles, each tile runs with a
 * halo of extra latents around it, and only the tile's own part of the output
 * is kept. A halo wider than the transform's receptive field (g_a: ±30 image
 * pixels, under 2 latents; g_s: ±2 latents) makes the kept part the same
 * computation as the untiled one; only float summation order may differ
 * (~1e-6). Tiles start on latent boundaries, so every stride lines up.
 */
import type { NhwcData } from './runner.js';

/** A tile's own region of the latent grid, [r0, r1) x [c0, c1). */
export interface TileRect {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

/**
 * Cut a rows x cols latent grid into tiles whose run size (the tile plus its
 * halo, where it has neighbours) is at most `maxLatents` latents, choosing
 * among the grids that fit the one that computes the fewest latents in all
 * (halos included): strips along a long image, near-squares on a large one.
 * One tile when the whole grid fits.
 */
export function planTiles(rows: number, cols: number, maxLatents: number, halo = 0): TileRect[] {
  if (rows * cols <= maxLatents) return [{ r0: 0, r1: rows, c0: 0, c1: cols }];
  // Run sizes along one axis for bands of `size`: border bands get a halo on one side only.
  const bands = (n: number, size: number) => {
    const count = Math.ceil(n / size);
    const ext = Array.from({ length: count }, (_, i) => Math.min(n, (i + 1) * size + halo) - Math.max(0, i * size - halo));
    return { size, count, ext, total: ext.reduce((a, b) => a + b, 0), max: Math.max(...ext) };
  };
  let best: { th: number; tw: number; cost: number; tiles: number } | undefined;
  for (let ny = 1; ny <= rows; ny++) {
    const r = bands(rows, Math.ceil(rows / ny));
    if (r.count < ny) continue; // same bands as a smaller ny
    const widest = Math.floor(maxLatents / r.max);
    if (widest < 1) continue;
    // The widest column band whose run (with its halos) still fits.
    let c = bands(cols, cols);
    if (c.max > widest) {
      let tw = widest - 2 * halo;
      if (tw < 1) continue;
      c = bands(cols, tw);
      tw = Math.ceil(cols / c.count); // even the bands out
      c = bands(cols, tw);
      if (c.max > widest) continue;
    }
    const cost = r.total * c.total;
    const tiles = r.count * c.count;
    if (!best || cost < best.cost || (cost === best.cost && tiles < best.tiles)) best = { th: r.size, tw: c.size, cost, tiles };
  }
  if (!best) throw new RangeError(`no tiling of ${rows}x${cols} latents fits ${maxLatents} latents per tile with a halo of ${halo}`);
  const tiles: TileRect[] = [];
  for (let r0 = 0; r0 < rows; r0 += best.th) {
    for (let c0 = 0; c0 < cols; c0 += best.tw) tiles.push({ r0, r1: Math.min(rows, r0 + best.th), c0, c1: Math.min(cols, c0 + best.tw) });
  }
  return tiles;
}

/** Rows [r0, r1) and columns [c0, c1) of an NHWC tensor (batch 1). */
export function cropNhwc(x: NhwcData, r0: number, r1: number, c0: number, c1: number): NhwcData {
  const [, h, w, c] = x.dims;
  if (r0 === 0 && c0 === 0 && r1 === h && c1 === w) return x;
  const out = new Float32Array((r1 - r0) * (c1 - c0) * c);
  const rowLen = (c1 - c0) * c;
  for (let r = r0; r < r1; r++) out.set(x.data.subarray((r * w + c0) * c, (r * w + c0) * c + rowLen), (r - r0) * rowLen);
  return { data: out, dims: [1, r1 - r0, c1 - c0, c] };
}

/** Copy `rows` x `cols` pixels of `src` at (sr, sc) into `dst` at (dr, dc); same channel count. */
function pasteNhwc(dst: NhwcData, src: NhwcData, sr: number, sc: number, dr: number, dc: number, rows: number, cols: number): void {
  const [, , sw, c] = src.dims;
  const [, , dw] = dst.dims;
  for (let r = 0; r < rows; r++) {
    const from = ((sr + r) * sw + sc) * c;
    dst.data.set(src.data.subarray(from, from + cols * c), ((dr + r) * dw + dc) * c);
  }
}

export interface TiledRunOptions {
  /** input pixels per latent (16 for an analysis, 1 for a synthesis) */
  inUnit: number;
  /** output pixels per latent (1 for an analysis, 16 for a synthesis) */
  outUnit: number;
  /** largest tile run, in latents (its halo included) */
  maxTileLatents: number;
  /** halo width in latents */
  halo: number;
}

/** Run `run` over the tiles of `x` (batch 1) and stitch the outputs. */
export async function runTiled(x: NhwcData, opts: TiledRunOptions, run: (tile: NhwcData) => Promise<NhwcData>): Promise<NhwcData> {
  const { inUnit, outUnit, halo } = opts;
  const [, h, w] = x.dims;
  const rows = h / inUnit;
  const cols = w / inUnit;
  if (!Number.isInteger(rows) || !Number.isInteger(cols)) throw new RangeError(`input ${h}x${w} is not a whole number of ${inUnit}-pixel latents`);
  const tiles = planTiles(rows, cols, opts.maxTileLatents, halo);
  if (tiles.length === 1) return run(x);
  let out: NhwcData | undefined;
  for (const t of tiles) {
    const er0 = Math.max(0, t.r0 - halo);
    const er1 = Math.min(rows, t.r1 + halo);
    const ec0 = Math.max(0, t.c0 - halo);
    const ec1 = Math.min(cols, t.c1 + halo);
    const y = await run(cropNhwc(x, er0 * inUnit, er1 * inUnit, ec0 * inUnit, ec1 * inUnit));
    const [, yh, yw, yc] = y.dims;
    if (yh !== (er1 - er0) * outUnit || yw !== (ec1 - ec0) * outUnit) {
      throw new Error(`tile output ${yh}x${yw} is not ${outUnit} pixels per latent of ${er1 - er0}x${ec1 - ec0}`);
    }
    out ??= { data: new Float32Array(rows * outUnit * cols * outUnit * yc), dims: [1, rows * outUnit, cols * outUnit, yc] };
    pasteNhwc(out, y, (t.r0 - er0) * outUnit, (t.c0 - ec0) * outUnit, t.r0 * outUnit, t.c0 * outUnit, (t.r1 - t.r0) * outUnit, (t.c1 - t.c0) * outUnit);
  }
  return out!;
}
