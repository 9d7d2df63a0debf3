/**
 * CompressAI's scale-hyperprior family as data for @psic/core's importer:
 * one entry per CompressAI model this package's Hyperprior hosts. The layers
 * already carry CompressAI's names (g_a.0.weight, g_s.1.beta, h_s.4.bias,
 * entropy_bottleneck._matrix0, ...), so no key needs a rename beyond the
 * importer's common ones; N and M come from the shapes, as CompressAI's own
 * `from_state_dict` reads them.
 */
import { compressaiArchitectures, importCompressai, readCheckpointFile, type CheckpointLimits, type CompressaiArchitecture, type CompressaiImport } from '@psic/core';
import './register.js';

export const HYPERPRIOR_COMPRESSAI_ARCHITECTURES: readonly CompressaiArchitecture[] = [
  {
    name: 'bmshj2018-hyperprior',
    className: 'compressai.models.google.ScaleHyperprior',
    backbone: 'bmshj2018-hyperprior',
    config: { N: ['g_a.0.weight', 0], M: ['g_a.6.weight', 0] },
  },
  {
    name: 'mbt2018-mean',
    className: 'compressai.models.google.MeanScaleHyperprior',
    backbone: 'mbt2018-mean',
    config: { N: ['g_a.0.weight', 0], M: ['g_a.6.weight', 0] },
  },
];

for (const architecture of HYPERPRIOR_COMPRESSAI_ARCHITECTURES) {
  if (!compressaiArchitectures.has(architecture.name)) compressaiArchitectures.register(architecture.name, architecture);
}

/** Read a CompressAI checkpoint (.pth / .pth.tar / .safetensors) and import it; `architecture` as in `psic import --arch`. */
export async function importCompressaiCheckpoint(path: string, opts: { architecture?: string; limits?: CheckpointLimits } = {}): Promise<CompressaiImport & { format: string }> {
  const checkpoint = await readCheckpointFile(path, { limits: opts.limits });
  return { ...importCompressai(checkpoint.tensors, { architecture: opts.architecture }), format: checkpoint.format };
}
