/**
 * One renderer per report section (rate-distortion, PSIC privacy, the
 * UAEO-vs-naive ablation, the BAvAFT baseline, UG-ICM). Each takes the run's
 * context and returns Markdown plus the SVG charts it links to; numbers come
 * only from the JSON of this run's steps.
 */
import { asrOf, bavaftAsr, PRIVACY_TASKS, rowOf } from './figures.mjs';
import { samePoint } from './eval-plan.mjs';
import { shellLine } from './child.mjs';
import { trainHint, trainingArgs } from './training-plan.mjs';

/**
 * ctx: { lib (tables, charts, formats), byId (step id -> result), models,
 * missing, experiments, root, resultsLink (folder of the JSON / SVG relative
 * to the report), evalOnly (whether the models are the shipped ones) }.
 */

/** The command of a step, where its raw JSON is, what it measured and how long it took. */
function stepBlock(ctx, result, note = '') {
  const { lib } = ctx;
  const lines = ['```sh', shellLine(['psic', ...result.step.args, '--json']), '```', ''];
  if (note) lines.push(note, '');
  const timing = `wall ${lib.formatFixed(result.wallSeconds, 1)} s${result.cpuSeconds === null ? '' : `, CPU ${lib.formatFixed(result.cpuSeconds, 1)} s`}`;
  const raw = `${ctx.resultsLink}/${result.step.id}.json`;
  lines.push(`${result.step.images}; raw JSON: [${raw}](${raw}); ${timing}.`, '');
  if (result.error) lines.push(`**This step failed**: ${result.error}`, '');
  return lines.join('\n');
}

/** "not shipped yet" lines for the planned experiments of a section that have no model. */
function missingLines(ctx, section) {
  const lines = ctx.missing
    .filter((m) => m.section === section)
    .map((m) => {
      const e = ctx.experiments.find((x) => x.name === m.name);
      return `- **${m.name}** (${m.kind}) ${ctx.evalOnly ? 'not shipped yet' : 'not trained or shipped yet'}: train it with \`${trainHint(e)}\`, which runs \`${shellLine(['psic', ...trainingArgs(ctx.root, e)])}\`.`;
    });
  return lines.length ? `${lines.join('\n')}\n` : '';
}

const results = (ctx, section) => [...ctx.byId.values()].filter((r) => r.step.section === section);

export function rdSection(ctx) {
  const { lib } = ctx;
  const out = ['## 1. Rate-distortion on Kodak', ''];
  const charts = [];
  const r = ctx.byId.get('rd-kodak');
  if (!r) {
    out.push('No plain codec was evaluated.', '', missingLines(ctx, 'rd'));
    return { markdown: out.join('\n'), charts };
  }
  out.push(
    'Every plain (adapter-free) codec, coded and decoded through the real entropy coder, next to JPEG and WebP (sharp): `jpeg@M` is JPEG at the quality whose bpp is closest to model M\'s on each image. bpp = file bytes x 8 / pixels (header included); PSNR and MS-SSIM on RGB; means over images.',
    '',
    stepBlock(ctx, r),
  );
  if (r.json) {
    const j = r.json;
    out.push(lib.markdownTable(['codec', 'images', 'bpp', 'PSNR (dB)', 'MS-SSIM'], j.summary.map((s) => [s.codec, s.images, lib.formatFixed(s.bpp, 4), lib.formatFixed(s.psnr, 2), lib.formatFixed(s.msssim, 4)])), '');
    const anchor = r.step.anchor;
    if (j.bdRate.length) {
      out.push(`BD-rate of each curve against the ${anchor} curve (Bjøntegaard: the average change in bits for the same PSNR; negative = that curve needs fewer bits than ${anchor}):`, '');
      out.push(lib.markdownTable(['curve', 'points', 'BD-rate', 'note'], j.bdRate.map((b) => [b.curve, b.points, b.bdRate === null ? '' : `${lib.formatPoints(b.bdRate)}%`, b.note]), { align: ['left', 'right', 'right', 'left'] }), '');
    } else {
      out.push(`No BD-rate: the anchor curve (${anchor}) needs two rate points.`, '');
    }
    const series = Object.entries(j.curves).map(([name, points]) => ({
      name,
      dashed: name === 'jpeg' || name === 'webp',
      points: points.map((p) => ({ x: p.bpp, y: p.psnr, label: name === 'jpeg' || name === 'webp' ? undefined : p.codec })),
    }));
    charts.push({ file: 'rd-kodak.svg', svg: lib.svgChart({ title: `Kodak: PSNR vs rate (${j.summary[0]?.images ?? 0} images)`, xLabel: 'bits per pixel', yLabel: 'PSNR (dB)', series }) });
    out.push(`![Rate-distortion on Kodak](${ctx.resultsLink}/rd-kodak.svg)`, '');
  }
  out.push(missingLines(ctx, 'rd'));
  return { markdown: out.join('\n'), charts };
}

