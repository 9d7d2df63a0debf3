// Why torch for these: tfjs-wasm runs element-wise ops on one thread and
// its Sum transposes the reduced axes to the end first; in the GDN and bias
// gradients these ops see the largest tensors of the step.
#include "elementwise.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace psic {
namespace {

at::Tensor view(const float* p, const Shape& shape) {
  return at::from_blob(const_cast<float*>(p), shape, at::kFloat);
}

}  // namespace

void unary(UnaryOp op, const float* xp, int64_t size, float* yp) {
  at::NoGradGuard noGrad;
  auto x = view(xp, {size});
  auto y = view(yp, {size});
  switch (op) {
    case UnaryOp::kSqrt: at::sqrt_out(y, x); break;
    case UnaryOp::kRsqrt: at::rsqrt_out(y, x); break;
    case UnaryOp::kSquare: at::mul_out(y, x, x); break;
    case UnaryOp::kNeg: at::neg_out(y, x); break;
    case UnaryOp::kExp: at::exp_out(y, x); break;
    case UnaryOp::kLog: at::log_out(y, x); break;
    case UnaryOp::kSigmoid: at::sigmoid_out(y, x); break;
    case UnaryOp::kRelu: at::clamp_min_out(y, x, 0); break;
    case UnaryOp::kAbs: at::abs_out(y, x); break;
    case UnaryOp::kReciprocal: at::reciprocal_out(y, x); break;
    case UnaryOp::kCopy: y.copy_(x); break;  // multi-threaded, unlike TypedArray.set
    default: TORCH_CHECK(false, "unknown unary op ", static_cast<int>(op));
  }
}

void binary(BinaryOp op, const float* ap, const Shape& aShape, const float* bp, const Shape& bShape, float* outp,
            const Shape& outShape) {
  at::NoGradGuard noGrad;
  auto a = view(ap, aShape);
  auto b = view(bp, bShape);
  auto out = view(outp, outShape);
  switch (op) {
    case BinaryOp::kAdd: at::add_out(out, a, b); break;
    case BinaryOp::kSub: at::sub_out(out, a, b); break;
    case BinaryOp::kMul: at::mul_out(out, a, b); break;
    case BinaryOp::kDiv: at::div_out(out, a, b); break;
    case BinaryOp::kPow:
      // A scalar exponent takes torch's pow(Tensor, Scalar) path (fast cases for ±0.5, 2, ...).
      if (b.numel() == 1 && out.sizes() == a.sizes()) at::pow_out(out, a, at::Scalar(*bp));
      else at::pow_out(out, a, b);
      break;
    case BinaryOp::kMaximum: at::maximum_out(out, a, b); break;
    case BinaryOp::kMinimum: at::minimum_out(out, a, b); break;
    case BinaryOp::kSquaredDifference: at::sub_out(out, a, b).mul_(out); break;
    default: TORCH_CHECK(false, "unknown binary op ", static_cast<int>(op));
  }
  TORCH_CHECK(out.data_ptr() == outp, "torch reallocated the output (shape mismatch)");
}

void sum(const float* xp, const Shape& xShape, const Shape& axes, float* outp) {
  at::NoGradGuard noGrad;
  auto x = view(xp, xShape);
  Shape outShape;
  for (int64_t d = 0; d < static_cast<int64_t>(xShape.size()); d++)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) outShape.push_back(xShape[d]);
  auto out = view(outp, outShape);
  at::sum_out(out, x, axes, false);
  TORCH_CHECK(out.data_ptr() == outp, "torch reallocated the sum output (shape mismatch)");
}

}  // namespace psic
