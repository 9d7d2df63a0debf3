import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { selectBackend } from '../src/backend.js';
import { Conv2d, ConvTranspose2d, GDN, Sequential } from '../src/layers.js';

for (const backend of ['wasm', 'cpu'] as const) {
  it(`bench ${backend}`, async () => {
    await selectBackend(backend, { log: () => {} });
    const N = Number(process.env.BN ?? 64), M = Number(process.env.BM ?? 96), B = Number(process.env.BB ?? 2), S = Number(process.env.BS ?? 128);
    const net = new Sequential('g', [
      new Conv2d(3, N, 5, 2), new GDN(N), new Conv2d(N, N, 5, 2), new GDN(N), new Conv2d(N, N, 5, 2), new GDN(N), new Conv2d(N, M, 5, 2),
      new ConvTranspose2d(M, N, 5, 2), new GDN(N, { inverse: true }), new ConvTranspose2d(N, N, 5, 2), new GDN(N, { inverse: true }), new ConvTranspose2d(N, N, 5, 2), new GDN(N, { inverse: true }), new ConvTranspose2d(N, 3, 5, 2),
    ]);
    const x = tf.randomUniform([B, S, S, 3]) as tf.Tensor4D;
    const step = () => { const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(net.apply(x), x))) as tf.Scalar); value.dataSync(); tf.dispose(value); tf.dispose(grads); };
    const fwd = () => tf.tidy(() => net.apply(x)).dataSync();
    step(); fwd();
    let t0 = performance.now(); for (let i = 0; i < 2; i++) fwd(); const tf_ = (performance.now() - t0) / 2;
    t0 = performance.now(); for (let i = 0; i < 2; i++) step(); const ts = (performance.now() - t0) / 2;
    // profile kernels of one step
    const prof = await tf.profile(() => { step(); });
    const byKernel = new Map<string, number>();
    for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' ');
    console.log(`[${backend}] N=${N} M=${M} batch ${B}x${S}^2: forward ${tf_.toFixed(0)} ms, fwd+bwd ${ts.toFixed(0)} ms | ${top}`);
  }, 600_000);
}
