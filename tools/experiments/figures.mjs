/**
 * Reading figures out of the CLI's JSON (eval-privacy, bavaft eval), so the
 * report sections and the paper comparison take the same numbers the same way.
 */

/** The ASR record of `variant` against `reference` for a task (top1, i2t, t2i, attr), or null. */
export function asrOf(privacyJson, task, variant = 'protected', reference = 'full') {
  const row = privacyJson?.asr?.find((a) => a.variant === variant && a.reference === reference);
  return row?.[task] ?? null;
}

/** A decode's row (original, plain, full, protected, ...) of an eval-privacy report, or null. */
export function rowOf(privacyJson, variant) {
  return privacyJson?.rows?.find((r) => r.variant === variant) ?? null;
}

/** BAvAFT's ASR with its counts: among images whose clean decode is classified right, the share whose poisoned decode is not. */
export function bavaftAsr(bavaftJson) {
  const s = bavaftJson?.summary;
  if (!s) return null;
  const eligible = s.referenceCorrect;
  const fooled = (bavaftJson.images ?? []).filter((r) => r.clean.prediction === r.label && r.poisoned.prediction !== r.label).length;
  return { rate: eligible === 0 ? NaN : fooled / eligible, fooled, eligible };
}

/** Mean of the finite rates (NaN when none is). */
export function meanRate(records) {
  const rates = records.filter((r) => r && Number.isFinite(r.rate)).map((r) => r.rate);
  return rates.length === 0 ? NaN : rates.reduce((a, b) => a + b, 0) / rates.length;
}

export const PRIVACY_TASKS = [
  { key: 'top1', label: 'top-1' },
  { key: 'i2t', label: 'R@1 i2t' },
  { key: 't2i', label: 'R@1 t2i' },
];
