import { semanticTargets, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';

/** --target-options: a JSON object for the target's factory (absent: no options). */
export function parseTargetOptions(raw: unknown): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let options: unknown;
  try {
    options = JSON.parse(String(raw));
  } catch (err) {
    throw new PsicError('USAGE', `--target-options must be JSON (${(err as Error).message})`);
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new PsicError('USAGE', '--target-options must be a JSON object');
  return options as Record<string, unknown>;
}

/** The registered semantic target `name`, built with `options`. */
export async function loadSemanticTarget(name: string, options?: Record<string, unknown>): Promise<SemanticTarget> {
  // the vision-language targets register themselves in @psic/vlp; load it only when asked for one of them
  if (!semanticTargets.has(name)) await import('@psic/vlp');
  return semanticTargets.get(name)(options);
}
