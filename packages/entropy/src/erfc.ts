/**
 * Deterministic elementary functions for building CDF tables.
 *
 * `Math.exp`, `Math.log`, `Math.tanh`, ... are only "implementation-approximated"
 * by the ECMAScript spec, so two engines (or two versions of one) may disagree
 * in the last bit, and a CDF table built from them could differ between the
 * encoder's and the decoder's machine. Everything here is built from `+ - * /`,
 * comparisons, `Math.floor`/`Math.abs` and exact bit manipulation, which IEEE-754
 * double arithmetic defines exactly, so every engine computes the same bits.
 *
 * Accuracy is close to 1 ulp for exp/log and ~1e-15 relative for erfc, far more
 * than the 16-bit CDF quantisation needs; determinism is the point.
 */

// ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (Cody-Waite reduction).
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.9082149292705877e-10;
const LOG2E = 1.4426950408889634;
const SQRT2 = 1.4142135623730951;
const SQRT1_2 = 0.7071067811865476;
const INV_SQRT_PI = 0.5641895835477563;
const TWO_OVER_SQRT_PI = 1.1283791670955126;

const bits = new DataView(new ArrayBuffer(8));

/** 2^k, exactly, for integer k in [-1074, 1023]. */
function pow2(k: number): number {
  if (k > 1023) return Infinity;
  if (k >= -1022) {
    bits.setUint32(0, (k + 1023) << 20);
    bits.setUint32(4, 0);
    return bits.getFloat64(0);
  }
  // Subnormal: two exact steps.
  return pow2(k + 600) * pow2(-600);
}

/** Round half to even, as torch.round and tfjs' round do. */
export function roundHalfEven(x: number): number {
  const down = Math.floor(x);
  const diff = x - down;
  if (diff < 0.5) return down;
  if (diff > 0.5) return down + 1;
  return down % 2 === 0 ? down : down + 1;
}

/** e^x, deterministic. */
export function detExp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709.782712893384) return Infinity;
  if (x < -745.1332191019412) return 0;
  const k = Math.floor(x * LOG2E + 0.5);
  const r = x - k * LN2_HI - k * LN2_LO; // |r| <= ~0.347
  // Taylor series to degree 14: truncation error < 1e-18 on this interval.
  let p = 1;
  for (let n = 14; n >= 1; n--) p = 1 + (r * p) / n;
  if (k < -1021) return p * pow2(k + 60) * pow2(-60);
  return p * pow2(k);
}

/** e^x - 1, accurate near 0. */
export function detExpm1(x: number): number {
  if (Math.abs(x) < 0.34657359027997264) {
    let p = 1;
    for (let n = 16; n >= 2; n--) p = 1 + (x * p) / n;
    return x * p;
  }
  return detExp(x) - 1;
}

/** 2 * atanh(s) by its odd series; |s| <= 1/3 is assumed by the callers. */
function twiceAtanhSeries(s: number, terms: number): number {
  const s2 = s * s;
  let sum = 0;
  for (let n = terms; n >= 1; n--) sum = 1 / (2 * n + 1) + s2 * sum;
  return 2 * s * (1 + s2 * sum);
}

/** Natural logarithm, deterministic. */
export function detLog(x: number): number {
  if (Number.isNaN(x) || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let shift = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54, exact: brings subnormals into the normal range
    shift = -54;
  }
  bits.setFloat64(0, x);
  const hi = bits.getUint32(0);
  let exponent = ((hi >>> 20) & 0x7ff) - 1023 + shift;
  bits.setUint32(0, (hi & 0x000fffff) | 0x3ff00000); // mantissa in [1, 2)
  let m = bits.getFloat64(0);
  if (m > SQRT2) {
    m /= 2;
    exponent += 1;
  }
  // log m = 2 atanh((m-1)/(m+1)), |s| <= 0.1716: 12 terms reach 1e-20.
  const logM = twiceAtanhSeries((m - 1) / (m + 1), 12);
  return exponent * LN2_HI + (exponent * LN2_LO + logM);
}

/** log(1 + u), accurate for small u. */
export function detLog1p(u: number): number {
  if (u > -0.5 && u < 0.5) return twiceAtanhSeries(u / (2 + u), 20);
  return detLog(1 + u);
}

/** softplus(x) = log(1 + e^x), without overflow. */
export function detSoftplus(x: number): number {
  if (x > 0) return x + detLog1p(detExp(-x));
  return detLog1p(detExp(x));
}

export function detTanh(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a > 22) return x > 0 ? 1 : -1;
  const e = detExpm1(-2 * a); // in (-1, 0]
  const t = -e / (2 + e);
  return x < 0 ? -t : t;
}

export function detSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + detExp(-x));
  const e = detExp(x);
  return e / (1 + e);
}

/** erfc for x >= 0. */
function erfcNonNegative(x: number): number {
  if (x < 1) {
    // Here erfc > 0.15, so 1 - erf loses no relative precision.
    // erf x = 2x/sqrt(pi) e^{-x^2} * sum (2x^2)^n / (1*3*...*(2n+1)): all terms positive.
    const twoX2 = 2 * x * x;
    let term = 1;
    let sum = 1;
    for (let n = 1; n <= 60; n++) {
      term *= twoX2 / (2 * n + 1);
      sum += term;
    }
    return 1 - TWO_OVER_SQRT_PI * x * detExp(-x * x) * sum;
  }
  if (x > 27.3) return 0; // below the smallest double
  // Laplace continued fraction, evaluated bottom-up at a fixed depth:
  // erfc x = e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
  let tail = x;
  // Depth 200 converges to ~1 ulp for x >= 1.
  for (let n = 200; n >= 1; n--) tail = x + n / 2 / tail;
  return (INV_SQRT_PI * detExp(-x * x)) / tail;
}

/** Complementary error function, deterministic. */
export function detErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  return x >= 0 ? erfcNonNegative(x) : 2 - erfcNonNegative(-x);
}

/** Standard normal CDF, Φ(x) = erfc(-x / sqrt 2) / 2. */
export function standardNormalCdf(x: number): number {
  return 0.5 * detErfc(-x * SQRT1_2);
}

/** Φ⁻¹(p) by bisection: slow but exactly reproducible. */
export function standardNormalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`standardNormalQuantile: p must be in (0, 1), got ${p}`);
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (standardNormalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}
