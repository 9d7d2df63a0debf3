import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  compressaiArchitectures,
  fingerprintHex,
  fingerprintWeights,
  importCompressai,
  importedModelTensors,
  readCheckpointFile,
  selectBackend,
  sidecarPath,
  writeFileAtomic,
  writeSafetensors,
  writeSidecar,
} from '@psic/core';
import { PsicError } from '@psic/entropy';
// registers the CompressAI architectures the hyperprior backbone hosts
import '@psic/backbone-hyperprior';
import { parse, requirePositionals } from '../args.js';
import { report } from '../output.js';

const FORMATS = ['compressai'];

const HELP = `Usage: psic import --from compressai [--arch NAME] CHECKPOINT OUT_MODEL [options]

Turn a trained codec from another framework into a PSIC model:
OUT_MODEL.safetensors (weights, and the checkpoint's CDF tables) and
OUT_MODEL.json (architecture, N/M, provenance). Then use it like a shipped
model: psic encode|decode|eval --model OUT_MODEL.safetensors.

CHECKPOINT is a PyTorch .pth / .pth.tar (zip or legacy format, a bare state
dict or one under "state_dict", "network", ...) or a .safetensors file. It is
read without running any of its code: a pickle naming anything a state dict
does not need is refused.

Options:
  --from FORMAT       where the checkpoint comes from: ${FORMATS.join(', ')}
  --arch NAME         ${compressaiArchitectures.list().join(', ')}
                      (default: recognised from the checkpoint's keys and shapes)
  --name NAME         model name for the sidecar (default: OUT_MODEL's file name)
  --state-dict KEY    take the state dict from this key of the checkpoint
  --backend NAME      tensor backend: auto, tensorflow, wasm, cpu (default auto)
  --json              print the result as JSON
  -h, --help          show this help
`;

export async function importCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      from: { type: 'string' },
      arch: { type: 'string' },
      name: { type: 'string' },
      'state-dict': { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean' },
    },
    HELP,
  );
  if (values.from === undefined) throw new PsicError('USAGE', `--from is required (${FORMATS.join(', ')})\n\n${HELP}`);
  if (!FORMATS.includes(String(values.from))) throw new PsicError('USAGE', `--from ${String(values.from)} is not supported; known: ${FORMATS.join(', ')}`);
  requirePositionals(positionals, 2, HELP);
  const [checkpointPath, out] = positionals;
  const weightsPath = out.endsWith('.safetensors') ? out : `${out}.safetensors`;
  await selectBackend((values.backend as string | undefined) ?? 'auto');

  const t0 = performance.now();
  const checkpoint = await readCheckpointFile(checkpointPath, { stateDictKey: values['state-dict'] as string | undefined });
  const imported = importCompressai(checkpoint.tensors, { architecture: values.arch as string | undefined });
  const name = (values.name as string | undefined) ?? basename(weightsPath, '.safetensors');
  const codingTables = imported.tablesInstalled ? 'stored' : 'rebuilt';
  const bytes = writeSafetensors(importedModelTensors(imported), { format: 'pt', source: 'compressai', architecture: imported.architecture.name });
  imported.backbone.dispose?.();
  const fingerprint = fingerprintHex(fingerprintWeights(bytes));
  const checkpointSha256 = createHash('sha256').update(await readFile(checkpointPath)).digest('hex');

  await writeFileAtomic(weightsPath, bytes);
  await writeSidecar(sidecarPath(weightsPath), {
    name,
    architecture: imported.architecture.backbone,
    config: imported.config,
    importedFrom: {
      format: 'compressai',
      architecture: imported.architecture.name,
      class: imported.architecture.className,
      checkpoint: basename(checkpointPath),
      sha256: checkpointSha256,
      container: checkpoint.format,
      stateDictKey: checkpoint.stateDictKey,
    },
    // 'stored': CompressAI's own CDF tables travel in the weight file; 'rebuilt': the checkpoint had none
    codingTables,
    weights: basename(weightsPath),
    fingerprint,
  });

  report(values.json === true, {
    checkpoint: checkpointPath,
    container: checkpoint.format,
    architecture: imported.architecture.name,
    ...imported.config,
    tensors: checkpoint.tensors.size,
    codingTables,
    weights: weightsPath,
    sidecar: sidecarPath(weightsPath),
    fingerprint,
    seconds: (performance.now() - t0) / 1000,
  });
}
