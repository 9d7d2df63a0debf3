// N-API glue (plain C API from node_api.h, so no extra npm dependency).
// Every entry point takes caller-allocated typed arrays, checks their
// lengths against the geometry, and runs synchronously on the JS thread:
// tfjs kernels are synchronous, and the data may live on the wasm heap,
// which must not be touched after we return.
#include <node_api.h>

#include <c10/util/Exception.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdio>
#include <exception>
#include <string>

#include "elementwise.h"
#include "torch_conv.h"

namespace {

using psic::ConvGeometry;

struct JsError : std::exception {
  std::string message;
  explicit JsError(std::string m) : message(std::move(m)) {}
};

void check(napi_env env, napi_status status, const char* what) {
  if (status != napi_ok) throw JsError(std::string("N-API call failed: ") + what);
}

// Float32Array argument -> pointer + length; null/undefined allowed when `optional`.
float* floatArray(napi_env env, napi_value v, size_t expected, const char* name, bool optional = false) {
  napi_valuetype type;
  check(env, napi_typeof(env, v, &type), "typeof");
  if (optional && (type == napi_null || type == napi_undefined)) return nullptr;
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), "is_typedarray");
  if (!isTyped) throw JsError(std::string(name) + " must be a Float32Array");
  napi_typedarray_type kind;
  size_t length;
  void* data;
  check(env, napi_get_typedarray_info(env, v, &kind, &length, &data, nullptr, nullptr), "typedarray_info");
  if (kind != napi_float32_array) throw JsError(std::string(name) + " must be a Float32Array");
  if (length != expected)
    throw JsError(std::string(name) + " has " + std::to_string(length) + " elements, expected " +
                  std::to_string(expected));
  return static_cast<float*>(data);
}

size_t floatLength(napi_env env, napi_value v, const char* name) {
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), "is_typedarray");
  if (!isTyped) throw JsError(std::string(name) + " must be a Float32Array");
  napi_typedarray_type kind;
  size_t length;
  check(env, napi_get_typedarray_info(env, v, &kind, &length, nullptr, nullptr, nullptr), "typedarray_info");
  return length;
}

ConvGeometry geometry(napi_env env, napi_value v) {
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), "is_typedarray");
  if (!isTyped) throw JsError("geometry must be an Int32Array");
  napi_typedarray_type kind;
  size_t length;
  void* data;
  check(env, napi_get_typedarray_info(env, v, &kind, &length, &data, nullptr, nullptr), "typedarray_info");
  if (kind != napi_int32_array || length != psic::kGeometrySlots) throw JsError("geometry must be an Int32Array(17)");
  const auto g = psic::geometryFromSlots(static_cast<const int32_t*>(data));
  const int64_t positive[] = {g.batch, g.inHeight, g.inWidth, g.inChannels, g.filterHeight, g.filterWidth,
                              g.outChannels, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth,
                              g.dilationHeight, g.dilationWidth};
  for (int64_t value : positive)
    if (value < 1) throw JsError("geometry sizes, strides and dilations must be positive");
  if (g.padTop < 0 || g.padBottom < 0 || g.padLeft < 0 || g.padRight < 0) throw JsError("padding must be >= 0");
  return g;
}

// Int32Array argument -> shape / axis list.
psic::Shape intList(napi_env env, napi_value v, const char* name) {
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), "is_typedarray");
  if (!isTyped) throw JsError(std::string(name) + " must be an Int32Array");
  napi_typedarray_type kind;
  size_t length;
  void* data;
  check(env, napi_get_typedarray_info(env, v, &kind, &length, &data, nullptr, nullptr), "typedarray_info");
  if (kind != napi_int32_array || length > 8) throw JsError(std::string(name) + " must be an Int32Array of rank <= 8");
  const auto* values = static_cast<const int32_t*>(data);
  psic::Shape out(values, values + length);
  for (int64_t d : out)
    if (d < 0) throw JsError(std::string(name) + " must not hold negative values");
  return out;
}

size_t sizeOf(const psic::Shape& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

int32_t intArg(napi_env env, napi_value v, const char* name) {
  int32_t out = 0;
  check(env, napi_get_value_int32(env, v, &out), name);
  return out;
}

size_t inputSize(const ConvGeometry& g) { return g.batch * g.inHeight * g.inWidth * g.inChannels; }
size_t outputSize(const ConvGeometry& g) { return g.batch * g.outHeight * g.outWidth * g.outChannels; }
size_t filterSize(const ConvGeometry& g) { return g.filterHeight * g.filterWidth * g.inChannels * g.outChannels; }

template <size_t N>
void args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "get_cb_info");
  if (argc < N) throw JsError("expected " + std::to_string(N) + " arguments");
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// Runs `body`, turning C++ and torch exceptions into JS errors.
template <typename Body>
napi_value guarded(napi_env env, Body body) {
  try {
    return body();
  } catch (const JsError& e) {
    napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const c10::Error& e) {
    napi_throw_error(env, "ERR_TORCH", e.what_without_backtrace());
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_TORCH", e.what());
  }
  return nullptr;
}