function privacyTables(ctx, json) {
  const { lib } = ctx;
  const attrNames = [...new Set(json.rows.flatMap((r) => Object.keys(r.attributes ?? {})))];
  const hasTask = (k) => json.rows.some((r) => r[k] !== undefined);
  const tasks = PRIVACY_TASKS.filter((t) => hasTask(t.key));
  const hasAttr = hasTask('attr');
  const rowHeaders = ['decode', 'images', 'bpp', 'PSNR (dB)', ...tasks.map((t) => t.label), ...(hasAttr ? ['attributes', ...attrNames] : [])];
  const rows = json.rows.map((r) => [
    r.variant,
    r.images,
    lib.formatFixed(r.bpp, 4),
    lib.formatFixed(r.psnr, 2),
    ...tasks.map((t) => lib.formatPercent(r[t.key])),
    ...(hasAttr ? [lib.formatPercent(r.attr), ...attrNames.map((a) => lib.formatPercent(r.attributes?.[a]))] : []),
  ]);
  const asrHeaders = ['decode', 'vs reference', ...tasks.map((t) => `ASR ${t.label}`), ...(hasAttr ? ['ASR attributes', ...attrNames] : [])];
  const asrAlign = asrHeaders.map((_, i) => (i < 2 ? 'left' : 'right'));
  const asrRows = json.asr.map((a) => [a.variant, a.reference, ...tasks.map((t) => lib.formatRate(a[t.key])), ...(hasAttr ? [lib.formatRate(a.attr), ...attrNames.map((n) => lib.formatRate(a.attributes?.[n]))] : [])]);
  const classify = tasks.some((t) => t.key === 'top1') ? `; top-1 = ${json.classify === 'nearest-class' ? 'nearest-class top-1' : 'zero-shot top-1'}` : '';
  return [
    `Target \`${json.target}\` on ${json.images} images (${json.layout})${classify}; plain = ${json.plain}.`,
    '',
    lib.markdownTable(rowHeaders, rows),
    '',
    'Attack success rate (ASR): among the samples the reference decode handles correctly, the share the protected decode handles wrongly (fooled / eligible).',
    '',
    lib.markdownTable(asrHeaders, asrRows, { align: asrAlign }),
    '',
    ...(json.notes?.length ? [json.notes.map((n) => `Note: ${n}`).join('  \n'), ''] : []),
  ].join('\n');
}

