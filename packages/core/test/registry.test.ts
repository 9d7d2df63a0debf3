import { describe, expect, it } from 'vitest';
import { Registry, adapters, backbones, semanticTargets } from '../src/registry.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('Registry', () => {
  it('registers, lists (sorted), checks and returns factories', () => {
    const r = new Registry<(n: number) => string>('widget');
    r.register('zeta', (n) => `z${n}`);
    r.register('alpha-1.0_b', (n) => `a${n}`);
    expect(r.list()).toEqual(['alpha-1.0_b', 'zeta']);
    expect(r.has('zeta')).toBe(true);
    expect(r.has('beta')).toBe(false);
    expect(r.get('zeta')(3)).toBe('z3');
  });

  it('an unknown name is PsicError UNKNOWN_NAME listing the known names', () => {
    const r = new Registry<() => number>('backbone');
    r.register('bmshj2018-hyperprior', () => 1);
    r.register('mbt2018-mean', () => 2);
    expect(codeOf(() => r.get('cheng2020'))).toBe('UNKNOWN_NAME');
    expect(() => r.get('cheng2020')).toThrow('unknown backbone "cheng2020"; known: bmshj2018-hyperprior, mbt2018-mean');
    expect(() => new Registry('adapter').get('x')).toThrow(/\(none registered\)/);
  });

  it('refuses duplicates unless replacing, and names that cannot go into a container', () => {
    const r = new Registry<() => number>('adapter');
    r.register('cltg', () => 1);
    expect(codeOf(() => r.register('cltg', () => 2))).toBe('DUPLICATE_NAME');
    r.register('cltg', () => 2, { replace: true });
    expect(r.get('cltg')()).toBe(2);
    for (const bad of ['', 'Upper', 'has space', 'a/b', 'x'.repeat(65)]) expect(codeOf(() => r.register(bad, () => 0))).toBe('BAD_NAME');
    expect(r.unregister('cltg')).toBe(true);
    expect(r.has('cltg')).toBe(false);
  });

  it('provides the three project registries', () => {
    expect(backbones.kind).toBe('backbone');
    expect(adapters.kind).toBe('adapter');
    expect(semanticTargets.kind).toBe('semantic target');
    expect(backbones).not.toBe(adapters);
  });
});
