/**
 * The float noise floor of a training run: multiply every initial weight by
 * (1 + s * 2^-23), s = +-1 from a seeded sign pattern. 1 + 2^-23 is the float32
 * just above 1, so each nonzero weight moves by one or two ulps (zeros stay).
 */
import { Rng } from '@psic/train';

const ONE_ULP = 2 ** -23;

/** A perturbed copy of name -> { shape, data: Float32Array } tensors (names visited in sorted order, so the pattern is fixed by the seed). */
export function perturbOneUlp(tensors, seed) {
  const rng = new Rng(seed);
  const up = Math.fround(1 + ONE_ULP);
  const down = Math.fround(1 - ONE_ULP);
  const out = new Map();
  let changed = 0;
  let total = 0;
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name);
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) {
      data[i] = Math.fround(t.data[i] * (rng.next() < 0.5 ? down : up));
      if (data[i] !== t.data[i]) changed++;
    }
    total += data.length;
    out.set(name, { ...t, data });
  }
  return { tensors: out, changed, total };
}
