// libtorch convolution kernels on tfjs buffers.
//
// Layout: tfjs stores activations NHWC. An NHWC buffer *is* an NCHW tensor
// with channels_last strides, so activations enter torch as zero-copy views;
// oneDNN (mkldnn) convolves channels_last directly. Filters ([kh,kw,in,out])
// are small and get permuted into a real tensor each call.
//
// Padding: tfjs may pad asymmetrically ('same' with stride 2 pads less on
// top/left); torch only pads symmetrically. We let torch pad min(top,bottom)
// and add the remaining row/column with constant_pad_nd (a copy, only then).
//
// Gradients go through at::convolution_backward, which picks the same
// backend as the forward (oneDNN here). tfjs's conv2dTranspose is the
// input-gradient, so it runs through oneDNN too, unlike torch's own
// ConvTranspose2d forward (im2col + BLAS in 1.13).
#include "torch_conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/native/ConvUtils.h>

#include <array>

namespace psic {
namespace {

// Memory format for activations handed to torch. kChannelsLast keeps the
// zero-copy view; kContiguous converts to NCHW first (kept to measure both).
at::MemoryFormat gActivationFormat = at::MemoryFormat::ChannelsLast;

// NCHW-shaped, channels_last-strided view of an NHWC buffer (no copy).
at::Tensor nhwcAsNchw(const float* p, int64_t n, int64_t h, int64_t w, int64_t c) {
  auto view = at::from_blob(const_cast<float*>(p), {n, c, h, w}, {h * w * c, 1, w * c, c}, at::kFloat);
  return gActivationFormat == at::MemoryFormat::ChannelsLast ? view : view.contiguous();
}

// Writes an NCHW-shaped tensor (any strides) into an NHWC buffer.
void storeNhwc(const at::Tensor& t, float* out) {
  auto dst = at::from_blob(out, {t.size(0), t.size(2), t.size(3), t.size(1)}, at::kFloat);
  dst.copy_(t.permute({0, 2, 3, 1}));
}

// [kh,kw,in,out] -> [out,in,kh,kw] in the activation memory format.
at::Tensor filterAsOihw(const ConvGeometry& g, const float* w) {
  auto hwio = at::from_blob(const_cast<float*>(w), {g.filterHeight, g.filterWidth, g.inChannels, g.outChannels}, at::kFloat);
  return hwio.permute({3, 2, 0, 1}).contiguous(gActivationFormat);
}

// Split of tfjs's per-side padding into a symmetric part (torch) and the extra.
struct PaddingSplit {
  int64_t symH, symW;
  int64_t top, bottom, left, right;  // extra, added explicitly
  bool asymmetric() const { return top || bottom || left || right; }
};

PaddingSplit splitPadding(const ConvGeometry& g) {
  PaddingSplit p{};
  p.symH = std::min(g.padTop, g.padBottom);
  p.symW = std::min(g.padLeft, g.padRight);
  p.top = g.padTop - p.symH;
  p.bottom = g.padBottom - p.symH;
  p.left = g.padLeft - p.symW;
  p.right = g.padRight - p.symW;
  return p;
}

// The conv input as torch sees it: tfjs input plus any asymmetric extra padding.
at::Tensor paddedInput(const ConvGeometry& g, const PaddingSplit& p, const float* x) {
  auto input = nhwcAsNchw(x, g.batch, g.inHeight, g.inWidth, g.inChannels);
  if (!p.asymmetric()) return input;
  return at::constant_pad_nd(input, {p.left, p.right, p.top, p.bottom}, 0);
}

// A 1x1, stride-1, unpadded, undilated conv is a matrix product on the NHWC
// buffers as they are ([pixels, in] x [in, out], the tfjs filter layout), so
// BLAS can write straight into the output: no layout views, no copies.
bool isPointwise(const ConvGeometry& g) {
  return g.filterHeight == 1 && g.filterWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1 &&
         g.dilationHeight == 1 && g.dilationWidth == 1 && g.padTop == 0 && g.padBottom == 0 && g.padLeft == 0 &&
         g.padRight == 0;
}

at::Tensor matrix(const float* p, int64_t rows, int64_t cols) {
  return at::from_blob(const_cast<float*>(p), {rows, cols}, at::kFloat);
}

int64_t pixels(const ConvGeometry& g) { return g.batch * g.inHeight * g.inWidth; }

void checkOutputShape(const ConvGeometry& g, const at::Tensor& y) {
  TORCH_CHECK(y.size(0) == g.batch && y.size(1) == g.outChannels && y.size(2) == g.outHeight &&
                  y.size(3) == g.outWidth,
              "torch conv output ", y.sizes(), " differs from tfjs's [", g.batch, ",", g.outChannels, ",",
              g.outHeight, ",", g.outWidth, "] (NCHW)");
}

}  // namespace

void conv2dForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, Activation act,
                   float* y) {
  at::NoGradGuard noGrad;
  if (isPointwise(g)) {
    auto out = matrix(y, pixels(g), g.outChannels);
    auto input = matrix(x, pixels(g), g.inChannels);
    auto weight = matrix(w, g.inChannels, g.outChannels);
    if (bias) at::addmm_out(out, at::from_blob(const_cast<float*>(bias), {g.outChannels}, at::kFloat), input, weight);
    else at::mm_out(out, input, weight);
    if (act == Activation::kRelu) out.relu_();
    return;
  }
  const auto p = splitPadding(g);
  auto input = paddedInput(g, p, x);
  auto weight = filterAsOihw(g, w);
  c10::optional<at::Tensor> biasTensor;
  if (bias) biasTensor = at::from_blob(const_cast<float*>(bias), {g.outChannels}, at::kFloat);
  auto out = at::convolution(input, weight, biasTensor, {g.strideHeight, g.strideWidth}, {p.symH, p.symW},
                             {g.dilationHeight, g.dilationWidth}, false, {0, 0}, 1);
  checkOutputShape(g, out);
  if (act == Activation::kRelu) out.relu_();
  storeNhwc(out, y);
}

