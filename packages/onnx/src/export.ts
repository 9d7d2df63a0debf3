/**
 * Export a backbone's float transforms as .onnx files plus a manifest
 * (manifest.json) that says what each graph computes, its NHWC inputs and
 * outputs, and which weights (fingerprint) it came from. The entropy coding
 * (factorized z, Gaussian y, the fixed-point h_s that picks CDF indexes) is
 * not in the graphs: it stays in TypeScript so streams stay bit-exact.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, type LicBackbone } from '@psic/core';
import { analysisGraph, hyperAnalysisGraph, hyperSynthesisGraph, IO, synthesisGraph, type GraphBlockHook, type GraphOptions } from './graphs.js';
import { OPSET_VERSION, IR_VERSION } from './onnx-proto.js';
import { blockBiasInput, blockBiasInputs } from './onnx-transforms.js';
import { describeTransforms } from './transforms.js';

export interface ExportedGraph {
  /** 'analysis' (g_a), 'hyper_analysis' (h_a), 'hyper_synthesis' (float h_s), 'synthesis' (g_s) */
  name: string;
  file: string;
  bytes: Uint8Array;
  input: string;
  output: string;
  description: string;
}

export interface ExportOptions extends GraphOptions {
  /** contributes nodes after each synthesis block (an adapter); see GraphBlockHook */
  synthesisHook?: GraphBlockHook;
  /** key/value pairs stored in every graph's metadata */
  metadata?: Record<string, string>;
  /**
   * Also write 'synthesis_biased': g_s with a per-channel bias input after
   * each block (`block<i>.bias`, [1, C, 1, 1]), for a conditional adapter
   * whose hook adds a bias computed from the condition (CLTG).
   */
  blockBiases?: boolean;
}

/** The ONNX graphs of `backbone`'s float transforms, in memory. */
export function exportTransforms(backbone: LicBackbone, opts: ExportOptions = {}): ExportedGraph[] {
  const t = describeTransforms(backbone);
  const metadata = { backbone: backbone.name, layout: 'NHWC', ...opts.metadata };
  const graphs: ExportedGraph[] = [];
  const add = (name: string, bytes: Uint8Array, io: { input: string; output: string }, description: string) =>
    graphs.push({ name, file: `${name}.onnx`, bytes, ...io, description });
  add('analysis', analysisGraph(t, opts).toBytes({ metadata, doc: 'g_a' }), IO.analysis, 'g_a: padded image [1, H, W, 3] in [0, 1] -> y [1, H/16, W/16, M]');
  if (t.hyperAnalysis) {
    add('hyper_analysis', hyperAnalysisGraph(t, opts).toBytes({ metadata, doc: 'h_a' }), IO.hyperAnalysis, `h_a: y -> z${t.hyperAnalysis.input === 'abs' ? ' (of |y|)' : ''}`);
  }
  if (t.hyperSynthesis) {
    add(
      'hyper_synthesis',
      hyperSynthesisGraph(t, opts).toBytes({ metadata, doc: 'h_s (float)' }),
      IO.hyperSynthesis,
      'float h_s: z-hat -> Gaussian parameters; the codec itself runs a fixed-point copy to pick CDF indexes',
    );
  }
  add(
    'synthesis',
    synthesisGraph(t, { ...opts, hook: opts.synthesisHook }).toBytes({ metadata, doc: 'g_s' }),
    IO.synthesis,
    'g_s: y-hat [1, h, w, M] -> image [1, 16h, 16w, 3], unclipped (clip to [0, 1])',
  );
  if (opts.blockBiases) {
    add(
      'synthesis_biased',
      synthesisGraph(t, { ...opts, hook: blockBiasInputs }).toBytes({ metadata, doc: 'g_s with per-block bias inputs' }),
      IO.synthesis,
      `g_s with a bias added after each block: inputs y_hat and ${t.synthesisBlocks.map((b, i) => `${blockBiasInput(i)} [1, ${b.channels}, 1, 1]`).join(', ')}`,
    );
  }
  return graphs;
}

export interface ExportManifest {
  format: 'psic-onnx';
  version: 1;
  model: string;
  backbone: string;
  config: Record<string, unknown>;
  /** hex fingerprint of the weights the graphs were made from */
  fingerprint: string;
  irVersion: number;
  opset: number;
  layout: 'NHWC';
  graphs: { name: string; file: string; input: string; output: string; bytes: number; description: string }[];
}

/** Write the graphs and manifest.json into `dir` (created if needed); each file is written atomically. */
export async function writeOnnxExport(
  dir: string,
  backbone: LicBackbone,
  info: { model: string; fingerprint: string },
  opts: ExportOptions = {},
): Promise<ExportManifest> {
  const graphs = exportTransforms(backbone, { ...opts, metadata: { model: info.model, fingerprint: info.fingerprint, ...opts.metadata } });
  await mkdir(dir, { recursive: true });
  for (const g of graphs) await writeFileAtomic(join(dir, g.file), g.bytes);
  const manifest: ExportManifest = {
    format: 'psic-onnx',
    version: 1,
    model: info.model,
    backbone: backbone.name,
    config: { ...backbone.config },
    fingerprint: info.fingerprint,
    irVersion: IR_VERSION,
    opset: OPSET_VERSION,
    layout: 'NHWC',
    graphs: graphs.map(({ bytes, ...g }) => ({ ...g, bytes: bytes.length })),
  };
  await writeFileAtomic(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
