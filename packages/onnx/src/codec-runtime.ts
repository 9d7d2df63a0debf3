/**
 * The codec's `TransformRuntime` on onnxruntime: encoding runs g_a and h_a
 * in ORT and then the backbone's own `compress` (its integer entropy path,
 * unchanged) on a stand-in whose g_a / h_a modules hand back ORT's results;
 * decoding runs the backbone's `decompress` as usual and g_s in ORT.
 *
 * The stand-in is a Proxy over the backbone that only answers the transform
 * properties named by the backbone's description (transforms.ts) and passes
 * everything else, reads and writes, to the real object, so cached coding
 * tables land where they always do. (Backbones keep their state in ordinary
 * properties; a JS `#private` field would not be reachable through a Proxy.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { fingerprintHex, type BlockHook, type CodecModel, type LicBackbone, type Module, type TransformRuntime } from '@psic/core';
import { OnnxRunner, type NhwcData, type OnnxRunnerOptions } from './runner.js';
import { OnnxTransforms, type OnnxTransformsOptions } from './onnx-transforms.js';

/** A module that ignores the computation and returns a precomputed output (after checking it is asked about the right input). */
function precomputed(output: NhwcData, expectedInput: readonly number[], what: string): Module {
  return {
    apply(x: tf.Tensor4D): tf.Tensor4D {
      if (x.shape.some((d, i) => d !== expectedInput[i])) {
        throw new Error(`${what}: precomputed for input [${expectedInput}], asked for [${x.shape}]`);
      }
      return tf.tensor4d(output.data, output.dims);
    },
    namedVariables: () => ({}),
  };
}

function nhwc(t: tf.Tensor4D, data: Float32Array): NhwcData {
  return { data, dims: [...t.shape] as NhwcData['dims'] };
}

export class OnnxCodecRuntime implements TransformRuntime {
  constructor(readonly transforms: OnnxTransforms) {}

  async encoder(x: tf.Tensor4D, data?: Float32Array): Promise<LicBackbone> {
    const { backbone } = this.transforms;
    const desc = this.transforms.transforms;
    const input = nhwc(x, data ?? ((await x.data()) as Float32Array));
    const y = await this.transforms.analysis(input);
    const stand: Record<string, Module> = { [desc.analysis.property]: precomputed(y, input.dims, 'g_a') };
    if (desc.hyperAnalysis) {
      const z = await this.transforms.hyperAnalysis(y);
      stand[desc.hyperAnalysis.property] = precomputed(z, y.dims, 'h_a');
    }
    return new Proxy(backbone, {
      get: (target, prop, receiver) => (typeof prop === 'string' && Object.hasOwn(stand, prop) ? stand[prop] : Reflect.get(target, prop, receiver)),
    });
  }

  async synthesize(yHat: tf.Tensor4D, hook?: BlockHook): Promise<{ data: Float32Array; height: number; width: number }> {
    const input = nhwc(yHat, (await yHat.data()) as Float32Array);
    const out = await this.transforms.synthesis(input, { hook: hook ? tfHook(hook) : undefined });
    return { data: out.data, height: out.dims[1], width: out.dims[2] };
  }
}

/** A tfjs BlockHook run between the ONNX synthesis blocks. */
function tfHook(hook: BlockHook) {
  return (blockIndex: number, features: NhwcData): NhwcData => {
    const out = tf.tidy(() => hook(blockIndex, tf.tensor4d(features.data, features.dims)));
    const data = out.dataSync() as Float32Array;
    const dims = [...out.shape] as NhwcData['dims'];
    out.dispose();
    return { data, dims };
  };
}

const ids = new WeakMap<LicBackbone, number>();

/**
 * A number per backbone object: sessions are built from an object's weights,
 * so two objects never share them, even under the same fingerprint (a test
 * model, an unsaved one). Sessions reflect the weights at their first use.
 */
let nextId = 1;
function backboneId(backbone: LicBackbone): number {
  let id = ids.get(backbone);
  if (id === undefined) ids.set(backbone, (id = nextId++));
  return id;
}

export interface OnnxCodecOptions extends OnnxRunnerOptions, OnnxTransformsOptions {
  /** share sessions between models and calls (default: one runner per call) */
  runner?: OnnxRunner;
}

/**
 * `model` with its float transforms on onnxruntime: pass the result to
 * encodeImage / decodeImage (or anything taking a CodecModel). Sessions are
 * created on first use from the weights as they are then, and cached in the
 * runner per backbone object and weights fingerprint.
 */
export function withOnnxRuntime<T extends CodecModel>(model: T, opts: OnnxCodecOptions = {}): T & { runtime: OnnxCodecRuntime } {
  const runner = opts.runner ?? new OnnxRunner(opts);
  const transforms = new OnnxTransforms(runner, model.backbone, `${backboneId(model.backbone)}:${fingerprintHex(model.fingerprint)}`, opts);
  return { ...model, runtime: new OnnxCodecRuntime(transforms) };
}
