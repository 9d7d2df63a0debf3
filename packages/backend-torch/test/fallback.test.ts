/**
 * Without a usable addon the package must leave tfjs alone: enableTorchKernels
 * returns false after one log line, and never throws. Each case loads a
 * fresh copy of the module, since the load result is cached per module.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it, vi } from 'vitest';

async function freshModule() {
  vi.resetModules();
  return import('../src/index.js');
}

describe('fallback without the addon', () => {
  afterEach(() => {
    delete process.env.PSIC_TORCH_ADDON;
    delete process.env.PSIC_TORCH;
  });

  it('returns false and logs one line when the binary is absent', async () => {
    process.env.PSIC_TORCH_ADDON = join(tmpdir(), 'no-such-dir', 'psic_torch.node');
    const { enableTorchKernels, torchKernelsStatus } = await freshModule();
    const before = tf.getKernel('Conv2D', 'cpu');
    const lines: string[] = [];
    expect(enableTorchKernels({ log: (l) => lines.push(l) })).toBe(false);
    expect(enableTorchKernels({ log: (l) => lines.push(l) })).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/torch kernels off: addon not built/);
    expect(tf.getKernel('Conv2D', 'cpu')).toBe(before);
    expect(torchKernelsStatus()).toMatchObject({ enabled: false, overrides: [] });
  });

  it('returns false when the binary cannot be loaded (e.g. libtorch missing)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psic-torch-'));
    process.env.PSIC_TORCH_ADDON = join(dir, 'psic_torch.node');
    writeFileSync(process.env.PSIC_TORCH_ADDON, 'not an ELF file');
    const { enableTorchKernels, torchKernelsStatus } = await freshModule();
    const lines: string[] = [];
    expect(enableTorchKernels({ log: (l) => lines.push(l) })).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/torch kernels off: addon failed to load/)]);
    expect(torchKernelsStatus().reason).toMatch(/failed to load/);
  });

  it('can be switched off with PSIC_TORCH=0', async () => {
    process.env.PSIC_TORCH = '0';
    const { enableTorchKernels } = await freshModule();
    const lines: string[] = [];
    expect(enableTorchKernels({ log: (l) => lines.push(l) })).toBe(false);
    expect(lines[0]).toMatch(/disabled by PSIC_TORCH=0/);
  });
});
