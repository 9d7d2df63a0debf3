/**
 * Shared test plumbing: paths, hostile inputs, tools the tests need from the
 * system (redis-server, chromium): missing in CI (CI=true) fails the suite
 * with the apt command to run; missing locally skips with a printed reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { crc32 } from '@psic/entropy';

export const SERVER_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const REPO_ROOT = resolve(SERVER_ROOT, '../..');
export const SHARED = resolve(REPO_ROOT, '../shared');
export const KODAK = join(SHARED, 'data/photos');
export const PLUGINS = fileURLToPath(new URL('./fixtures/plugins.ts', import.meta.url));

/** Full path of an executable on PATH (or an absolute path that exists), else undefined. */
export function findExecutable(name: string): string | undefined {
  const candidates = name.startsWith('/') ? [name] : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * The executable, or: in CI an error (the suite fails, saying what to install),
 * locally undefined after printing why the suite is skipped.
 */
export function requireTool(name: string, aptPackage: string, suite: string): string | undefined {
  const found = findExecutable(name);
  if (found) return found;
  const message = `${suite}: ${name} not found; install it with: apt-get install -y ${aptPackage}`;
  if (process.env.CI) throw new Error(message);
  console.warn(`SKIPPED (not in CI): ${message}`);
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/** A PNG whose IHDR claims width x height but whose pixel data is a few bytes: a hostile header. */
export function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Uint8Array.from([...[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], ...chunk('IHDR', ihdr), ...chunk('IDAT', deflateSync(new Uint8Array(64))), ...chunk('IEND', new Uint8Array(0))]);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  const typed = new Uint8Array(4 + data.length);
  typed.set(new TextEncoder().encode(type), 0);
  typed.set(data, 4);
  out.set(typed, 4);
  dv.setUint32(8 + data.length, crc32(typed));
  return out;
}

export interface RedisHandle {
  url: string;
  stop(): Promise<void>;
}

/** REDIS_URL when CI started one, else a private redis-server on a free port (no persistence). */
export async function startRedis(bin: string): Promise<RedisHandle> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForLine(child, /Ready to accept connections/, 10_000, 'redis-server');
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

/** Resolves with the first stdout line matching `pattern`; rejects if the process exits or time runs out. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`${what} did not print ${pattern} within ${timeoutMs} ms; output:\n${seen}`)), timeoutMs);
    const onData = (buf: Buffer) => {
      seen += buf.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line) done(undefined, line);
    };
    const onExit = (code: number | null) => done(new Error(`${what} exited (${code}) before printing ${pattern}; output:\n${seen}`));
    const done = (err?: Error, line?: string) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolveLine(line!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill(signal);
  });
}

/** `node --import tsx <file>`: run a TypeScript entry from source, as the tests do for the worker and the CLI. */
export function tsNodeArgs(file: string, ...args: string[]): string[] {
  return ['--import', 'tsx', file, ...args];
}

export function assertKodak(): void {
  if (!existsSync(join(KODAK, 'kodim01.png'))) throw new Error(`Kodak images missing at ${KODAK} (see ../shared/data/photos/README.md)`);
}
