/**
 * Turns @psic/core layer objects into ONNX nodes (NCHW), walking a module
 * tree instead of knowing any backbone: Sequential, Conv2d, ConvTranspose2d,
 * GDN / inverse GDN, ReLU, LeakyReLU. Another layer type (a masked conv, an
 * attention block) plugs in with `registerLayerExporter`.
 *
 * Weights go out in PyTorch / ONNX layout, which is what both ONNX ops take:
 * Conv W [out, in, kh, kw], ConvTranspose W [in, out, kh, kw]. GDN goes out
 * with its *effective* beta and gamma (the reparametrisation applied), as
 * Mul -> 1x1 Conv(gamma, beta) -> Sqrt -> Div (Mul for the inverse).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d,
  ConvTranspose2d,
  GDN,
  LeakyReLU,
  ReLU,
  Sequential,
  convTransposeWeightToTorch,
  convWeightToTorch,
  joinName,
  type Module,
} from '@psic/core';
import { PsicError } from '@psic/entropy';
import type { GraphBuilder } from './graph-builder.js';

export interface LayerExportContext {
  graph: GraphBuilder;
  /** dotted name of this layer ('g_a.0'), used to name its weights in the graph */
  name: string;
  /**
   * How a transposed convolution goes out. 'phases-split' (default): one Conv
   * per output phase (stride² of them, each with its exact taps), a Concat and
   * a DepthToSpace, which onnxruntime runs with its blocked direct
   * convolution: ~1.8x faster than its ConvTranspose, and without that op's
   * col2im buffer of C·k²·H·W floats. 'phases': one Conv over the union of
   * the phase windows (zero taps included). 'ConvTranspose': the plain op,
   * also used for few output channels (the image layer, where it is lighter)
   * and wherever the output is not exactly stride × input.
   */
  deconv?: 'phases' | 'phases-split' | 'ConvTranspose';
}

/** Emits the nodes of one layer applied to the NCHW value `input`; returns the output value's name. */
export type LayerExporter<L extends Module = Module> = (layer: L, input: string, ctx: LayerExportContext) => string;

type Constructor<L> = abstract new (...args: never[]) => L;

const exporters: [Constructor<Module>, LayerExporter][] = [];

/** Teach the exporter a layer class (checked before the built-in ones, most recent first). */
export function registerLayerExporter<L extends Module>(type: Constructor<L>, exporter: LayerExporter<L>): void {
  exporters.unshift([type as Constructor<Module>, exporter as LayerExporter]);
}

/** Emit `module` (a layer or a tree of Sequentials) on `input`; `name` prefixes its weights' names. */
export function exportModule(module: Module, input: string, ctx: LayerExportContext): string {
  for (const [type, exporter] of exporters) {
    if (module instanceof type) return exporter(module, input, ctx);
  }
  throw new PsicError('UNSUPPORTED_LAYER', `no ONNX export for layer ${module.constructor.name} (${ctx.name}); register one with registerLayerExporter`);
}

function plain(v: tf.Tensor): { data: Float32Array; shape: number[] } {
  return { data: v.dataSync() as Float32Array, shape: [...v.shape] };
}

const exportSequential: LayerExporter<Sequential> = (seq, input, ctx) =>
  seq.layers.reduce((h, layer, i) => exportModule(layer, h, { ...ctx, name: joinName(ctx.name, seq.name, String(seq.firstIndex + i)) }), input);

const exportConv: LayerExporter<Conv2d> = (conv, input, { graph, name }) => {
  const w = convWeightToTorch(plain(conv.weight));
  const W = graph.constant(`${name}.weight`, w.data, w.shape);
  const B = graph.constant(`${name}.bias`, conv.bias.dataSync() as Float32Array, [conv.cout]);
  const p = conv.padding;
  return graph.op('Conv', [input, W, B], { kernel_shape: [conv.kernel, conv.kernel], strides: [conv.stride, conv.stride], pads: [p, p, p, p] }, name);
};

const exportConvTranspose: LayerExporter<ConvTranspose2d> = (deconv, input, { graph, name, deconv: how }) => {
  const { kernel: k, stride: s, padding: p, outputPadding: op } = deconv;
  const mode = how ?? 'phases-split';
  // Every phase window must need no negative padding: true for CompressAI's p = k // 2, op = s - 1.
  const phasesFit = k - 2 * p + op === s && p + s <= k;
  // Few output channels (the image layer): ConvTranspose's GEMM + col2im is lighter than a phase Conv over all taps.
  const manyOutputs = deconv.cout >= 16;
  if (mode !== 'ConvTranspose' && phasesFit && manyOutputs) return exportDeconvAsPhases(deconv, input, graph, name, mode === 'phases-split');
  const w = convTransposeWeightToTorch(plain(deconv.weight));
  const W = graph.constant(`${name}.weight`, w.data, w.shape);
  const B = graph.constant(`${name}.bias`, deconv.bias.dataSync() as Float32Array, [deconv.cout]);
  return graph.op('ConvTranspose', [input, W, B], { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], output_padding: [op, op] }, name);
};

/**
 * ConvTranspose2d as stride-1 Convs + DepthToSpace (sub-pixel convolution).
 * PyTorch's transposed conv adds in[i]·w[t] to out[s·i − p + t]; for the
 * output phase r (out index s·m + r) the input j = m + u contributes through
 * tap t = r + p − s·u when 0 <= t < k, i.e. for u in
 * [ceil((r + p − k + 1) / s), floor((r + p) / s)]. So each of the s² phases
 * is a correlation with pads (−uMin, uMax): 'phases' computes them as one
 * Conv over the union window (missing taps zero, s²·out channels);
 * 'phases-split' as one Conv per phase with its exact window (fewer
 * multiply-adds) joined by a Concat. Channels are ordered (ry, rx, channel),
 * as DepthToSpace's DCR mode expects.
 */
