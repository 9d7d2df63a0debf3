/**
 * Statistics for comparing two loss curves of a chaotic training run. Any
 * change in float summation order makes trajectories drift apart, so a
 * per-step tolerance is meaningless; what can be compared is how far a path
 * drifts from the reference next to how far a one-ulp perturbation of the
 * reference itself drifts (the noise floor).
 */

/** The fixed verdict rule, chosen before any data: every statistic in VERDICT_STATS within this factor of the noise floor's. */
export const VERDICT_FACTOR = 1.5;
/** The statistics the verdict looks at (the 50-step window means are reported for reading, not judged: ten noisy numbers). */
export const VERDICT_STATS = ['median_rel_diff', 'p90_rel_diff', 'mean_rel_diff', 'abs_final50_mean_diff'];
/** One-step agreement (same weights, batch and noise): each figure must be below this, ~1000 float32 ulps. */
export const ONE_STEP_TOLERANCE = 1e-4;

/** Linear-interpolation quantile (q in [0, 1]) of an ascending array. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
}

function mean(xs) {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** How far curve `other` drifts from `ref` over their common steps. */
export function divergence(ref, other, window = 50) {
  const n = Math.min(ref.length, other.length);
  const abs = [];
  const rel = [];
  for (let i = 0; i < n; i++) {
    abs.push(Math.abs(other[i] - ref[i]));
    rel.push(abs[i] / Math.abs(ref[i]));
  }
  const sortedRel = [...rel].sort((a, b) => a - b);
  const windows = [];
  for (let from = 0; from < n; from += window) windows.push(from);
  const tail = Math.min(window, n);
  const final = [mean(ref.slice(n - tail, n)), mean(other.slice(n - tail, n))];
  return {
    steps: n,
    median_rel_diff: quantile(sortedRel, 0.5),
    p90_rel_diff: quantile(sortedRel, 0.9),
    mean_rel_diff: mean(rel),
    max_rel_diff: sortedRel.at(-1) ?? NaN,
    window_mean_rel_diff: windows.map((from) => mean(rel.slice(from, from + window))),
    window_mean_abs_diff: windows.map((from) => mean(abs.slice(from, from + window))),
    final50_mean: final,
    abs_final50_mean_diff: Math.abs(final[1] - final[0]),
  };
}

/** Judge a path's divergence against the noise floor's: within when every VERDICT_STATS figure is <= factor x the floor's. */
export function judge(stats, floor, factor = VERDICT_FACTOR) {
  const ratios = {};
  const over = [];
  for (const key of VERDICT_STATS) {
    ratios[key] = stats[key] / floor[key];
    if (!(stats[key] <= factor * floor[key])) over.push(key);
  }
  return { within: over.length === 0, ratios, over };
}

/**
 * One-step agreement of two probes of the same step: relative difference of
 * the loss and of the global gradient norm, and the largest gradient element
 * difference relative to the largest reference gradient element.
 */
export function oneStepAgreement(ref, other) {
  if (ref.grads.length !== other.grads.length) throw new Error(`gradient sizes differ: ${ref.grads.length} vs ${other.grads.length}`);
  let maxAbs = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.grads.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ref.grads[i]));
    maxDiff = Math.max(maxDiff, Math.abs(other.grads[i] - ref.grads[i]));
  }
  const figures = {
    loss_rel_diff: Math.abs(other.loss - ref.loss) / Math.abs(ref.loss),
    grad_norm_rel_diff: Math.abs(other.gradNorm - ref.gradNorm) / ref.gradNorm,
    grad_max_abs_diff_rel: maxDiff / maxAbs,
  };
  return { ...figures, within: Object.values(figures).every((v) => v <= ONE_STEP_TOLERANCE) };
}
