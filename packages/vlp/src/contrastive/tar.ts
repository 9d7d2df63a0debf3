/**
 * A reader for plain (uncompressed) POSIX ustar / GNU tar archives held in
 * memory: regular files only, names joined from the ustar prefix. Enough for
 * the shared data archives; every header is checked before its data is used.
 */
import { PsicError } from '@psic/entropy';

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;

export function* readTarEntries(archive: Uint8Array, what = 'tar archive'): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return; // end-of-archive marker
    if (!checksumOk(header)) throw new PsicError('BAD_DATA', `${what}: bad header checksum at byte ${offset}`);
    const size = octal(header, 124, 12, what, offset);
    const type = String.fromCharCode(header[156]!);
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) throw new PsicError('BAD_DATA', `${what}: entry at byte ${offset} runs past the end`);
    const data = archive.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = text(data, 0, data.length); // GNU long name for the next entry
      continue;
    }
    if (type !== '0' && type !== '\0') {
      longName = undefined;
      continue; // directories, links, pax headers
    }
    const magic = text(header, 257, 5);
    const prefix = magic === 'ustar' ? text(header, 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = undefined;
    yield { name, data };
  }
}

function text(bytes: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && end < bytes.length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(start, end));
}

function octal(bytes: Uint8Array, start: number, length: number, what: string, at: number): number {
  const s = text(bytes, start, length).trim();
  if (!/^[0-7]+$/.test(s)) throw new PsicError('BAD_DATA', `${what}: bad size field at byte ${at}`);
  return parseInt(s, 8);
}

/** Header checksum: sum of all bytes with the checksum field read as spaces. */
function checksumOk(header: Uint8Array): boolean {
  const stored = text(header, 148, 8).trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === parseInt(stored, 8);
}
