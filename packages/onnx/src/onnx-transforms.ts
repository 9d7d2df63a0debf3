/**
 * One model's float transforms on onnxruntime: g_a, h_a and g_s graphs built
 * from the backbone's own weights on first use, cached per weights
 * fingerprint, run on NHWC Float32Arrays. Images larger than `maxTilePixels`
 * run tile by tile (tiling.ts), so memory stays bounded whatever the size.
 */
import type { LicBackbone } from '@psic/core';
import { analysisGraph, hyperAnalysisGraph, synthesisGraph, IO, type GraphBlockHook, type GraphOptions } from './graphs.js';
import type { NhwcData, OnnxRunner } from './runner.js';
import { analysisHalo, synthesisHalo } from './halo.js';
import { runTiled } from './tiling.js';
import { describeTransforms, type BackboneTransforms } from './transforms.js';

/**
 * Default tile size (halo included): 1 megapixel. Peak memory of a transform
 * grows with N channels at half resolution; at N=128 onnxruntime needs
 * ~0.5 GB per megapixel, so a 1920x1080 image runs in three strips.
 */
export const DEFAULT_MAX_TILE_PIXELS = 1_000_000;

/**
 * Halo around each tile, in latents, when a transform's reach cannot be
 * computed (a custom layer); otherwise halo.ts derives it from the layers
 * (2 latents for the hyperprior's g_a and g_s).
 */
export const TILE_HALO = 4;

/** A JS hook between synthesis blocks on the ONNX path: features of one block (NHWC) -> what feeds the next. */
export type NhwcBlockHook = (blockIndex: number, features: NhwcData) => NhwcData | Promise<NhwcData>;

/**
 * Runs up to this many image pixels use sessions that keep ORT's memory
 * arena: ~20% less CPU (buffers are reused, no fresh pages to fault in), but
 * each session then holds its largest run's memory rounded up to powers of
 * two, ~1 GB per megapixel per session at N=128 (a 768x512 image: +0.45 GB).
 * Off by default: memory matters more than that speed-up here.
 */
export const DEFAULT_ARENA_MAX_PIXELS = 0;

export interface OnnxTransformsOptions extends GraphOptions {
  /** image pixels a transform processes at once (a tile with its halo); larger images are tiled */
  maxTilePixels?: number;
  /** runs of up to this many pixels keep ORT's memory arena (default DEFAULT_ARENA_MAX_PIXELS: never) */
  arenaMaxPixels?: number;
}

export class OnnxTransforms {
  readonly transforms: BackboneTransforms;
  private readonly maxTileLatents: number;
  private readonly unit: number;
  /** tile halos (latents) of g_a and g_s */
  readonly halo: { analysis: number; synthesis: number };

  constructor(
    readonly runner: OnnxRunner,
    readonly backbone: LicBackbone,
    /** cache key of these weights (their fingerprint) */
    readonly modelKey: string,
    private readonly opts: OnnxTransformsOptions = {},
  ) {
    this.transforms = describeTransforms(backbone);
    this.unit = this.transforms.downsampling;
    this.maxTileLatents = Math.max(1, Math.floor((opts.maxTilePixels ?? DEFAULT_MAX_TILE_PIXELS) / (this.unit * this.unit)));
    this.halo = {
      analysis: analysisHalo(this.transforms.analysis.module, this.unit) ?? TILE_HALO,
      synthesis: synthesisHalo(this.transforms.synthesisBlocks.map((b) => b.module)) ?? TILE_HALO,
    };
  }

  /** The session of `graph` for an image (or tile) of `pixels` pixels. */
  private session(graph: string, build: () => Uint8Array, pixels: number) {
    const run = Math.min(pixels, this.maxTileLatents * this.unit * this.unit);
    const arena = run <= (this.opts.arenaMaxPixels ?? DEFAULT_ARENA_MAX_PIXELS);
    return this.runner.session(`${this.modelKey}:${graph}:${this.opts.deconv ?? 'default'}`, build, { arena });
  }

