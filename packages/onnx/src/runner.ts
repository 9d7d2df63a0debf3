/**
 * onnxruntime-node sessions for the exported graphs: created once per model
 * and graph (a session cache keyed by the weights' fingerprint), with a
 * thread-count option, and run on plain NHWC Float32Arrays so callers never
 * see ORT's types.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { PsicError } from '@psic/entropy';

/** An NHWC float tensor as plain data: [batch, height, width, channels]. */
export interface NhwcData {
  data: Float32Array;
  dims: [number, number, number, number];
}

export interface OnnxRunnerOptions {
  /** intra-op threads per session (default: the machine's available parallelism) */
  threads?: number;
  /**
   * Let idle ORT worker threads spin-wait for work (ORT's default). Faster on
   * an idle machine; off wastes no CPU next to other busy processes.
   */
  spinning?: boolean;
}

export class OnnxRunner {
  readonly threads: number;
  private readonly spinning: boolean;
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(opts: OnnxRunnerOptions = {}) {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new PsicError('USAGE', `threads must be a positive integer (got ${opts.threads})`);
    this.threads = threads;
    this.spinning = opts.spinning ?? true;
  }

  /**
   * The session for `key`, created from `build()` (the graph's bytes) on
   * first use. `arena`: keep ORT's memory arena, which reuses the buffers of
   * earlier runs (~25% faster: no fresh pages to fault in) but holds on to
   * the largest run's memory, rounded up to powers of two; for small inputs.
   */
  session(key: string, build: () => Uint8Array, opts: { arena?: boolean } = {}): Promise<ort.InferenceSession> {
    const arena = opts.arena ?? false;
    key = arena ? `${key}:arena` : key;
    let s = this.sessions.get(key);
    if (!s) {
      s = this.create(build(), arena);
      this.sessions.set(key, s);
      // A failed creation must not stay cached.
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /** Keys of the sessions held (arena sessions end in ':arena'). */
  sessionKeys(): string[] {
    return [...this.sessions.keys()];
  }

  /** Whether a session for `key` exists (or is being created). */
  has(key: string, opts: { arena?: boolean } = {}): boolean {
    return this.sessions.has(opts.arena ? `${key}:arena` : key);
  }

  private async create(bytes: Uint8Array, arena: boolean): Promise<ort.InferenceSession> {
    try {
      return await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        // 'all' turns on the blocked (NCHWc) convolution kernels, the main speed-up.
        graphOptimizationLevel: 'all',
        enableCpuMemArena: arena,
        extra: { session: { intra_op: { allow_spinning: this.spinning ? '1' : '0' } } },
      });
    } catch (err) {
      throw new PsicError('ONNX_RUNTIME', `onnxruntime could not load a graph: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Run `session` on NHWC inputs; returns its outputs by name. */
  async run(session: ort.InferenceSession, feeds: Record<string, NhwcData | { data: Float32Array; dims: number[] }>): Promise<Record<string, NhwcData>> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, v] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', v.data, v.dims);
    const out = await session.run(inputs);
    const result: Record<string, NhwcData> = {};
    for (const [name, t] of Object.entries(out)) {
      result[name] = { data: t.data as Float32Array, dims: t.dims as NhwcData['dims'] };
    }
    return result;
  }

  /** Release every session. */
  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.release()));
  }
}