function exportDeconvAsPhases(deconv: ConvTranspose2d, input: string, graph: GraphBuilder, name: string, split: boolean): string {
  const { kernel: k, stride: s, padding: p, cin, cout } = deconv;
  const window = (r: number) => ({ min: Math.ceil((r + p - k + 1) / s), max: Math.floor((r + p) / s) });
  const union = { min: Math.ceil((p - k + 1) / s), max: Math.floor((s - 1 + p) / s) };
  const w = deconv.weight.dataSync() as Float32Array; // tfjs layout [kh, kw, cout, cin]
  const bias = deconv.bias.dataSync() as Float32Array;
  // Weights [cout, cin, Ky, Kx] of phase (ry, rx) over the windows wy, wx.
  const phaseWeights = (ry: number, rx: number, wy: { min: number; max: number }, wx: { min: number; max: number }): Float32Array => {
    const Ky = wy.max - wy.min + 1;
    const Kx = wx.max - wx.min + 1;
    const out = new Float32Array(cout * cin * Ky * Kx);
    for (let uy = wy.min; uy <= wy.max; uy++) {
      const ty = ry + p - s * uy;
      if (ty < 0 || ty >= k) continue;
      for (let ux = wx.min; ux <= wx.max; ux++) {
        const tx = rx + p - s * ux;
        if (tx < 0 || tx >= k) continue;
        for (let co = 0; co < cout; co++) {
          for (let ci = 0; ci < cin; ci++) out[((co * cin + ci) * Ky + (uy - wy.min)) * Kx + (ux - wx.min)] = w[((ty * k + tx) * cout + co) * cin + ci];
        }
      }
    }
    return out;
  };
  const phases: [number, number][] = [];
  for (let ry = 0; ry < s; ry++) for (let rx = 0; rx < s; rx++) phases.push([ry, rx]);
  let joined: string;
  if (split) {
    const outs = phases.map(([ry, rx]) => {
      const wy = window(ry);
      const wx = window(rx);
      const W = graph.constant(`${name}.weight_phase${ry}${rx}`, phaseWeights(ry, rx, wy, wx), [cout, cin, wy.max - wy.min + 1, wx.max - wx.min + 1]);
      const B = graph.constant(`${name}.bias`, bias.slice(), [cout]);
      const attrs = { kernel_shape: [wy.max - wy.min + 1, wx.max - wx.min + 1], pads: [-wy.min, -wx.min, wy.max, wx.max] };
      return graph.op('Conv', [input, W, B], attrs, `${name}.phase${ry}${rx}`);
    });
    joined = graph.op('Concat', outs, { axis: 1 }, `${name}.phases`);
  } else {
    const K = union.max - union.min + 1;
    const W = new Float32Array(phases.length * cout * cin * K * K);
    phases.forEach(([ry, rx], i) => W.set(phaseWeights(ry, rx, union, union), i * cout * cin * K * K));
    const B = new Float32Array(phases.length * cout);
    phases.forEach((_, i) => B.set(bias, i * cout));
    const Wname = graph.constant(`${name}.weight_phases`, W, [phases.length * cout, cin, K, K]);
    const Bname = graph.constant(`${name}.bias_phases`, B, [phases.length * cout]);
    joined = graph.op('Conv', [input, Wname, Bname], { kernel_shape: [K, K], pads: [-union.min, -union.min, union.max, union.max] }, `${name}.phases`);
  }
  return graph.op('DepthToSpace', [joined], { blocksize: s, mode: 'DCR' }, name);
}

const exportGdn: LayerExporter<GDN> = (gdn, input, { graph, name }) => {
  const C = gdn.channels;
  // Effective values exactly as tfjs computes them for the forward pass.
  const beta = tf.tidy(() => gdn.betaReparam.forward(gdn.beta).dataSync() as Float32Array);
  const gamma = tf.tidy(() => gdn.gammaReparam.forward(gdn.gamma).dataSync() as Float32Array);
  // norm_i = beta_i + sum_j gamma_ij x_j^2 is a 1x1 conv whose W[out=i, in=j] is gamma[i][j].
  const W = graph.constant(`${name}.gamma`, gamma, [C, C, 1, 1]);
  const B = graph.constant(`${name}.beta`, beta, [C]);
  const squared = graph.op('Mul', [input, input], undefined, `${name}.square`);
  const norm = graph.op('Conv', [squared, W, B], { kernel_shape: [1, 1] }, `${name}.norm`);
  const root = graph.op('Sqrt', [norm], undefined, `${name}.sqrt`);
  return graph.op(gdn.inverse ? 'Mul' : 'Div', [input, root], undefined, name);
};

const exportRelu: LayerExporter<ReLU> = (_relu, input, { graph, name }) => graph.op('Relu', [input], undefined, name);

const exportLeakyRelu: LayerExporter<LeakyReLU> = (layer, input, { graph, name }) =>
  graph.op('LeakyRelu', [input], { alpha: { float: layer.negativeSlope } }, name);

registerLayerExporter(Sequential, exportSequential);
registerLayerExporter(Conv2d, exportConv);
registerLayerExporter(ConvTranspose2d, exportConvTranspose);
registerLayerExporter(GDN, exportGdn);
registerLayerExporter(ReLU, exportRelu);
registerLayerExporter(LeakyReLU, exportLeakyRelu);
