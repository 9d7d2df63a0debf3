/**
 * The models an evaluation runs on, read from their JSON sidecars only (no
 * code change when a model ships): the zoo's (packages/zoo/models, through
 * @psic/zoo's listModels) and, after training, those under
 * runs/experiments/<name>/model.json. Each becomes a record with its kind
 * (what the sidecar says it is), how to pass it to the CLI (--model), its
 * rate point and the plain codec it was fine-tuned from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

/** What a sidecar describes: a plain codec, a conditional model by recipe, a BAvAFT codec, or a file that is no codec (a trigger network). */
export function modelKind(sidecar) {
  if (sidecar.architecture === 'bavaft-trigger') return 'trigger';
  if (sidecar.baseline === 'bavaft' || sidecar.recipe === 'bavaft') return 'bavaft';
  const adapter = sidecar.adapter;
  if (adapter && typeof adapter === 'object') {
    if (typeof sidecar.recipe === 'string') return sidecar.recipe;
    const modes = Array.isArray(adapter.modes) ? adapter.modes.map((m) => m?.name) : [];
    if (modes.includes('machine')) return 'ugicm';
    if (modes.includes('full')) return 'psic';
    return 'conditional';
  }
  return 'plain';
}

/** A record per model: name, kind, architecture, lambda, --model argument, weights path, plain codec name, source. */
export function modelRecord(root, sidecar, weightsPath, source) {
  const kind = modelKind(sidecar);
  const inZoo = source === 'shipped';
  // paths in commands: relative to the repository when inside it, else absolute
  const rel = relative(root, weightsPath).startsWith('..') ? resolve(weightsPath) : relative(root, weightsPath);
  return {
    name: String(sidecar.name),
    kind,
    architecture: String(sidecar.architecture ?? ''),
    lambda: typeof sidecar.lambda === 'number' ? sidecar.lambda : null,
    // the zoo resolves shipped names; a trained model is passed as its file
    modelArg: inZoo ? String(sidecar.name) : rel,
    weightsPath: rel,
    plainName: typeof sidecar.initialisedFrom?.model === 'string' ? sidecar.initialisedFrom.model : null,
    target: typeof sidecar.target === 'string' ? sidecar.target : null,
    sidecar,
    source,
  };
}

/** The zoo's models (names sorted), trigger networks left out. */
export async function shippedModels(root) {
  // loaded here only: @psic/zoo brings the tensor backends, which the plan logic does not need
  const { listModels } = await import('@psic/zoo');
  const infos = await listModels();
  return infos.map((m) => modelRecord(root, { ...m.sidecar, name: m.name, architecture: m.architecture }, m.weightsPath, 'shipped')).filter((m) => m.kind !== 'trigger');
}

/** Models the plan trained: runs/experiments/<name>/model.json for each experiment that has finished. */
export function trainedModels(root, experiments) {
  const out = [];
  for (const e of experiments) {
    const sidecarPath = resolve(root, e.outDir, 'model.json');
    if (!existsSync(sidecarPath)) continue;
    const sidecar = JSON.parse(readFileSync(sidecarPath, 'utf8'));
    out.push(modelRecord(root, { ...sidecar, name: sidecar.name ?? e.name }, resolve(root, e.outDir, 'model.safetensors'), 'trained'));
  }
  return out;
}

/** Trained models replace the zoo's of the same name; the others stay. */
export function mergeModels(shipped, trained) {
  const names = new Set(trained.map((m) => m.name));
  return [...trained, ...shipped.filter((m) => !names.has(m.name))].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The --plain argument for a conditional model: its own plain codec when it is among the models, else null (the CLI then decodes its backbone without the adapter). */
export function plainCodecOf(model, models) {
  if (!model.plainName) return null;
  const found = models.find((m) => m.name === model.plainName && m.kind === 'plain');
  return found ? found.modelArg : null;
}

/**
 * The semantic target (name and --target-options) a model was trained
 * against: the sidecar's "target" (null when it names none), and its
 * "targetWeights" file (first word, relative to the sidecar's folder) when
 * that exists; without one the options are null (the target's default weights).
 */
export function targetOf(root, model) {
  const weights = typeof model.sidecar.targetWeights === 'string' ? model.sidecar.targetWeights.split(/\s+/)[0] : null;
  if (weights) {
    const path = isAbsolute(weights) ? weights : join(dirname(resolve(root, model.weightsPath)), weights);
    if (existsSync(path)) return { name: model.target, options: { weights: relative(root, path) } };
  }
  return { name: model.target, options: null };
}

/** The trigger network of a BAvAFT codec: the sidecar's "trigger" file beside the codec. */
export function triggerOf(model) {
  const file = typeof model.sidecar.trigger === 'string' ? model.sidecar.trigger : 'trigger.safetensors';
  return join(dirname(model.weightsPath), file);
}

/** Plain codecs in the order the rate-distortion evaluation wants: hyperprior first (the BD-rate anchor), then by architecture and rate. */
export function rdOrder(models) {
  const rank = (m) => (m.architecture === 'bmshj2018-hyperprior' ? 0 : 1);
  return [...models].sort((a, b) => rank(a) - rank(b) || (a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0) || (a.lambda ?? 0) - (b.lambda ?? 0) || (a.name < b.name ? -1 : 1));
}
