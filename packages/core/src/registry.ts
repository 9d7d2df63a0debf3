/**
 * Named factories for the pluggable parts: backbones, synthesis adapters and
 * semantic targets. Packages register themselves; the CLI, the server and
 * the container look parts up by the name written in a file or a flag.
 */
import { PsicError } from '@psic/entropy';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { BackboneConfig, LicBackbone } from './backbone.js';

/** Names go into .psic containers and file names: ASCII [a-z0-9._-], 1..64 characters. */
const NAME_PATTERN = /^[a-z0-9._-]{1,64}$/;

export class Registry<F> {
  private readonly entries = new Map<string, F>();

  /** `kind` names what is registered, for messages ("unknown backbone ..."). */
  constructor(readonly kind: string) {}

  register(name: string, factory: F, opts: { replace?: boolean } = {}): void {
    if (!NAME_PATTERN.test(name)) {
      throw new PsicError('BAD_NAME', `${this.kind} name ${JSON.stringify(name)} must be 1-64 characters of [a-z0-9._-]`);
    }
    if (this.entries.has(name) && !opts.replace) {
      throw new PsicError('DUPLICATE_NAME', `${this.kind} "${name}" is already registered`);
    }
    this.entries.set(name, factory);
  }

  /** The factory registered under `name`; PsicError('UNKNOWN_NAME') listing the known names otherwise. */
  get(name: string): F {
    const factory = this.entries.get(name);
    if (factory === undefined) {
      const known = this.list();
      throw new PsicError('UNKNOWN_NAME', `unknown ${this.kind} "${name}"; known: ${known.length ? known.join(', ') : '(none registered)'}`);
    }
    return factory;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Registered names, sorted. */
  list(): string[] {
    return [...this.entries.keys()].sort();
  }

  unregister(name: string): boolean {
    return this.entries.delete(name);
  }
}

/**
 * What @psic/vlp implements (DESIGN.md): a model whose image and text
 * embeddings the PSIC attack and the UG-ICM supervision work against.
 * Defined here so the registry below can be typed without a dependency cycle.
 */
export interface SemanticTarget {
  readonly name: string;
  /** Differentiable; x NHWC in [0, 1], any size. */
  embedImages(x: Tensor4D): Tensor2D;
  /** Texts, class names or attribute prompts. */
  embedCandidates(items: string[]): Tensor2D;
  readonly logitScale: number;
}

export type BackboneFactory = (config: BackboneConfig) => LicBackbone;
/** An adapter wraps any backbone; its type lives in the adapter's package (e.g. @psic/cltg). */
export type AdapterFactory = (backbone: LicBackbone, options?: Record<string, unknown>) => unknown;
export type SemanticTargetFactory = (options?: Record<string, unknown>) => SemanticTarget | Promise<SemanticTarget>;

export const backbones = new Registry<BackboneFactory>('backbone');
export const adapters = new Registry<AdapterFactory>('adapter');
export const semanticTargets = new Registry<SemanticTargetFactory>('semantic target');
