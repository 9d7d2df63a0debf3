/**
 * @psic/onnx: a backbone's float transforms (g_a, h_a, h_s, g_s, and the
 * hooks an adapter adds) as ONNX graphs written from TypeScript, and a runner
 * on onnxruntime-node that the codec uses for fast encode / decode. The
 * integer entropy path stays in TypeScript, so streams are the same format
 * and decode to the same y-hat whichever runtime made them.
 */
export { ProtoWriter } from './protobuf.js';
export { encodeModel, DataType, IR_VERSION, OPSET_VERSION, type ModelSpec, type GraphSpec, type NodeSpec, type TensorSpec, type ValueInfoSpec, type AttributeValue, type Dim } from './onnx-proto.js';
export { GraphBuilder } from './graph-builder.js';
export { exportModule, registerLayerExporter, type LayerExporter, type LayerExportContext } from './layer-export.js';
export { describeTransforms, registerTransforms, compressAiNaming, type BackboneTransforms, type TransformStage, type TransformDescriber } from './transforms.js';
export {
  analysisGraph,
  hyperAnalysisGraph,
  hyperSynthesisGraph,
  synthesisGraph,
  IO,
  type GraphBlockHook,
  type GraphBlockHookContext,
  type GraphOptions,
  type SynthesisGraphOptions,
} from './graphs.js';
export { exportTransforms, writeOnnxExport, type ExportedGraph, type ExportOptions, type ExportManifest } from './export.js';
export { OnnxRunner, type NhwcData, type OnnxRunnerOptions } from './runner.js';
export { analysisHalo, synthesisHalo } from './halo.js';
export { planTiles, runTiled, cropNhwc, type TileRect, type TiledRunOptions } from './tiling.js';
export { OnnxTransforms, DEFAULT_MAX_TILE_PIXELS, DEFAULT_ARENA_MAX_PIXELS, TILE_HALO, blockBiasInput, blockBiasInputs, type NhwcBlockHook, type OnnxTransformsOptions } from './onnx-transforms.js';
export { OnnxCodecRuntime, withOnnxRuntime, type OnnxCodecOptions } from './codec-runtime.js';
