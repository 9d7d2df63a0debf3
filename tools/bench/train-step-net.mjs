/**
 * A Ballé-2018 scale-hyperprior-shaped training step in raw tfjs ops, for
 * timing backends (not a faithful codec: the entropy terms are cheap
 * logistic stand-ins). Shapes and op mix follow CompressAI's
 * bmshj2018-hyperprior: convs with bias through tf.fused.conv2d (as
 * @psic/core's layers do), GDN as x / sqrt(beta + conv1x1(x², gamma)),
 * transposed convs as tf.conv2dTranspose + bias, PyTorch padding (k // 2).
 * The same graph is written in PyTorch in
 * packages/backend-torch/bench/train_step_reference.py.
 */
import * as tf from '@tensorflow/tfjs-core';

/** PyTorch-default-like init: uniform ±1/sqrt(fan_in). */
function uniform(shape, fanIn, seed) {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.variable(tf.randomUniform(shape, -bound, bound, 'float32', seed));
}

function conv(cin, cout, k, seed) {
  return { filter: uniform([k, k, cin, cout], cin * k * k, seed), bias: uniform([cout], cin * k * k, seed + 1), k };
}

/** Transposed conv: tfjs filter [k, k, out, in]. */
function deconv(cin, cout, k, seed) {
  return { filter: uniform([k, k, cout, cin], cout * k * k, seed), bias: uniform([cout], cout * k * k, seed + 1), k, cout };
}

/** GDN parameters, reparametrised as squares so gamma, beta stay non-negative. */
function gdn(c) {
  const gamma = tf.tidy(() => tf.sqrt(tf.add(tf.mul(tf.eye(c), 0.1), 1e-6 ** 2)).reshape([1, 1, c, c]));
  return { beta: tf.variable(tf.ones([c])), gamma: tf.variable(gamma) };
}

export function buildNetwork({ N, M, seed = 1 }) {
  let s = seed * 100;
  const next = () => (s += 2);
  return {
    gA: [conv(3, N, 5, next()), conv(N, N, 5, next()), conv(N, N, 5, next()), conv(N, M, 5, next())],
    gdnA: [gdn(N), gdn(N), gdn(N)],
    hA: [conv(M, N, 3, next()), conv(N, N, 5, next()), conv(N, N, 5, next())],
    hS: [deconv(N, N, 5, next()), deconv(N, N, 5, next()), conv(N, M, 3, next())],
    gS: [deconv(M, N, 5, next()), deconv(N, N, 5, next()), deconv(N, N, 5, next()), deconv(N, 3, 5, next())],
    gdnS: [gdn(N), gdn(N), gdn(N)],
    zLogScale: tf.variable(tf.zeros([N])),
  };
}

export function trainableVariables(net) {
  const out = [];
  const walk = (v) => {
    if (v instanceof tf.Variable) out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(net);
  return out;
}

function applyConv(x, { filter, bias, k }, stride, activation = 'linear') {
  return tf.fused.conv2d({ x, filter, bias, strides: stride, pad: Math.floor(k / 2), activation });
}

/** PyTorch ConvTranspose2d(k, stride 2, padding k // 2, output_padding 1): output = 2 × input. */
function applyDeconv(x, { filter, bias, k, cout }, stride) {
  const [n, h, w] = x.shape;
  const y = tf.conv2dTranspose(x, filter, [n, h * stride, w * stride, cout], stride, Math.floor(k / 2));
  return tf.add(y, bias);
}

function applyGdn(x, { beta, gamma }, inverse) {
  const norm = tf.fused.conv2d({ x: tf.square(x), filter: tf.square(gamma), bias: tf.square(beta), strides: 1, pad: 'valid' });
  return tf.mul(x, inverse ? tf.sqrt(norm) : tf.rsqrt(norm));
}

/** -log2 of the mass a logistic(scale) puts on [v - 0.5, v + 0.5], summed. */
function logisticBits(v, invScale) {
  const upper = tf.sigmoid(tf.mul(tf.add(v, 0.5), invScale));
  const lower = tf.sigmoid(tf.mul(tf.sub(v, 0.5), invScale));
  const p = tf.maximum(tf.sub(upper, lower), 1e-9);
  return tf.div(tf.sum(tf.neg(tf.log(p))), Math.LN2);
}

function addNoise(t) {
  return tf.add(t, tf.randomUniform(t.shape, -0.5, 0.5));
}

/** λ·255²·MSE + bits per pixel; x in [0, 1], NHWC. */
export function loss(net, x, lambda = 0.01) {
  const [n, h, w] = x.shape;
  let y = x;
  net.gA.forEach((layer, i) => {
    y = applyConv(y, layer, 2);
    if (i < 3) y = applyGdn(y, net.gdnA[i], false);
  });
  let z = applyConv(tf.abs(y), net.hA[0], 1, 'relu');
  z = applyConv(z, net.hA[1], 2, 'relu');
  z = applyConv(z, net.hA[2], 2);
  const zTilde = addNoise(z);
  let hyper = tf.relu(applyDeconv(zTilde, net.hS[0], 2));
  hyper = tf.relu(applyDeconv(hyper, net.hS[1], 2));
  const scales = tf.maximum(applyConv(hyper, net.hS[2], 1, 'relu'), 0.11);
  const yTilde = addNoise(y);
  let xHat = yTilde;
  net.gS.forEach((layer, i) => {
    xHat = applyDeconv(xHat, layer, 2);
    if (i < 3) xHat = applyGdn(xHat, net.gdnS[i], true);
  });
  const bits = tf.add(logisticBits(yTilde, tf.reciprocal(scales)), logisticBits(zTilde, tf.exp(net.zLogScale)));
  const bpp = tf.div(bits, n * h * w);
  const mse = tf.mean(tf.square(tf.sub(xHat, x)));
  return tf.add(tf.mul(mse, lambda * 255 ** 2), bpp);
}
