/**
 * The same multiply-accumulate as kernel.ts, as a tiny WebAssembly SIMD
 * function (f64x2 lanes), about 4x faster than the JS loops in V8. WebAssembly
 * f64 arithmetic is IEEE-754 exact with no fused multiply-add (relaxed SIMD is
 * not used), and every value is an integer below 2^53 anyway, so the results
 * are bit-identical to the JS kernel; the JS kernel stays as the fallback where
 * WebAssembly SIMD is missing.
 *
 * The module (about 380 bytes) is assembled here from opcodes, so no build
 * step or binary blob is needed. Its one function computes one block of
 * 4 outputs x 4 output channels:
 *
 *   block(in, step, taps, ntaps, cinBytes, w, out)   (all byte addresses / sizes, i32)
 *     for each tap t < ntaps (ntaps >= 1):
 *       a = in + taps[t]; pixels a, a+step, a+2*step, a+3*step
 *       for each channel (8 bytes) up to a + cinBytes:
 *         w01, w23 = weights of 4 output channels (2 x f64x2)
 *         acc[px][01] += splat(x_px) * w01; acc[px][23] += splat(x_px) * w23
 *     out[0..16) = acc (f64, [px][co])
 */
import { CO_BLOCK, X_BLOCK, type PhaseJob } from './kernel.js';

const PAGE = 65536;
const SCRATCH_BYTES = X_BLOCK * CO_BLOCK * 8;

// ------------------------------------------------------------------ assembling the module

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};

const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};

const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Load: (offset: number) => [0x28, 2, ...uleb(offset)],
  i32Add: [0x6a],
  i32LtU: [0x49],
  i32Ne: [0x47],
  loop: [0x03, 0x40],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  end: [0x0b],
  v128Load: (offset: number) => [0xfd, ...uleb(0), 3, ...uleb(offset)],
  v128Load64Splat: (offset: number) => [0xfd, ...uleb(10), 3, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, ...uleb(11), 3, ...uleb(offset)],
  f64x2Add: [0xfd, ...uleb(0xf0)],
  f64x2Mul: [0xfd, ...uleb(0xf2)],
};

function assembleModule(): Uint8Array<ArrayBuffer> {
  // params
  const IN = 0, STEP = 1, TAPS = 2, NTAPS = 3, CIN_BYTES = 4, W = 5, OUT = 6;
  // i32 locals: the 4 pixel pointers and the end of the channel run
  const PIXEL = [7, 8, 9, 10], END = 11;
  // v128 locals: accumulators [px][co pair], the two weight pairs, the splatted input
  const ACC = 12, W01 = 20, W23 = 21, X = 22;
  const code: number[] = [];
  const emit = (...parts: number[][]) => parts.forEach((p) => code.push(...p));

  emit(op.loop); // over taps
  emit(op.localGet(TAPS), op.i32Load(0), op.localGet(IN), op.i32Add, op.localTee(PIXEL[0]), op.localGet(CIN_BYTES), op.i32Add, op.localSet(END));
  for (let px = 1; px < X_BLOCK; px++) emit(op.localGet(PIXEL[px - 1]), op.localGet(STEP), op.i32Add, op.localSet(PIXEL[px]));
  emit(op.loop); // over input channels
  emit(op.localGet(W), op.v128Load(0), op.localSet(W01), op.localGet(W), op.v128Load(16), op.localSet(W23));
  PIXEL.forEach((ptr, px) => {
    const acc01 = ACC + 2 * px;
    const acc23 = acc01 + 1;
    emit(op.localGet(ptr), op.v128Load64Splat(0), op.localTee(X));
    emit(op.localGet(W01), op.f64x2Mul, op.localGet(acc01), op.f64x2Add, op.localSet(acc01));
    emit(op.localGet(X), op.localGet(W23), op.f64x2Mul, op.localGet(acc23), op.f64x2Add, op.localSet(acc23));
  });
  emit(op.localGet(W), op.i32Const(CO_BLOCK * 8), op.i32Add, op.localSet(W));
  for (const ptr of PIXEL.slice(1)) emit(op.localGet(ptr), op.i32Const(8), op.i32Add, op.localSet(ptr));
  emit(op.localGet(PIXEL[0]), op.i32Const(8), op.i32Add, op.localTee(PIXEL[0]), op.localGet(END), op.i32LtU, op.brIf(0));
  emit(op.end);
  emit(op.localGet(TAPS), op.i32Const(4), op.i32Add, op.localSet(TAPS));
  emit(op.localGet(NTAPS), op.i32Const(-1), op.i32Add, op.localTee(NTAPS), op.i32Const(0), op.i32Ne, op.brIf(0));
  emit(op.end);
  for (let i = 0; i < 8; i++) emit(op.localGet(OUT), op.localGet(ACC + i), op.v128Store(16 * i));
  emit(op.end);

  const I32 = 0x7f, V128 = 0x7b;
  const body = [2, ...uleb(5), I32, ...uleb(11), V128, ...code];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 7, I32, I32, I32, I32, I32, I32, I32, 0]), // type: (i32 x 7) -> ()
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 1]), // import env.memory, min 1 page
    ...section(3, [1, 0]), // one function of type 0
    ...section(7, [1, ...name('block'), 0x00, 0]), // export it as "block"
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

// ------------------------------------------------------------------ running it

