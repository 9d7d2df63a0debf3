/** Command-line options of the experiments runner: parsing, help, and usage errors. */
import { parseArgs } from 'node:util';
import { PsicError } from '@psic/entropy';
import { DEFAULT_RUNS_DIR } from './training-plan.mjs';

export const HELP = `Usage: npm run experiments -- [options]
       node tools/experiments/run.mjs [options]        (packages already built)

Reproduces the experiments of the PSIC (ICML 2025) and UG-ICM (AAAI 2025)
papers with this project's CLI and writes docs/results.md, its SVG plots and
the raw JSON of every figure (docs/results/).

By default it first trains every model of the plan (psic train / psic bavaft
train with --resume, outputs under runs/experiments/<name>/; hours on a
2-core machine), then evaluates them: a model the plan has trained comes from
runs/experiments/<name>/, any other from the zoo (packages/zoo/models).
With --eval-only it evaluates the SHIPPED models only, regenerating every
figure (nothing is reused from an earlier run).

Sections: rd (rate-distortion on Kodak), privacy (PSIC on CIFAR-10 and
CelebA), ablation (UAEO vs the naive attack), bavaft (BAvAFT baseline),
ugicm (UG-ICM machine decodes). An experiment whose model is not shipped
(or trained) is reported as "not shipped yet" with the command that trains it.

Options:
  --eval-only        evaluate the shipped models; train nothing
  --dry-run          print the commands (training and evaluation) and exit
  --only NAMES       comma-separated: training experiments (e.g. naive-q1) and/or sections
                     (rd, privacy, ablation, bavaft, ugicm) or model names; the rest is skipped
                     (the report says which parts were run)
  --quick            tiny image counts, for trying the runner out (the report says so)
  --out FILE         report path (default docs/results.md); plots and JSON go to
                     <folder of FILE>/results/
  --runs DIR         where the plan trains (default runs/experiments)
  --json             progress as JSON lines on stdout (one per step) instead of text on stderr
  -h, --help         show this help

Run it under "nice -n 19" when other work shares the machine.
`;

const SECTIONS = ['rd', 'privacy', 'ablation', 'bavaft', 'ugicm'];

/** The parsed options; throws PsicError('USAGE') with the help on anything it does not understand. */
export function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        'eval-only': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        only: { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        runs: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new PsicError('USAGE', `${err.message}\n\n${HELP}`);
  }
  const v = parsed.values;
  const only = v.only === undefined ? undefined : v.only.split(',').map((s) => s.trim()).filter(Boolean);
  if (only !== undefined && only.length === 0) throw new PsicError('USAGE', `--only needs at least one name (an experiment, a model or one of ${SECTIONS.join(', ')})`);
  return {
    help: v.help === true,
    evalOnly: v['eval-only'] === true,
    dryRun: v['dry-run'] === true,
    only,
    quick: v.quick === true,
    out: v.out ?? 'docs/results.md',
    runs: (v.runs ?? DEFAULT_RUNS_DIR).replace(/\/+$/, ''),
    json: v.json === true,
  };
}

export { SECTIONS };