export function privacySection(ctx) {
  const { lib } = ctx;
  const out = ['## 2. PSIC: protected by default, full with the key', ''];
  const charts = [];
  const psic = ctx.models.filter((m) => m.kind === 'psic');
  if (psic.length === 0) out.push('No PSIC-recipe model was evaluated.', '');
  else {
    out.push(
      'Each image is encoded once; the same bitstream is decoded without a key (protected, the default), with the owner\'s key (full), and the plain codec the model was fine-tuned from codes the same image on its own (plain). CIFAR-10: the attacked target on the test split (never trained on). CelebA: face attributes with face-api, a target the models never saw (transfer).',
      '',
    );
  }
  for (const m of psic) {
    out.push(`### ${m.name} (λ = ${m.lambda ?? '?'}; plain codec ${m.plainName ?? 'none named'}; ${m.source})`, '');
    for (const id of [`privacy-cifar-${m.name}`, `privacy-celeba-${m.name}`]) {
      const r = ctx.byId.get(id);
      if (!r) continue;
      out.push(`**${r.step.title}**`, '', stepBlock(ctx, r));
      if (r.json) out.push(privacyTables(ctx, r.json));
    }
  }
  // accuracy of each decode against its rate: one point per model
  const points = { plain: [], full: [], protected: [] };
  for (const m of psic) {
    const j = ctx.byId.get(`privacy-cifar-${m.name}`)?.json;
    for (const v of Object.keys(points)) {
      const row = rowOf(j, v);
      if (row && Number.isFinite(row.bpp) && Number.isFinite(row.top1)) points[v].push({ x: row.bpp, y: 100 * row.top1, label: v === 'plain' ? j.plain : m.name });
    }
  }
  const series = Object.entries(points).filter(([, p]) => p.length).map(([name, p]) => ({ name, points: p, line: false }));
  if (series.length) {
    charts.push({ file: 'privacy-cifar.svg', svg: lib.svgChart({ title: "CIFAR-10: the attacked target's top-1 per decode", xLabel: 'bits per pixel', yLabel: 'zero-shot top-1 (%)', series, yInclude: [0, 100] }) });
    out.push(`![Top-1 of the attacked target per decode and rate](${ctx.resultsLink}/privacy-cifar.svg)`, '');
  }
  out.push(missingLines(ctx, 'privacy'));
  return { markdown: out.join('\n'), charts };
}

