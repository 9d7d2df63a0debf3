/**
 * Named decoding modes of a conditional model. One mode is the default (what
 * a decoder gives without being asked: PSIC's `protected`, UG-ICM's `human`);
 * a mode may require a key (PSIC's `full`). Any number of modes is allowed, so
 * one model can carry PSIC's and UG-ICM's modes together.
 */
import { PsicError } from '@psic/entropy';

export interface ModeSpec {
  /** [a-z][a-z0-9_-]{0,31}; written in the model's sidecar and given to `--mode` */
  name: string;
  /** the decoder uses this mode when none is asked for; exactly one mode has it */
  default?: boolean;
  /** the condition comes from the owner's key through the KDF (a wrong key gives the default mode) */
  keyed?: boolean;
}

/** What the caller asks a decode for. `key` only for keyed modes (UTF-8 string or raw bytes). */
export interface Condition {
  mode: string;
  key?: string | Uint8Array;
}

/** PSIC (ICML 2025): protected by default, full with the owner's key. */
export const PSIC_MODES: readonly ModeSpec[] = Object.freeze([
  { name: 'protected', default: true },
  { name: 'full', keyed: true },
]);

/** UG-ICM (AAAI 2025): a human (pixel fidelity) decode by default, a machine (semantics) decode on request. */
export const UGICM_MODES: readonly ModeSpec[] = Object.freeze([{ name: 'human', default: true }, { name: 'machine' }]);

const MODE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** Check a mode list (from code or from a sidecar) and return a normalised copy. */
export function validateModes(modes: unknown): ModeSpec[] {
  if (!Array.isArray(modes) || modes.length < 2 || modes.length > 16) {
    throw new PsicError('BAD_MODES', 'a conditional model needs 2 to 16 modes');
  }
  const out: ModeSpec[] = [];
  const seen = new Set<string>();
  for (const m of modes) {
    if (typeof m !== 'object' || m === null || typeof (m as ModeSpec).name !== 'string' || !MODE_NAME.test((m as ModeSpec).name)) {
      throw new PsicError('BAD_MODES', `mode ${JSON.stringify(m)} needs a name of [a-z][a-z0-9_-], at most 32 characters`);
    }
    const { name, default: isDefault, keyed } = m as ModeSpec;
    if (seen.has(name)) throw new PsicError('BAD_MODES', `mode "${name}" is listed twice`);
    seen.add(name);
    if (isDefault && keyed) throw new PsicError('BAD_MODES', `mode "${name}" cannot be both the default and keyed: decoding without a key must work`);
    out.push({ name, ...(isDefault ? { default: true } : {}), ...(keyed ? { keyed: true } : {}) });
  }
  const defaults = out.filter((m) => m.default);
  if (defaults.length !== 1) throw new PsicError('BAD_MODES', `exactly one mode must be the default (got ${defaults.length})`);
  return out;
}

export function defaultMode(modes: readonly ModeSpec[]): ModeSpec {
  return modes.find((m) => m.default)!;
}

export function findMode(modes: readonly ModeSpec[], name: string): ModeSpec {
  const mode = modes.find((m) => m.name === name);
  if (!mode) throw new PsicError('UNKNOWN_MODE', `this model has no mode "${name}"; its modes: ${modes.map((m) => m.name).join(', ')}`);
  return mode;
}
