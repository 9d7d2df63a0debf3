#!/usr/bin/env node
/**
 * The `psic` command. Every failure from outside input is a PsicError with a
 * code: printed as one line on stderr (no stack), exit status 2 for usage
 * errors and 1 for the rest.
 */
import { PsicError } from '@psic/entropy';
import { clipCommand } from './commands/clip.js';
import { batchCommand } from './commands/batch.js';
import { decodeCommand } from './commands/decode.js';
import { demoCommand } from './commands/demo.js';
import { encodeCommand } from './commands/encode.js';
import { importCommand } from './commands/import.js';
import { evalCommand } from './commands/eval.js';
import { infoCommand } from './commands/info.js';
import { modelsCommand } from './commands/models.js';
import { trainCommand } from './commands/train.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; summary: string }> = {
  demo: { run: demoCommand, summary: 'encode + decode a built-in picture and print bpp / PSNR' },
  encode: { run: encodeCommand, summary: 'compress an image to a .psic file' },
  decode: { run: decodeCommand, summary: 'decompress a .psic file to a PNG' },
  eval: { run: evalCommand, summary: 'rate-distortion figures on a folder of images (optionally vs JPEG / WebP)' },
  train: { run: trainCommand, summary: 'train a codec (checkpointed, resumable)' },
  models: { run: modelsCommand, summary: 'list the shipped models' },
  info: { run: infoCommand, summary: 'validate a .psic file and print its header' },
  export: { run: (argv) => import('./commands/export.js').then((m) => m.exportCommand(argv)), summary: "write a model's float transforms as ONNX graphs" },
  import: { run: importCommand, summary: 'import a CompressAI checkpoint as a PSIC model (safe: no pickle code runs)' },
  batch: { run: batchCommand, summary: 'queue a folder of images for the batch workers (BullMQ on Redis)' },
  clip: { run: clipCommand, summary: 'CLIP similarity of images and texts (logits, probabilities)' },
  'zero-shot': { run: (argv) => import('./commands/zero-shot.js').then((m) => m.zeroShotCommand(argv)), summary: 'zero-shot top-1 of a semantic target on CIFAR-10 (prompt ensembling)' },
  bavaft: { run: (argv) => import('./commands/bavaft.js').then((m) => m.bavaftCommand(argv)), summary: 'BAvAFT backdoor baseline: train a DCT trigger + codec, evaluate clean vs poisoned' },
  'eval-privacy': { run: (argv) => import('./commands/eval-privacy.js').then((m) => m.evalPrivacyCommand(argv)), summary: 'PSIC privacy figures: plain / full / protected decodes vs a semantic target (accuracy, R@1, ASR)' },
  'eval-machine': { run: (argv) => import('./commands/eval-machine.js').then((m) => m.evalMachineCommand(argv)), summary: 'UG-ICM figures: plain / human / machine decodes on unseen tasks (detection, faces, classes)' },
};

const HELP = `Usage: psic <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(13)} ${c.summary}`)
  .join('\n')}

Run psic <command> --help for a command's options.
`;

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write('0.1.0\n');
    return;
  }
  const command = COMMANDS[name];
  if (!command) throw new PsicError('USAGE', `unknown command "${name}"\n\n${HELP}`);
  await command.run(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof PsicError) {
    process.stderr.write(`psic: ${err.code}: ${err.message}\n`);
    process.exitCode = err.code === 'USAGE' ? 2 : 1;
  } else if (isSystemError(err)) {
    // a missing input file, an unwritable output folder: the user's to fix, so no stack
    process.stderr.write(`psic: ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`psic: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
});

function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
