#!/usr/bin/env node
/**
 * Accuracy of the npm-model semantic targets of @psic/vlp on the shared data:
 *
 * - 'faceres' and 'face-api' on ../shared/data/celeba-sample (548 aligned
 *   faces, 40 attributes): gender vs `Male`, young vs `Young` (estimated age
 *   below the target's youngBelow; the best single age threshold is printed
 *   too, as an upper bound), and P(happy) > 0.5 vs `Smiling`.
 * - 'mobilenet-v2' on ../shared/data/imagenet-samples (1000 classes, one
 *   image each): a nearest-class check. Each class's prototype comes from one
 *   view of its image (the centre square, resized to 224), and the query is a
 *   different view (the horizontally flipped centre 160x160 crop, i.e. zoomed
 *   in); top-1 / top-5 over the 1000 prototypes. Also, leave-one-out on the
 *   centre views: the share of the 118 dog classes (ILSVRC indexes 151-268)
 *   whose nearest other image is also a dog (chance 117/999 = 11.7%). Both are
 *   repeated on 16x16 pixel thumbnails as a baseline the features must beat.
 *
 *   node tools/vlp/npm-targets-accuracy.mjs [--targets faceres,face-api,mobilenet-v2]
 *       [--limit N] [--batch 16] [--backend wasm|cpu] [--range 0..1|-1..1]
 *
 * Needs built packages (npx nx run @psic/vlp:build, @psic/eval:build).
 * Output: one JSON line per target on stdout; progress on stderr.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = resolve(root, '..', 'shared', 'data');
const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'faceres,face-api,mobilenet-v2' },
    limit: { type: 'string' },
    batch: { type: 'string', default: '16' },
    backend: { type: 'string', default: 'wasm' },
    range: { type: 'string', default: '0..1' },
  },
});
const limit = values.limit ? Number(values.limit) : Infinity;
const batch = Number(values.batch);

let tf, core, vlp, metrics;
try {
  tf = await import('@tensorflow/tfjs-core');
  core = await import('@psic/core');
  vlp = await import('@psic/vlp');
  metrics = await import('@psic/eval');
} catch (err) {
  console.error(`cannot load the built packages (${err.message}); run: npx nx run-many -t build -p @psic/vlp @psic/eval`);
  process.exit(1);
}
const backend = await core.selectBackend(values.backend);
const log = (msg) => process.stderr.write(`${msg}\n`);
const round = (v, d = 4) => (Number.isFinite(v) ? +v.toFixed(d) : v);

/** Images of a list of files as one NHWC tensor (all the same size), through @psic/core's reader. */
async function readBatch(files, prepare = (t) => t) {
  const tensors = [];
  for (const f of files) {
    const img = await core.readImage(f);
    tensors.push(tf.tidy(() => prepare(tf.tensor3d(img.data, [img.height, img.width, 3]))));
  }
  const x = tf.stack(tensors);
  tf.dispose(tensors);
  return x;
}

