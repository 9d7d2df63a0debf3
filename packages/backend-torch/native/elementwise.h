// Element-wise ops and sums computed by libtorch on tfjs float32 buffers.
// Outputs are written in place through at::*_out (no extra copy); shapes
// follow tfjs/numpy broadcasting, which is torch's too.
#pragma once
#include <cstdint>
#include <vector>

namespace psic {

// Keep in sync with UNARY_OPS / BINARY_OPS in src/elementwise-kernels.ts.
enum class UnaryOp { kSqrt = 0, kRsqrt, kSquare, kNeg, kExp, kLog, kSigmoid, kRelu, kAbs, kReciprocal, kCopy };
enum class BinaryOp { kAdd = 0, kSub, kMul, kDiv, kPow, kMaximum, kMinimum, kSquaredDifference };

using Shape = std::vector<int64_t>;

void unary(UnaryOp op, const float* x, int64_t size, float* y);
void binary(BinaryOp op, const float* a, const Shape& aShape, const float* b, const Shape& bShape, float* out,
            const Shape& outShape);
// out = sum of x over `axes` (tfjs Sum without keepDims: out has the other axes).
void sum(const float* x, const Shape& xShape, const Shape& axes, float* out);

}  // namespace psic