type BlockFn = (input: number, step: number, taps: number, ntaps: number, cinBytes: number, w: number, out: number) => void;

/**
 * Owns one WebAssembly memory laid out as
 *   [scratch: 16 f64 | tap offsets: i32 | phase weights: f64 | padded input: f64]
 * sized per layer. The runner is synchronous, so one shared instance is safe.
 */
export class WasmAccumulator {
  private tapsAt = SCRATCH_BYTES;
  private weightsAt = SCRATCH_BYTES;
  private inputAt = SCRATCH_BYTES;
  private inputView = new Float64Array(0);

  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly block: BlockFn,
  ) {}

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** null when this engine has no WebAssembly SIMD. */
  static create(): WasmAccumulator | null {
    try {
      const bytes = assembleModule();
      if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) return null;
      const memory = new WebAssembly.Memory({ initial: 1 });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      return new WasmAccumulator(memory, instance.exports.block as BlockFn);
    } catch {
      return null;
    }
  }

  /**
   * Lay memory out for a layer and return the zeroed padded-input buffer,
   * which lives inside wasm memory. null when memory cannot grow that far.
   */
  prepareLayer(inputValues: number, maxPhaseWeights: number, maxTaps: number): Float64Array | null {
    this.tapsAt = SCRATCH_BYTES;
    this.weightsAt = this.tapsAt + Math.ceil((maxTaps * 4) / 16) * 16;
    this.inputAt = this.weightsAt + maxPhaseWeights * 8;
    const needed = this.inputAt + inputValues * 8;
    if (needed > 2 ** 31) return null; // i32 addresses stay positive
    const have = this.memory.buffer.byteLength;
    if (needed > have) {
      try {
        this.memory.grow(Math.ceil((needed - have) / PAGE));
      } catch {
        return null;
      }
    }
    this.inputView = new Float64Array(this.memory.buffer, this.inputAt, inputValues);
    this.inputView.fill(0);
    return this.inputView;
  }

  accumulatePhase(job: PhaseJob): void {
    const { input, cin, rowStride, yStart, yStep, yCount, xStart, xStep, xCount, tapOffsets, weights, bias, cout, acc } = job;
    const { outW, outY0, outYStep, outX0, outXStep } = job;
    if (input !== this.inputView) throw new Error('wasm kernel: input must come from prepareLayer');
    const taps = tapOffsets.length;
    if (taps === 0) return biasOnly(job);
    const buffer = this.memory.buffer;
    new Float64Array(buffer, this.weightsAt, weights.length).set(weights);
    const tapBytes = new Int32Array(buffer, this.tapsAt, taps);
    for (let t = 0; t < taps; t++) tapBytes[t] = tapOffsets[t] * 8;
    const scratch = new Float64Array(buffer, 0, X_BLOCK * CO_BLOCK);
    const block = this.block;
    const stepBytes = xStep * cin * 8;
    const cinBytes = cin * 8;
    const blockWeightBytes = taps * cin * CO_BLOCK * 8;
    const outPixelStep = outXStep * cout;
    // Channel blocks outside the x loop: one block's weights (taps*cin*32 bytes) stay in cache for a whole row.
    for (let j = 0; j < yCount; j++) {
      const rowBase = this.inputAt + (yStart + j * yStep) * rowStride * 8;
      const outRow = (outY0 + j * outYStep) * outW;
      for (let co = 0; co < cout; co += CO_BLOCK) {
        const w = this.weightsAt + (co >> 2) * blockWeightBytes;
        const n = Math.min(CO_BLOCK, cout - co);
        for (let i = 0; i < xCount; i += X_BLOCK) {
          block(rowBase + (xStart + i * xStep) * cinBytes, stepBytes, this.tapsAt, taps, cinBytes, w, 0);
          const valid = Math.min(X_BLOCK, xCount - i);
          const outBase = (outRow + outX0 + i * outXStep) * cout + co;
          for (let px = 0; px < valid; px++) {
            const at = outBase + px * outPixelStep;
            for (let c = 0; c < n; c++) acc[at + c] = bias[co + c] + scratch[px * CO_BLOCK + c];
          }
        }
      }
    }
  }
}

/** A phase with no taps (kernel smaller than stride): outputs are the bias. */
function biasOnly(job: PhaseJob): void {
  const { yCount, xCount, cout, bias, acc, outW, outY0, outYStep, outX0, outXStep } = job;
  for (let j = 0; j < yCount; j++) {
    for (let i = 0; i < xCount; i++) {
      const at = ((outY0 + j * outYStep) * outW + outX0 + i * outXStep) * cout;
      for (let co = 0; co < cout; co++) acc[at + co] = bias[co];
    }
  }
}

let shared: WasmAccumulator | null | undefined;

/** Wasm memory cannot shrink; above this the instance is dropped after a run so the GC can take it. */
const KEEP_BYTES = 64 * 2 ** 20;

/** The process-wide wasm kernel, or null where WebAssembly SIMD is unavailable. */
export function wasmAccumulator(): WasmAccumulator | null {
  if (shared === undefined) shared = WasmAccumulator.create();
  return shared;
}

/** Called after a run: let a very large memory (a huge image) go instead of keeping it for the process's life. */
export function trimWasmMemory(): void {
  if (shared && shared.byteLength > KEEP_BYTES) shared = undefined;
}