// conv2d(geometry, x, filter, bias | null, activation, y)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[6];
    args(env, info, a);
    const auto g = geometry(env, a[0]);
    const float* x = floatArray(env, a[1], inputSize(g), "x");
    const float* w = floatArray(env, a[2], filterSize(g), "filter");
    const float* bias = floatArray(env, a[3], g.outChannels, "bias", true);
    int32_t act = 0;
    check(env, napi_get_value_int32(env, a[4], &act), "activation");
    if (act != 0 && act != 1) throw JsError("activation must be 0 (linear) or 1 (relu)");
    float* y = floatArray(env, a[5], outputSize(g), "y");
    psic::conv2dForward(g, x, w, bias, static_cast<psic::Activation>(act), y);
    return undefinedValue(env);
  });
}

// conv2dBackpropInput(geometry, dy, filter, dx)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, a);
    const auto g = geometry(env, a[0]);
    const float* dy = floatArray(env, a[1], outputSize(g), "dy");
    const float* w = floatArray(env, a[2], filterSize(g), "filter");
    float* dx = floatArray(env, a[3], inputSize(g), "dx");
    psic::conv2dBackpropInput(g, dy, w, dx);
    return undefinedValue(env);
  });
}

// conv2dBackpropFilter(geometry, x, dy, dw)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[4];
    args(env, info, a);
    const auto g = geometry(env, a[0]);
    const float* x = floatArray(env, a[1], inputSize(g), "x");
    const float* dy = floatArray(env, a[2], outputSize(g), "dy");
    float* dw = floatArray(env, a[3], filterSize(g), "dw");
    psic::conv2dBackpropFilter(g, x, dy, dw);
    return undefinedValue(env);
  });
}

// unary(op, x, y): y = op(x), same length.
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[3];
    args(env, info, a);
    const int32_t op = intArg(env, a[0], "op");
    if (op < 0 || op > static_cast<int32_t>(psic::UnaryOp::kCopy)) throw JsError("unknown unary op");
    const size_t length = floatLength(env, a[1], "x");
    const float* x = floatArray(env, a[1], length, "x");
    float* y = floatArray(env, a[2], length, "y");
    psic::unary(static_cast<psic::UnaryOp>(op), x, static_cast<int64_t>(length), y);
    return undefinedValue(env);
  });
}

// binary(op, a, aShape, b, bShape, out, outShape): out = op(a, b) with broadcasting.
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[7];
    args(env, info, v);
    const int32_t op = intArg(env, v[0], "op");
    if (op < 0 || op > static_cast<int32_t>(psic::BinaryOp::kSquaredDifference)) throw JsError("unknown binary op");
    const auto aShape = intList(env, v[2], "aShape");
    const auto bShape = intList(env, v[4], "bShape");
    const auto outShape = intList(env, v[6], "outShape");
    const float* a = floatArray(env, v[1], sizeOf(aShape), "a");
    const float* b = floatArray(env, v[3], sizeOf(bShape), "b");
    float* out = floatArray(env, v[5], sizeOf(outShape), "out");
    psic::binary(static_cast<psic::BinaryOp>(op), a, aShape, b, bShape, out, outShape);
    return undefinedValue(env);
  });
}

// sum(x, xShape, axes, out): out = x summed over axes (not kept).
napi_value Sum(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[4];
    args(env, info, v);
    const auto xShape = intList(env, v[1], "xShape");
    const auto axes = intList(env, v[2], "axes");
    if (axes.empty()) throw JsError("axes must not be empty");
    size_t outSize = 1;
    for (size_t d = 0; d < xShape.size(); d++) {
      bool reduced = false;
      for (int64_t axis : axes) reduced |= axis == static_cast<int64_t>(d);
      if (!reduced) outSize *= static_cast<size_t>(xShape[d]);
    }
    for (int64_t axis : axes)
      if (axis >= static_cast<int64_t>(xShape.size())) throw JsError("axis out of range");
    const float* x = floatArray(env, v[0], sizeOf(xShape), "x");
    float* out = floatArray(env, v[3], outSize, "out");
    psic::sum(x, xShape, axes, out);
    return undefinedValue(env);
  });
}

// setNumThreads(n) -> n actually in use
napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[1];
    args(env, info, a);
    int32_t n = 0;
    check(env, napi_get_value_int32(env, a[0], &n), "threads");
    if (n < 1) throw JsError("threads must be >= 1");
    psic::setThreads(n);
    napi_value out;
    check(env, napi_create_int32(env, psic::threads(), &out), "create_int32");
    return out;
  });
}

// setChannelsLast(bool)
napi_value SetChannelsLast(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[1];
    args(env, info, a);
    bool on = true;
    check(env, napi_get_value_bool(env, a[0], &on), "channelsLast");
    psic::setChannelsLast(on);
    return undefinedValue(env);
  });
}

// convBackend(geometry) -> "mkldnn" | "slow2d" | ...
napi_value ConvBackend(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value a[1];
    args(env, info, a);
    napi_value out;
    check(env, napi_create_string_utf8(env, psic::forwardBackendName(geometry(env, a[0])), NAPI_AUTO_LENGTH, &out),
          "create_string");
    return out;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sum", nullptr, Sum, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setNumThreads", nullptr, SetNumThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setChannelsLast", nullptr, SetChannelsLast, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackend", nullptr, ConvBackend, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value version;
  napi_create_string_utf8(env, TORCH_VERSION, NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "torchVersion", version);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
