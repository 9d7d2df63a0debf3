/**
 * A built-in test picture, generated rather than shipped: sky gradient, sun,
 * layered hills with grass texture, a house with hard edges and a fence, so
 * the demo exercises smooth regions, edges and texture without any download.
 * Deterministic: the same pixels on every machine.
 */
import type { RgbImage } from '@psic/core';

export function demoImage(width = 768, height = 512): RgbImage {
  const data = new Float32Array(width * height * 3);
  let seed = 12345;
  const noise = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      // sky: blue to pale towards the horizon
      let r = 0.35 + 0.45 * v;
      let g = 0.55 + 0.35 * v;
      let b = 0.9 - 0.1 * v;
      const sun = Math.hypot(u - 0.78, v - 0.2);
      if (sun < 0.07) [r, g, b] = [1, 0.95, 0.7];
      else if (sun < 0.12) {
        const t = (0.12 - sun) / 0.05;
        r += 0.4 * t;
        g += 0.3 * t;
      }
      const far = 0.55 + 0.06 * Math.sin(u * 9) + 0.03 * Math.sin(u * 23 + 1);
      const near = 0.68 + 0.05 * Math.sin(u * 5 + 2) + 0.02 * Math.sin(u * 41);
      if (v > far) [r, g, b] = [0.3, 0.45 + 0.1 * Math.sin(u * 30), 0.35];
      if (v > near) {
        const grass = 0.08 * Math.sin(x * 0.9 + Math.sin(y * 0.3) * 3) + 0.06 * noise();
        [r, g, b] = [0.25 + grass, 0.55 + 0.2 * (v - near) + grass, 0.2 + grass / 2];
      }
      // house: wall, roof, window, door
      const hx = u - 0.25;
      if (hx > 0 && hx < 0.2 && v > 0.5 && v < 0.78) [r, g, b] = [0.85, 0.8, 0.7];
      if (v > 0.38 && v <= 0.5 && Math.abs(hx - 0.1) < (v - 0.38) * 1.0) [r, g, b] = [0.6, 0.2, 0.15];
      if (hx > 0.03 && hx < 0.08 && v > 0.56 && v < 0.64) [r, g, b] = [0.2, 0.3, 0.45];
      if (hx > 0.12 && hx < 0.16 && v > 0.64 && v < 0.78) [r, g, b] = [0.4, 0.25, 0.15];
      // fence posts
      if (v > 0.74 && v < 0.84 && x % 24 < 4 && u > 0.5) [r, g, b] = [0.5, 0.4, 0.3];
      if ((Math.abs(v - 0.77) < 0.005 || Math.abs(v - 0.81) < 0.005) && u > 0.5) [r, g, b] = [0.5, 0.4, 0.3];
      const o = (y * width + x) * 3;
      data[o] = clamp(r);
      data[o + 1] = clamp(g);
      data[o + 2] = clamp(b);
    }
  }
  return { height, width, data };
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
