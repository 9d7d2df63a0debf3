// Shapes and hyper-parameters of one 2-D convolution, in tfjs terms:
// NHWC activations, [kh, kw, in, out] filters, explicit per-side padding.
#pragma once
#include <cstdint>

namespace psic {

struct ConvGeometry {
  int64_t batch, inHeight, inWidth, inChannels;
  int64_t filterHeight, filterWidth, outChannels;
  int64_t outHeight, outWidth;
  int64_t strideHeight, strideWidth;
  int64_t dilationHeight, dilationWidth;
  int64_t padTop, padBottom, padLeft, padRight;
};

// Number of int32 slots ConvGeometry occupies when passed from JS, in field order.
constexpr int kGeometrySlots = 17;

// Reads the JS Int32Array layout (same order as the struct fields).
inline ConvGeometry geometryFromSlots(const int32_t* s) {
  return ConvGeometry{s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8],
                      s[9], s[10], s[11], s[12], s[13], s[14], s[15], s[16]};
}

}  // namespace psic
