/**
 * Key files: the owner's secret, kept apart from the model and the streams.
 * A key file holds the key's bytes; one trailing newline (LF or CRLF) is not
 * part of the key, so `echo secret > f` and an editor-saved file work.
 * New key files hold 32 random bytes as hex and are created mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { PsicError } from '@psic/entropy';
import { keyBytes, MAX_KEY_BYTES } from './condition.js';

export async function readKeyFile(path: string): Promise<Uint8Array> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new PsicError('BAD_KEY', `key file ${path} is not a file`);
    size = s.size;
  } catch (err) {
    if (err instanceof PsicError) throw err;
    throw new PsicError('BAD_KEY', `cannot read key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (size > MAX_KEY_BYTES + 2) throw new PsicError('BAD_KEY', `key file ${path} is ${size} bytes; a key has at most ${MAX_KEY_BYTES}`);
  let bytes = new Uint8Array(await readFile(path));
  if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, bytes.length - 1);
  if (bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
  if (bytes.length === 0) throw new PsicError('BAD_KEY', `key file ${path} is empty`);
  return keyBytes(bytes);
}

/** Create a new key file (refuses to overwrite one); returns the key's bytes. */
export async function createKeyFile(path: string): Promise<Uint8Array> {
  const key = randomBytes(32).toString('hex');
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    throw new PsicError('BAD_KEY', `cannot create key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await handle.writeFile(`${key}\n`);
  } finally {
    await handle.close();
  }
  return new TextEncoder().encode(key);
}
