import { isConditionalSidecar } from '@psic/cltg';
import { selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { writeOnnxExport } from '@psic/onnx';
import { DEFAULT_MODEL, loadModel, modelForQuality } from '@psic/zoo';
import { intOption, parse, requirePositionals } from '../args.js';
import { report } from '../output.js';

const HELP = `Usage: psic export --format onnx [options] OUT_DIR

Write a model's float transforms as ONNX graphs (opset 17, NHWC inputs and
outputs) into OUT_DIR: analysis.onnx (g_a), hyper_analysis.onnx (h_a),
hyper_synthesis.onnx (float h_s), synthesis.onnx (g_s), and manifest.json
naming each graph's input, output and the weights' fingerprint. A conditional
model also gets synthesis_biased.onnx (a bias input after each block, for its
adapter). The entropy coding is not in the graphs: it stays in TypeScript.

Options:
  --format NAME       onnx (the only format so far; default)
  -m, --model NAME    shipped model name or path to a .safetensors file (default ${DEFAULT_MODEL})
  -q, --quality Q     rate point of the default backbone instead of --model
  --json              print the result as JSON
  -h, --help          show this help
`;

export async function exportCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { format: { type: 'string' }, model: { type: 'string', short: 'm' }, quality: { type: 'string', short: 'q' }, json: { type: 'boolean' } },
    HELP,
  );
  requirePositionals(positionals, 1, HELP);
  const format = String(values.format ?? 'onnx');
  if (format !== 'onnx') throw new PsicError('USAGE', `--format takes onnx, not "${format}"`);
  if (values.model !== undefined && values.quality !== undefined) throw new PsicError('USAGE', `give --model or --quality, not both\n\n${HELP}`);
  // The weights are only read: the plain cpu backend starts fastest.
  await selectBackend('cpu', { log: () => {} });
  const name = values.model !== undefined ? String(values.model) : values.quality !== undefined ? modelForQuality(intOption(values, 'quality', 1)) : DEFAULT_MODEL;
  const model = await loadModel(name);
  const [dir] = positionals;
  const t0 = performance.now();
  const manifest = await writeOnnxExport(dir, model.backbone, { model: model.name, fingerprint: model.info.fingerprint }, { blockBiases: isConditionalSidecar(model.info.sidecar) });
  report(values.json === true, {
    model: model.name,
    backbone: manifest.backbone,
    fingerprint: manifest.fingerprint,
    dir,
    files: [...manifest.graphs.map((g) => g.file), 'manifest.json'].join(', '),
    bytes: manifest.graphs.reduce((a, g) => a + g.bytes, 0),
    seconds: (performance.now() - t0) / 1000,
  });
}
