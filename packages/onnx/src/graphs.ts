/**
 * The ONNX graphs of a backbone's float transforms. Inputs and outputs are
 * NHWC like every tensor in this project ([batch, height, width, channels],
 * spatial sizes symbolic); the graph transposes to NCHW for ONNX's ops and
 * back, so callers hand over tfjs data as is.
 *
 * The synthesis takes a `GraphBlockHook`: the export-time twin of the
 * backbone's BlockHook, called after each block with the block's NCHW value.
 * An adapter (conditional synthesis) adds its nodes there, and extra graph
 * inputs (a condition vector, per-block biases) through `graph.input`.
 */
import { GraphBuilder } from './graph-builder.js';
import { exportModule, type LayerExportContext } from './layer-export.js';
import type { BackboneTransforms } from './transforms.js';

export interface GraphBlockHookContext {
  graph: GraphBuilder;
  blockIndex: number;
  channels: number;
  /** the block's output, NCHW */
  features: string;
}

/** Returns the value that feeds the next block (NCHW, same shape). */
export type GraphBlockHook = (ctx: GraphBlockHookContext) => string;

export interface GraphOptions {
  deconv?: LayerExportContext['deconv'];
}

/** Names of every graph's inputs and outputs (the runner and the export manifest use them). */
export const IO = {
  analysis: { input: 'x', output: 'y' },
  hyperAnalysis: { input: 'y', output: 'z' },
  hyperSynthesis: { input: 'z_hat', output: 'params' },
  synthesis: { input: 'y_hat', output: 'x_hat' },
} as const;

const toNchw = [0, 3, 1, 2];
const toNhwc = [0, 2, 3, 1];

function nhwcInput(graph: GraphBuilder, name: string, channels: number | string): string {
  const x = graph.input(name, ['batch', 'height', 'width', channels], 'NHWC');
  return graph.op('Transpose', [x], { perm: toNchw }, `${name}.nchw`);
}

function nhwcOutput(graph: GraphBuilder, value: string, name: string, channels: number | string): void {
  const t = graph.op('Transpose', [value], { perm: toNhwc }, `${name}.nhwc`);
  graph.output(t, name, ['batch', 'out_height', 'out_width', channels], 'NHWC');
}

/** g_a: x [b, H, W, 3] in [0, 1] -> y [b, H/16, W/16, M]. */
export function analysisGraph(t: BackboneTransforms, opts: GraphOptions = {}): GraphBuilder {
  const graph = new GraphBuilder('analysis');
  const x = nhwcInput(graph, IO.analysis.input, 3);
  const y = exportModule(t.analysis.module, x, { graph, name: '', deconv: opts.deconv });
  nhwcOutput(graph, y, IO.analysis.output, 'M');
  return graph;
}

/** h_a: y -> z (with |y| first when the backbone's h_a looks at magnitudes). */
export function hyperAnalysisGraph(t: BackboneTransforms, opts: GraphOptions = {}): GraphBuilder {
  if (!t.hyperAnalysis) throw new Error('this backbone has no hyper-analysis');
  const graph = new GraphBuilder('hyper_analysis');
  let y = nhwcInput(graph, IO.hyperAnalysis.input, 'M');
  if (t.hyperAnalysis.input === 'abs') y = graph.op('Abs', [y], undefined, 'y.abs');
  const z = exportModule(t.hyperAnalysis.module, y, { graph, name: '', deconv: opts.deconv });
  nhwcOutput(graph, z, IO.hyperAnalysis.output, 'N');
  return graph;
}

/** Float h_s: z-hat -> Gaussian parameters (for other tools; the codec runs its fixed-point copy). */
export function hyperSynthesisGraph(t: BackboneTransforms, opts: GraphOptions = {}): GraphBuilder {
  if (!t.hyperSynthesis) throw new Error('this backbone has no hyper-synthesis');
  const graph = new GraphBuilder('hyper_synthesis');
  const z = nhwcInput(graph, IO.hyperSynthesis.input, 'N');
  const out = exportModule(t.hyperSynthesis.module, z, { graph, name: '', deconv: opts.deconv });
  nhwcOutput(graph, out, IO.hyperSynthesis.output, 'P');
  return graph;
}

export interface SynthesisGraphOptions extends GraphOptions {
  /** first block to include (default 0) */
  from?: number;
  /** one past the last block (default all) */
  to?: number;
  hook?: GraphBlockHook;
}

/**
 * g_s blocks [from, to): y-hat [b, h, w, M] -> x-hat [b, 16h, 16w, 3]
 * (unclipped). A partial range reads and writes the features between blocks.
 */
export function synthesisGraph(t: BackboneTransforms, opts: SynthesisGraphOptions = {}): GraphBuilder {
  const blocks = t.synthesisBlocks;
  const from = opts.from ?? 0;
  const to = opts.to ?? blocks.length;
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= blocks.length)) {
    throw new RangeError(`synthesis blocks [${from}, ${to}) out of [0, ${blocks.length})`);
  }
  const whole = from === 0 && to === blocks.length;
  const graph = new GraphBuilder(whole ? 'synthesis' : `synthesis_${from}_${to}`);
  const inChannels = from === 0 ? 'M' : blocks[from - 1].channels;
  let h = nhwcInput(graph, from === 0 ? IO.synthesis.input : `block${from - 1}`, inChannels);
  for (let i = from; i < to; i++) {
    h = exportModule(blocks[i].module, h, { graph, name: `block${i}`, deconv: opts.deconv });
    if (opts.hook) h = opts.hook({ graph, blockIndex: i, channels: blocks[i].channels, features: h });
  }
  nhwcOutput(graph, h, to === blocks.length ? IO.synthesis.output : `block${to - 1}`, blocks[to - 1].channels);
  return graph;
}
