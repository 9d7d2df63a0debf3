import { readFile } from 'node:fs/promises';
import { decodeImage, encodePng, writeFileAtomic } from '@psic/core';
import { attachConditional, decodeWithCondition, isConditionalSidecar, readKeyFile, type Condition } from '@psic/cltg';
import { PsicError } from '@psic/entropy';
import type { LoadedModel } from '@psic/zoo';
import { parse, requirePositionals } from '../args.js';
import { loadCliModel, MODEL_HELP, MODEL_OPTIONS, runtimeOption } from '../model-options.js';
import { report } from '../output.js';

const HELP = `Usage: psic decode IN.psic OUT.png [options]

Decompress a .psic file to a PNG. The stream names its backbone and the
fingerprint of the weights it was made with; decoding with other weights is
refused (WRONG_MODEL).

A conditional model (PSIC, UG-ICM) decodes the same stream in several modes:
without options its default one (PSIC: the protected image); with the
owner's key, the full image; --mode picks another keyless mode (machine).

Options:
${MODEL_HELP}
  --key-file F        the owner's key: decode the keyed mode (PSIC: full)
  --mode NAME         decoding mode of a conditional model (protected, full, human, machine, ...)
  --json              print the result as JSON
  -h, --help          show this help
`;

export async function decodeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { ...MODEL_OPTIONS, json: { type: 'boolean' }, 'key-file': { type: 'string' }, mode: { type: 'string' } }, HELP);
  requirePositionals(positionals, 2, HELP);
  const [input, output] = positionals;
  const model = await loadCliModel(values);
  const bytes = new Uint8Array(await readFile(input));
  const t0 = performance.now();
  const conditional = await conditionalDecode(model, values);
  const img = conditional ? await decodeWithCondition(model, conditional.adapter, bytes, conditional.condition) : await decodeImage(model, bytes);
  const seconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(output, await encodePng(img));
  report(values.json === true, { input, output, model: model.name, runtime: runtimeOption(values), ...(conditional ? { mode: conditional.condition.mode } : {}), width: img.width, height: img.height, seconds });
}

/** For a conditional model: its adapter and the condition the options ask for (default mode, key, --mode). */
async function conditionalDecode(model: LoadedModel, values: Record<string, unknown>) {
  const keyFile = values['key-file'] as string | undefined;
  const modeName = values.mode as string | undefined;
  if (!isConditionalSidecar(model.info.sidecar)) {
    if (keyFile !== undefined || modeName !== undefined) throw new PsicError('USAGE', `model ${model.name} has one decoding only; --key-file and --mode need a conditional model (PSIC, UG-ICM)`);
    return undefined;
  }
  const adapter = await attachConditional(model.backbone, model.info.weightsPath, model.info.sidecar);
  const keyed = adapter.modes.filter((m) => m.keyed);
  const mode = modeName ?? (keyFile !== undefined && keyed.length === 1 ? keyed[0].name : adapter.defaultMode.name);
  if (!adapter.modes.some((m) => m.name === mode)) throw new PsicError('USAGE', `model ${model.name} has no mode "${mode}"; its modes: ${adapter.modes.map((m) => m.name).join(', ')}`);
  const needsKey = adapter.modes.find((m) => m.name === mode)!.keyed === true;
  if (needsKey && keyFile === undefined) throw new PsicError('KEY_REQUIRED', `mode "${mode}" needs the owner's key: pass --key-file F`);
  if (!needsKey && keyFile !== undefined) throw new PsicError('USAGE', `mode "${mode}" takes no key; drop --key-file`);
  const condition: Condition = needsKey ? { mode, key: await readKeyFile(keyFile!) } : { mode };
  return { adapter, condition };
}
