/** Thin wrapper over node:util parseArgs that turns its errors into usage errors with the command's help. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PsicError } from '@psic/entropy';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options, help: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(help);
      process.exit(0);
    }
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    throw new PsicError('USAGE', `${(err as Error).message}\n\n${help}`);
  }
}

export function intOption(values: Record<string, unknown>, name: string, fallback: number, min = 1): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new PsicError('USAGE', `--${name} must be an integer >= ${min} (got ${raw})`);
  return n;
}

export function numberOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new PsicError('USAGE', `--${name} must be a positive number (got ${raw})`);
  return n;
}

export function requirePositionals(positionals: string[], count: number, help: string): void {
  if (positionals.length !== count) throw new PsicError('USAGE', `expected ${count} argument(s), got ${positionals.length}\n\n${help}`);
}
