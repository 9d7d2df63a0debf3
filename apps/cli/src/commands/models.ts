import { listModels } from '@psic/zoo';
import { parse } from '../args.js';
import { table } from '../output.js';

const HELP = `Usage: psic models [--json]

List the models shipped with PSIC and the figures their sidecars record.
`;

export async function modelsCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { json: { type: 'boolean' } }, HELP);
  const models = await listModels();
  const rows = models.map((m) => {
    const val = (m.sidecar.validation ?? {}) as Record<string, unknown>;
    return { name: m.name, architecture: m.architecture, ...m.config, lambda: m.sidecar.lambda, steps: m.sidecar.steps, val_bpp: val.bpp, val_psnr: val.psnr };
  });
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  else process.stdout.write(table(rows, ['name', 'architecture', 'N', 'M', 'lambda', 'steps', 'val_bpp', 'val_psnr']));
}
