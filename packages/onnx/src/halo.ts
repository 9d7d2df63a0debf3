/**
 * How far a transform reaches: the halo (in latents) a tile needs so that
 * its kept part is computed exactly as in the whole image. Walks the same
 * layer objects as the exporter; a layer whose reach is unknown (a custom
 * one) makes the answer undefined and the caller falls back to a wide halo.
 *
 * Conv (k, s, p): out[o] reads in[s·o − p .. s·o − p + k − 1], i.e. up to
 * max(p, k − 1 − p) input pixels from s·o. ConvTranspose (k, s, p):
 * out[o] reads in[j] for s·j − p + t = o, 0 <= t < k, i.e. up to
 * max(p, k − 1 − p) / s input pixels from o / s. Point-wise layers (GDN,
 * activations) reach nothing.
 */
import { Conv2d, ConvTranspose2d, GDN, LeakyReLU, ReLU, Sequential, type Module } from '@psic/core';

type Layer = { kind: 'conv' | 'deconv'; reach: number; stride: number } | { kind: 'pointwise' };

function flatten(module: Module): Layer[] | undefined {
  if (module instanceof Sequential) {
    const out: Layer[] = [];
    for (const l of module.layers) {
      const f = flatten(l);
      if (!f) return undefined;
      out.push(...f);
    }
    return out;
  }
  if (module instanceof Conv2d || module instanceof ConvTranspose2d) {
    const reach = Math.max(module.padding, module.kernel - 1 - module.padding);
    return [{ kind: module instanceof Conv2d ? 'conv' : 'deconv', reach, stride: module.stride }];
  }
  if (module instanceof GDN || module instanceof ReLU || module instanceof LeakyReLU) return [{ kind: 'pointwise' }];
  return undefined;
}

/**
 * Reach of `modules` in pixels of their input, and the scale of their output
 * (output pixels per input pixel).
 */
function reachOf(modules: Module[]): { reach: number; scale: number } | undefined {
  let reach = 0;
  let scale = 1; // output pixels of the layers so far per input pixel
  for (const m of modules) {
    const layers = flatten(m);
    if (!layers) return undefined;
    for (const l of layers) {
      if (l.kind === 'pointwise') continue;
      if (l.kind === 'conv') {
        reach += l.reach / scale;
        scale /= l.stride;
      } else {
        reach += l.reach / l.stride / scale;
        scale *= l.stride;
      }
    }
  }
  return { reach, scale };
}

/** Halo in latents for an analysis (image -> latents at `unit` pixels each). */
export function analysisHalo(module: Module, unit: number): number | undefined {
  const r = reachOf([module]);
  return r && Math.ceil(r.reach / unit - 1e-9);
}

/** Halo in latents for a synthesis (latents -> image). */
export function synthesisHalo(blocks: Module[]): number | undefined {
  const r = reachOf(blocks);
  return r && Math.ceil(r.reach - 1e-9);
}