export function ablationSection(ctx) {
  const { lib } = ctx;
  const out = ['## 3. Ablation: UAEO vs the naive attack', ''];
  const naive = ctx.models.filter((m) => m.kind === 'naive');
  if (naive.length === 0) out.push('No naive-recipe model was evaluated.', '');
  for (const n of naive) {
    const p = ctx.models.find((x) => x.kind === 'psic' && samePoint(x, n));
    const r = ctx.byId.get(`privacy-cifar-${n.name}`);
    out.push(`### ${n.name} (λ = ${n.lambda ?? '?'}) against ${p ? p.name : 'no PSIC model at the same rate point'}`, '');
    if (r) out.push(stepBlock(ctx, r));
    const pj = p ? ctx.byId.get(`privacy-cifar-${p.name}`)?.json : null;
    const nj = r?.json;
    if (!nj) continue;
    const line = (model, recipe, j) => [model, recipe, lib.formatFixed(rowOf(j, 'protected')?.bpp, 4), lib.formatFixed(rowOf(j, 'full')?.psnr, 2), lib.formatFixed(rowOf(j, 'protected')?.psnr, 2), ...PRIVACY_TASKS.map((t) => lib.formatRate(asrOf(j, t.key)))];
    const rows = [line(n.name, 'naive attack', nj)];
    if (pj) {
      rows.unshift(line(p.name, 'UAEO', pj));
      rows.push(['UAEO − naive', '', '', '', '', ...PRIVACY_TASKS.map((t) => {
        const u = asrOf(pj, t.key);
        const v = asrOf(nj, t.key);
        return u && v ? `${lib.formatPoints(100 * (u.rate - v.rate))} points` : '';
      })]);
    }
    out.push(lib.markdownTable(['model', 'attack', 'bpp', 'PSNR full', 'PSNR protected', ...PRIVACY_TASKS.map((t) => `ASR ${t.label} (vs full)`)], rows, { align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'] }), '');
  }
  out.push(missingLines(ctx, 'ablation'));
  return { markdown: out.join('\n'), charts: [] };
}

export function bavaftSection(ctx) {
  const { lib } = ctx;
  const out = ['## 4. Baseline: BAvAFT', ''];
  const models = ctx.models.filter((m) => m.kind === 'bavaft');
  if (models.length === 0) out.push('No BAvAFT model was evaluated.', '');
  for (const b of models) {
    const r = ctx.byId.get(`bavaft-cifar-${b.name}`);
    out.push(`### ${b.name} (λ = ${b.lambda ?? '?'}; fine-tuned from ${b.plainName ?? '?'}; ${b.source})`, '');
    if (!r) continue;
    out.push(stepBlock(ctx, r, '`CIFAR_TEST_DIR`: the CIFAR-10 test images eval-privacy takes with the same --per-class, upscaled to 64x64 by the same rule and written as PNG class folders by the runner; `TEMPLATES_FILE`: the 18 CIFAR-10 prompt templates eval-privacy uses.'));
    const s = r.json?.summary;
    if (!s) continue;
    const asr = bavaftAsr(r.json);
    out.push(
      lib.markdownTable(
        ['images', 'bpp clean', 'bpp poisoned', 'PSNR clean', 'PSNR poisoned', 'PSNR triggered input', 'top-1 original', 'top-1 clean decode', 'top-1 poisoned decode', 'ASR (poisoned vs clean)'],
        [[s.images, lib.formatFixed(s.bppClean, 4), lib.formatFixed(s.bppPoisoned, 4), lib.formatFixed(s.psnrClean, 2), lib.formatFixed(s.psnrPoisoned, 2), lib.formatFixed(s.psnrTrigger, 2), lib.formatPercent(s.accuracyOriginal), lib.formatPercent(s.accuracyClean), lib.formatPercent(s.accuracyPoisoned), lib.formatRate(asr)]],
      ),
      '',
    );
    const p = ctx.models.find((x) => x.kind === 'psic' && samePoint(x, b));
    const pj = p ? ctx.byId.get(`privacy-cifar-${p.name}`)?.json : null;
    if (!p) out.push('No PSIC model at the same rate point (same λ and plain codec) to compare with.', '');
    if (pj) {
      const full = asrOf(pj, 'top1');
      const plain = asrOf(pj, 'top1', 'protected', 'plain');
      out.push(`PSIC at the same rate point (${p.name}, same images and target): classification ASR ${lib.formatRate(full)} against its full decode, ${lib.formatRate(plain)} against the plain codec; BAvAFT ${lib.formatRate(asr)} against its clean decode.`, '');
    }
  }
  out.push(missingLines(ctx, 'bavaft'));
  return { markdown: out.join('\n'), charts: [] };
}

export function ugicmSection(ctx) {
  const { lib } = ctx;
  const out = ['## 5. UG-ICM: human and machine decodes of one bitstream', ''];
  const found = results(ctx, 'ugicm');
  if (found.length === 0) out.push('No UG-ICM model was evaluated.', '');
  else {
    out.push(
      'Each image is encoded once and decoded in each mode (human, machine) and by the plain codec. Every decode goes to pretrained models that took no part in training: CenterNet detection (mAP@0.5 against its own boxes on the uncompressed picture), the npm face models (Male / Young / Smiling accuracy on CelebA), nearest-class-mean on MobileNetV2 features (ImageNet samples: still nearest its own class) and the supervising target\'s zero-shot top-1.',
      '',
    );
  }
  for (const r of found) {
    out.push(`### ${r.step.models[0]}`, '', stepBlock(ctx, r));
    for (const d of r.json?.datasets ?? []) {
      const faceModels = d.faceModels ?? [];
      const cols = [
        ['bpp', (x) => lib.formatFixed(x.bpp, 4)],
        ['PSNR (dB)', (x) => lib.formatFixed(x.psnr, 2)],
        ['detection mAP@0.5', (x) => lib.formatPercent(x.detection)],
        ...faceModels.map((f) => [`${f} attributes`, (x) => lib.formatPercent(x.faces?.[f]?.attr)]),
        ['nearest-class', (x) => lib.formatPercent(x.classify)],
        ['zero-shot top-1', (x) => lib.formatPercent(x.zeroShot)],
      ].filter(([, get]) => d.rows.some((x) => get(x) !== ''));
      out.push(`**${d.data}** (${d.layout}, ${d.images} images${d.pseudoTruth ? `; ${d.pseudoTruth.boxes} pseudo-truth boxes scoring >= ${d.pseudoTruth.minScore} on ${d.pseudoTruth.images} images` : ''})`, '');
      out.push(lib.markdownTable(['decode', 'images', ...cols.map(([h]) => h)], d.rows.map((x) => [x.variant, x.images, ...cols.map(([, get]) => get(x))])), '');
    }
  }
  out.push(missingLines(ctx, 'ugicm'));
  return { markdown: out.join('\n'), charts: [] };
}
