/**
 * Geometry of conv / transposed conv with PyTorch semantics, padding k//2 and,
 * for the transposed conv, output_padding stride-1 (CompressAI's conv/deconv).
 *
 * Both ops are expressed as "phases": a phase is a regular sub-grid of output
 * positions that all read the same taps at the same input offsets. A conv has
 * one phase per axis (every output reads taps 0..k-1 at input o*s - p + t). A
 * transposed conv with stride s has s phases per axis: output o = q*s + r reads
 * input q + d for each tap t with r + p - t = d*s. Gathering this way keeps each
 * output's accumulator in a register instead of scattering into memory.
 */

export interface AxisTap {
  /** kernel index along this axis */
  readonly tap: number;
  /** input offset relative to the phase's input origin */
  readonly offset: number;
}

export interface AxisPhase {
  /** first output index of the phase, and distance between its outputs */
  readonly outStart: number;
  readonly outStep: number;
  readonly count: number;
  /** input position (unpadded) of output j's origin is inStart + j * inStep */
  readonly inStart: number;
  readonly inStep: number;
  readonly taps: AxisTap[];
}

export function outputSize(kind: 'conv' | 'deconv', size: number, kernel: number, stride: number): number {
  const pad = Math.floor(kernel / 2);
  if (kind === 'conv') return Math.floor((size + 2 * pad - kernel) / stride) + 1;
  return (size - 1) * stride - 2 * pad + kernel + (stride - 1);
}

/** Phases along one axis for an input of `size`. */
export function axisPhases(kind: 'conv' | 'deconv', size: number, kernel: number, stride: number): AxisPhase[] {
  const pad = Math.floor(kernel / 2);
  const out = outputSize(kind, size, kernel, stride);
  if (kind === 'conv') {
    const taps = Array.from({ length: kernel }, (_, t) => ({ tap: t, offset: t }));
    return [{ outStart: 0, outStep: 1, count: out, inStart: -pad, inStep: stride, taps }];
  }
  const phases: AxisPhase[] = [];
  for (let r = 0; r < stride && r < out; r++) {
    const taps: AxisTap[] = [];
    for (let t = 0; t < kernel; t++) {
      const num = r + pad - t;
      if (num % stride === 0) taps.push({ tap: t, offset: num / stride });
    }
    phases.push({ outStart: r, outStep: stride, count: Math.ceil((out - r) / stride), inStart: 0, inStep: 1, taps });
  }
  return phases;
}

/** Zero border needed before / after the input so every tap read of every phase is in bounds. */
export function axisPadding(phases: AxisPhase[], size: number, blockSlack: number): { before: number; after: number } {
  let lo = 0;
  let hi = size - 1;
  for (const ph of phases) {
    // Outputs are computed in blocks; the last block may read `blockSlack` extra outputs' inputs.
    const lastOrigin = ph.inStart + (ph.count - 1 + blockSlack) * ph.inStep;
    for (const { offset } of ph.taps) {
      lo = Math.min(lo, ph.inStart + offset);
      hi = Math.max(hi, lastOrigin + offset);
    }
  }
  return { before: -lo, after: hi - (size - 1) };
}
