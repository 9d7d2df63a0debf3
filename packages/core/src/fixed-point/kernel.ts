/**
 * The multiply-accumulate kernel: one phase of a conv / transposed conv over a
 * zero-padded HWC input. All values are integers held in float64; the caller
 * guarantees (checkAccumulatorBound) that every partial sum stays below 2^53,
 * so every operation here is exact and the loop order is free to be chosen for
 * speed. Blocks of 4 outputs along x times 4 output channels keep 16
 * accumulators in registers and load each input and weight once per block.
 */

/** Outputs per block along x; the padded input has room for a full last block. */
export const X_BLOCK = 4;
/** Output channels per block; weights are padded to a multiple of this. */
export const CO_BLOCK = 4;

export interface PhaseJob {
  /** zero-padded input, HWC with `rowStride` values per row */
  input: Float64Array;
  cin: number;
  rowStride: number;
  /** padded input coordinates of output (j, i)'s origin: (yStart + j*yStep, xStart + i*xStep) */
  yStart: number;
  yStep: number;
  yCount: number;
  xStart: number;
  xStep: number;
  xCount: number;
  /** element offsets of the taps from the origin; weights are [coBlock][tap][cin][CO_BLOCK] */
  tapOffsets: Int32Array;
  weights: Float64Array;
  bias: Float64Array;
  cout: number;
  /** accumulators, HWC with outW columns; phase output (j, i) lands at (outY0 + j*outYStep, outX0 + i*outXStep) */
  acc: Float64Array;
  outW: number;
  outY0: number;
  outYStep: number;
  outX0: number;
  outXStep: number;
}

export function accumulatePhase(job: PhaseJob): void {
  const { input, cin, rowStride, yStart, yStep, yCount, xStart, xStep, xCount, tapOffsets, weights, bias, cout, acc } = job;
  const { outW, outY0, outYStep, outX0, outXStep } = job;
  const taps = tapOffsets.length;
  const pixelStep = xStep * cin; // input distance between neighbouring outputs of a block
  const outPixelStep = outXStep * cout;
  const blockWeights = taps * cin * CO_BLOCK;
  for (let j = 0; j < yCount; j++) {
    const rowBase = (yStart + j * yStep) * rowStride;
    const outRow = (outY0 + j * outYStep) * outW;
    for (let i = 0; i < xCount; i += X_BLOCK) {
      const valid = Math.min(X_BLOCK, xCount - i);
      const origin = rowBase + (xStart + i * xStep) * cin;
      const outBase = (outRow + outX0 + i * outXStep) * cout;
      for (let co = 0; co < cout; co += CO_BLOCK) {
        const b0 = bias[co];
        const b1 = co + 1 < cout ? bias[co + 1] : 0;
        const b2 = co + 2 < cout ? bias[co + 2] : 0;
        const b3 = co + 3 < cout ? bias[co + 3] : 0;
        let p0 = b0, p1 = b1, p2 = b2, p3 = b3; // output i
        let q0 = b0, q1 = b1, q2 = b2, q3 = b3; // output i+1
        let r0 = b0, r1 = b1, r2 = b2, r3 = b3; // output i+2
        let s0 = b0, s1 = b1, s2 = b2, s3 = b3; // output i+3
        let w = (co >> 2) * blockWeights; // co is a multiple of CO_BLOCK = 4; integer math keeps indexes small ints
        for (let t = 0; t < taps; t++) {
          const start = origin + tapOffsets[t];
          const end = start + cin;
          for (let a = start; a < end; a++) {
            const x0 = input[a];
            const x1 = input[a + pixelStep];
            const x2 = input[a + 2 * pixelStep];
            const x3 = input[a + 3 * pixelStep];
            let k = weights[w];
            p0 += x0 * k; q0 += x1 * k; r0 += x2 * k; s0 += x3 * k;
            k = weights[w + 1];
            p1 += x0 * k; q1 += x1 * k; r1 += x2 * k; s1 += x3 * k;
            k = weights[w + 2];
            p2 += x0 * k; q2 += x1 * k; r2 += x2 * k; s2 += x3 * k;
            k = weights[w + 3];
            p3 += x0 * k; q3 += x1 * k; r3 += x2 * k; s3 += x3 * k;
            w += CO_BLOCK;
          }
        }
        const n = Math.min(CO_BLOCK, cout - co);
        store(acc, outBase + co, n, p0, p1, p2, p3);
        if (valid > 1) store(acc, outBase + outPixelStep + co, n, q0, q1, q2, q3);
        if (valid > 2) store(acc, outBase + 2 * outPixelStep + co, n, r0, r1, r2, r3);
        if (valid > 3) store(acc, outBase + 3 * outPixelStep + co, n, s0, s1, s2, s3);
      }
    }
  }
}

function store(acc: Float64Array, at: number, n: number, v0: number, v1: number, v2: number, v3: number): void {
  acc[at] = v0;
  if (n > 1) acc[at + 1] = v1;
  if (n > 2) acc[at + 2] = v2;
  if (n > 3) acc[at + 3] = v3;
}