void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  at::NoGradGuard noGrad;
  if (isPointwise(g)) {
    auto out = matrix(dx, pixels(g), g.inChannels);
    at::mm_out(out, matrix(dy, pixels(g), g.outChannels), matrix(w, g.inChannels, g.outChannels).t());
    return;
  }
  const auto p = splitPadding(g);
  // Only the input's sizes are read when just the input gradient is asked for.
  auto inputLike = at::empty({g.batch, g.inChannels, g.inHeight + p.top + p.bottom, g.inWidth + p.left + p.right},
                             at::TensorOptions().dtype(at::kFloat).memory_format(gActivationFormat));
  auto gradOut = nhwcAsNchw(dy, g.batch, g.outHeight, g.outWidth, g.outChannels);
  auto weight = filterAsOihw(g, w);
  auto grads = at::convolution_backward(gradOut, inputLike, weight, c10::nullopt, {g.strideHeight, g.strideWidth},
                                        {p.symH, p.symW}, {g.dilationHeight, g.dilationWidth}, false, {0, 0}, 1,
                                        {true, false, false});
  auto gradIn = std::get<0>(grads);
  if (p.asymmetric()) gradIn = gradIn.narrow(2, p.top, g.inHeight).narrow(3, p.left, g.inWidth);
  storeNhwc(gradIn, dx);
}

void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  at::NoGradGuard noGrad;
  if (isPointwise(g)) {
    auto out = matrix(dw, g.inChannels, g.outChannels);
    at::mm_out(out, matrix(x, pixels(g), g.inChannels).t(), matrix(dy, pixels(g), g.outChannels));
    return;
  }
  const auto p = splitPadding(g);
  auto input = paddedInput(g, p, x);
  auto gradOut = nhwcAsNchw(dy, g.batch, g.outHeight, g.outWidth, g.outChannels);
  // Only the weight's sizes are read when just the weight gradient is asked for.
  auto weightLike = at::empty({g.outChannels, g.inChannels, g.filterHeight, g.filterWidth},
                              at::TensorOptions().dtype(at::kFloat).memory_format(gActivationFormat));
  auto grads = at::convolution_backward(gradOut, input, weightLike, c10::nullopt, {g.strideHeight, g.strideWidth},
                                        {p.symH, p.symW}, {g.dilationHeight, g.dilationWidth}, false, {0, 0}, 1,
                                        {false, true, false});
  auto gradW = std::get<1>(grads);  // [out,in,kh,kw]
  auto dst = at::from_blob(dw, {g.filterHeight, g.filterWidth, g.inChannels, g.outChannels}, at::kFloat);
  dst.copy_(gradW.permute({2, 3, 1, 0}));
}

void setThreads(int n) { at::set_num_threads(n); }
int threads() { return at::get_num_threads(); }

void setChannelsLast(bool on) {
  gActivationFormat = on ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

const char* forwardBackendName(const ConvGeometry& g) {
  const auto p = splitPadding(g);
  auto input = at::empty({g.batch, g.inChannels, g.inHeight + p.top + p.bottom, g.inWidth + p.left + p.right},
                         at::TensorOptions().dtype(at::kFloat).memory_format(gActivationFormat));
  auto weight = at::empty({g.outChannels, g.inChannels, g.filterHeight, g.filterWidth},
                          at::TensorOptions().dtype(at::kFloat).memory_format(gActivationFormat));
  auto backend = at::native::select_conv_backend(input, weight, c10::nullopt, {g.strideHeight, g.strideWidth},
                                                 {p.symH, p.symW}, {g.dilationHeight, g.dilationWidth}, false,
                                                 {0, 0}, 1);
  switch (backend) {
    case at::native::ConvBackend::Mkldnn: return "mkldnn";
    case at::native::ConvBackend::Slow2d: return "slow2d";
    case at::native::ConvBackend::SlowDilated2d: return "slowDilated2d";
    case at::native::ConvBackend::NnpackSpatial: return "nnpack";
    case at::native::ConvBackend::Xnnpack2d: return "xnnpack";
    case at::native::ConvBackend::Empty: return "empty";
    default: return "other";
  }
}

}  // namespace psic