  /** g_a: padded image [1, H, W, 3] -> y [1, H/16, W/16, M]. */
  async analysis(x: NhwcData): Promise<NhwcData> {
    const session = await this.session('analysis', () => analysisGraph(this.transforms, this.opts).toBytes(), x.dims[1] * x.dims[2]);
    return runTiled(x, { inUnit: this.unit, outUnit: 1, maxTileLatents: this.maxTileLatents, halo: this.halo.analysis }, async (tile) => {
      const out = await this.runner.run(session, { [IO.analysis.input]: tile });
      return out[IO.analysis.output];
    });
  }

  /** h_a: y -> z (small: 1/16 of the image's size, never tiled). */
  async hyperAnalysis(y: NhwcData): Promise<NhwcData> {
    const session = await this.session('hyper_analysis', () => hyperAnalysisGraph(this.transforms, this.opts).toBytes(), y.dims[1] * y.dims[2] * this.unit * this.unit);
    return (await this.runner.run(session, { [IO.hyperAnalysis.input]: y }))[IO.hyperAnalysis.output];
  }

  /**
   * g_s: y-hat -> x-hat [1, 16h, 16w, 3], unclipped.
   * - `blockBiases`: one vector per block (its channels), added to the
   *   block's output inside the graph (extra graph inputs `block<i>.bias`):
   *   the fast path for an adapter whose hook is a per-channel bias.
   * - `hook`: any JS function between blocks; the blocks then run as
   *   separate graphs (per tile on a large image, so it must be a local
   *   operation such as a per-channel bias).
   */
  async synthesis(yHat: NhwcData, opts: { hook?: NhwcBlockHook; blockBiases?: Float32Array[] } = {}): Promise<NhwcData> {
    const tiling = { inUnit: 1, outUnit: this.unit, maxTileLatents: this.maxTileLatents, halo: this.halo.synthesis };
    const pixels = yHat.dims[1] * yHat.dims[2] * this.unit * this.unit;
    const blocks = this.transforms.synthesisBlocks;
    if (opts.hook && opts.blockBiases) throw new Error('give a hook or block biases, not both');
    if (opts.blockBiases) {
      const biases = opts.blockBiases;
      if (biases.length !== blocks.length || biases.some((b, i) => b.length !== blocks[i].channels)) {
        throw new RangeError(`block biases must be ${blocks.length} vectors of [${blocks.map((b) => b.channels)}] values`);
      }
      const session = await this.session('synthesis_biased', () => synthesisGraph(this.transforms, { ...this.opts, hook: blockBiasInputs }).toBytes(), pixels);
      const feeds = Object.fromEntries(biases.map((b, i) => [blockBiasInput(i), { data: b, dims: [1, b.length, 1, 1] }]));
      return runTiled(yHat, tiling, async (tile) => (await this.runner.run(session, { [IO.synthesis.input]: tile, ...feeds }))[IO.synthesis.output]);
    }
    const hook = opts.hook;
    if (!hook) {
      const session = await this.session('synthesis', () => synthesisGraph(this.transforms, this.opts).toBytes(), pixels);
      return runTiled(yHat, tiling, async (tile) => (await this.runner.run(session, { [IO.synthesis.input]: tile }))[IO.synthesis.output]);
    }
    const sessions = await Promise.all(
      blocks.map((_, i) => this.session(`synthesis_block${i}`, () => synthesisGraph(this.transforms, { ...this.opts, from: i, to: i + 1 }).toBytes(), pixels)),
    );
    return runTiled(yHat, tiling, async (tile) => {
      let h = tile;
      for (let i = 0; i < blocks.length; i++) {
        const session = sessions[i];
        const out = await this.runner.run(session, { [session.inputNames[0]]: h });
        h = await hook(i, out[session.outputNames[0]]);
      }
      return h;
    });
  }
}

/** Name of the graph input holding block i's bias. */
export function blockBiasInput(blockIndex: number): string {
  return `block${blockIndex}.bias`;
}

/** A GraphBlockHook adding a per-channel bias input ([1, C, 1, 1]) after every synthesis block. */
export const blockBiasInputs: GraphBlockHook = ({ graph, blockIndex, channels, features }) => {
  const bias = graph.input(blockBiasInput(blockIndex), [1, channels, 1, 1], `added to block ${blockIndex}'s output (NCHW broadcast)`);
  return graph.op('Add', [features, bias], undefined, `block${blockIndex}.biased`);
};
