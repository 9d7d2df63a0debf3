// Convolution kernels computed by libtorch on tfjs-layout buffers.
// Every function reads and writes caller-owned float32 memory; nothing is
// retained after it returns.
#pragma once
#include "conv_geometry.h"

namespace psic {

enum class Activation { kLinear = 0, kRelu = 1 };

// y[N,oH,oW,Co] = act(conv(x[N,H,W,Ci], w[kh,kw,Ci,Co]) + bias)   (bias may be null)
void conv2dForward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                   Activation act, float* y);

// dx[N,H,W,Ci] = gradient of conv2d w.r.t. its input, given dy[N,oH,oW,Co] (tfjs conv2dTranspose).
void conv2dBackpropInput(const ConvGeometry& g, const float* dy, const float* w, float* dx);

// dw[kh,kw,Ci,Co] = gradient of conv2d w.r.t. its filter, given x and dy.
void conv2dBackpropFilter(const ConvGeometry& g, const float* x, const float* dy, float* dw);

void setThreads(int n);
// true: hand activations to torch as channels_last views (default); false: NCHW copies.
void setChannelsLast(bool on);
int threads();
// Name of the ATen backend a forward conv with this geometry would use (diagnostics).
const char* forwardBackendName(const ConvGeometry& g);

}  // namespace psic