async function celebaAccuracy(name) {
  const dir = join(shared, 'celeba-sample');
  const lines = readFileSync(join(dir, 'attributes.csv'), 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  const col = (attr) => header.indexOf(attr);
  const rows = lines.slice(1, 1 + Math.min(limit, lines.length - 1)).map((l) => l.split(','));
  const truth = { male: rows.map((r) => Number(r[col('Male')])), young: rows.map((r) => Number(r[col('Young')])), smiling: rows.map((r) => Number(r[col('Smiling')])) };

  const t0 = performance.now();
  const target = await core.semanticTargets.get(name)({ faceBox: 'celeba' });
  const loadMs = performance.now() - t0;
  const out = { gender: [], age: [], young: [], happy: [] };
  const t1 = performance.now();
  for (let start = 0; start < rows.length; start += batch) {
    const x = await readBatch(rows.slice(start, start + batch).map((r) => join(dir, r[0])));
    const a = target.faceAttributes(x);
    out.gender.push(...(await a.gender.data()));
    out.age.push(...(await a.age.data()));
    out.young.push(...(await a.young.data()));
    out.happy.push(...(await a.expression.array()).map((p) => p[1]));
    tf.dispose([x, a.gender, a.age, a.young, a.expression]);
    log(`${name}: ${Math.min(start + batch, rows.length)}/${rows.length}`);
  }
  const seconds = (performance.now() - t1) / 1000;

  // best single threshold on the estimated age, as an upper bound for the `Young` fit
  let best = { threshold: NaN, accuracy: -1 };
  for (let t = 15; t <= 60; t += 1) {
    const acc = metrics.attributeAccuracy(out.age.map((a) => t - a), truth.young, 0);
    if (acc > best.accuracy) best = { threshold: t, accuracy: acc };
  }
  const mean = (v) => v.reduce((s, x) => s + x, 0) / v.length;
  const ageOf = (flag) => mean(out.age.filter((_, i) => truth.young[i] === flag));
  target.dispose();
  return {
    target: name,
    data: 'celeba-sample',
    images: rows.length,
    gender_accuracy: round(metrics.attributeAccuracy(out.gender, truth.male)),
    always_female_baseline: round(metrics.attributeAccuracy(truth.male.map(() => 0), truth.male)),
    young_below: target.youngBelow,
    young_accuracy: round(metrics.attributeAccuracy(out.young, truth.young)),
    young_best_threshold: best.threshold,
    young_best_accuracy: round(best.accuracy),
    young_share: round(mean(truth.young)),
    mean_age_young: round(ageOf(1), 1),
    mean_age_not_young: round(ageOf(0), 1),
    smiling_accuracy: round(metrics.attributeAccuracy(out.happy, truth.smiling)),
    smiling_share: round(mean(truth.smiling)),
    load_ms: Math.round(loadMs),
    images_per_s: round(rows.length / seconds, 2),
  };
}

/** Unit rows of a [n, d] array-of-arrays. */
function normalise(rows) {
  return rows.map((r) => {
    const n = Math.hypot(...r) || 1;
    return r.map((v) => v / n);
  });
}

/** similarity rows (queries x prototypes) of unit vectors. */
function cosineMatrix(queries, prototypes) {
  return queries.map((q) => prototypes.map((p) => q.reduce((s, v, i) => s + v * p[i], 0)));
}

function topK(row, label, k) {
  const v = row[label];
  let above = 0;
  for (let j = 0; j < row.length; j++) if (j !== label && row[j] >= v) above++;
  return above < k;
}

function nearestClassFigures(centre, zoomed, classIndex) {
  const n = centre.length;
  const sim = cosineMatrix(normalise(zoomed), normalise(centre));
  const labels = Array.from({ length: n }, (_, i) => i);
  const top1 = metrics.zeroShotTop1(sim, labels);
  const top5 = sim.filter((row, i) => topK(row, i, 5)).length / n;
  // leave-one-out among centre views: is a dog's nearest other image a dog?
  const c = normalise(centre);
  const self = cosineMatrix(c, c);
  const isDog = (i) => classIndex[i] >= 151 && classIndex[i] <= 268;
  let dogs = 0;
  let dogHits = 0;
  for (let i = 0; i < n; i++) {
    if (!isDog(i)) continue;
    let best = -1;
    let bestSim = -Infinity;
    for (let j = 0; j < n; j++) if (j !== i && self[i][j] > bestSim) [best, bestSim] = [j, self[i][j]];
    dogs++;
    if (isDog(best)) dogHits++;
  }
  return { top1: round(top1), top5: round(top5), dogs, dog_nn_dog: round(dogHits / dogs) };
}

async function imagenetAccuracy(name) {
  const dir = join(shared, 'imagenet-samples');
  const labels = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8'));
  const files = Object.keys(labels).sort((a, b) => labels[a].classIndex - labels[b].classIndex).slice(0, limit);
  const classIndex = files.map((f) => labels[f].classIndex);

  const t0 = performance.now();
  const target = await core.semanticTargets.get(name)({ inputRange: values.range });
  const loadMs = performance.now() - t0;
  const centreSquare = (img) => {
    const [h, w] = img.shape;
    const s = Math.min(h, w);
    const sq = tf.slice(img, [Math.floor((h - s) / 2), Math.floor((w - s) / 2), 0], [s, s, 3]);
    return tf.image.resizeBilinear(sq, [256, 256]); // every source has a 256 shorter side already; this only fixes odd crops
  };
  const features = { centre: [], zoomed: [] };
  const pixels = { centre: [], zoomed: [] };
  const t1 = performance.now();
  for (let start = 0; start < files.length; start += batch) {
    const squares = await readBatch(files.slice(start, start + batch).map((f) => join(dir, f)), centreSquare);
    const zoomed = tf.tidy(() => tf.reverse(tf.slice(squares, [0, 48, 48, 0], [-1, 160, 160, -1]), 2));
    for (const [view, x] of [['centre', squares], ['zoomed', zoomed]]) {
      const f = target.mobilenetFeatures(x);
      features[view].push(...(await f.array()));
      const thumb = tf.tidy(() => {
        const t = tf.reshape(tf.image.resizeBilinear(x, [16, 16]), [x.shape[0], -1]);
        return tf.sub(t, tf.mean(t, 1, true)); // mean-free thumbnails: brightness alone does not match
      });
      pixels[view].push(...(await thumb.array()));
      tf.dispose([f, thumb]);
    }
    tf.dispose([squares, zoomed]);
    log(`${name}: ${Math.min(start + batch, files.length)}/${files.length}`);
  }
  const seconds = (performance.now() - t1) / 1000;
  target.dispose();
  const f = nearestClassFigures(features.centre, features.zoomed, classIndex);
  const p = nearestClassFigures(pixels.centre, pixels.zoomed, classIndex);
  return {
    target: name,
    data: 'imagenet-samples',
    input_range: values.range,
    classes: files.length,
    nearest_class_top1: f.top1,
    nearest_class_top5: f.top5,
    dog_classes: f.dogs,
    dog_nearest_is_dog: f.dog_nn_dog,
    pixels16_top1: p.top1,
    pixels16_top5: p.top5,
    pixels16_dog_nearest_is_dog: p.dog_nn_dog,
    load_ms: Math.round(loadMs),
    images_per_s: round((2 * files.length) / seconds, 2),
  };
}

console.log(JSON.stringify({ tool: 'npm-targets-accuracy', backend, node: process.version, load_avg: loadavg().map((v) => +v.toFixed(2)) }));
for (const name of values.targets.split(',')) {
  if (!core.semanticTargets.has(name)) {
    console.log(JSON.stringify({ target: name, skipped: `not registered (known: ${core.semanticTargets.list().join(', ')})` }));
    continue;
  }
  const result = name === 'mobilenet-v2' ? await imagenetAccuracy(name) : await celebaAccuracy(name);
  console.log(JSON.stringify(result));
}
