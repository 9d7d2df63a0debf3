import { appendFileSync } from 'node:fs';

/** Append one JSON object per line; appendFileSync so a crash right after a step still leaves the line on disk. */
export function appendJsonl(path: string, record: Record<string, unknown>): void {
  appendFileSync(path, `${JSON.stringify(record)}\n`);
}
