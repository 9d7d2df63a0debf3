/**
 * Running the project's CLI (apps/cli/dist/cli.js) as child processes: an
 * evaluation with --json (its stdout parsed as one JSON object) or a
 * training run (its output passed through to stderr), each timed in wall
 * seconds and in CPU seconds. The CPU time bounds the wall time an idle
 * machine needs, so it stays meaningful when other jobs share the CPU and
 * inflate the wall time.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PsicError } from '@psic/entropy';

/** Linux reports child CPU time in clock ticks of USER_HZ, which is 100 on every architecture Node supports. */
const TICKS_PER_SECOND = 100;

export function cliPath(root) {
  return join(root, 'apps', 'cli', 'dist', 'cli.js');
}

export function requireBuiltCli(root) {
  const path = cliPath(root);
  if (!existsSync(path)) throw new PsicError('NOT_BUILT', `${path} is missing: build the packages first (npm run build), or use npm run experiments`);
  return path;
}

/** CPU seconds of this process's finished (waited-for) children so far, or null where /proc is not there. */
function childrenCpuSeconds() {
  try {
    // fields after "(comm)": state is field 3; cutime and cstime are fields 16 and 17
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** A command line as one would type it (for reports and --dry-run): arguments with spaces or quotes are single-quoted. */
export function shellLine(words) {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function run(root, args, stdio, onStdout) {
  const cpuBefore = childrenCpuSeconds();
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath(root), ...args], { cwd: root, stdio, env: { ...process.env, FORCE_COLOR: '0' } });
    let stderrTail = '';
    child.stdout?.on('data', onStdout);
    child.stderr?.on('data', (chunk) => {
      stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpuAfter = childrenCpuSeconds();
      const cpuSeconds = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
      resolvePromise({ code, signal, wallSeconds, cpuSeconds, stderrTail });
    });
  });
}

/** `psic <args> --json`: the parsed JSON object, with wall / CPU seconds; a failure is a PsicError carrying the end of the child's stderr. */
export async function runCliJson(root, args) {
  const chunks = [];
  const r = await run(root, [...args, '--json'], ['ignore', 'pipe', 'pipe'], (c) => chunks.push(c));
  const stdout = Buffer.concat(chunks).toString('utf8');
  if (r.code !== 0) throw new PsicError('STEP_FAILED', `psic ${args[0]} exited with ${r.code ?? r.signal}: ${lastLines(r.stderrTail, 6)}`);
  let json;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new PsicError('STEP_FAILED', `psic ${args[0]} printed no JSON object (stdout starts ${JSON.stringify(stdout.slice(0, 120))})`);
  }
  return { json, wallSeconds: r.wallSeconds, cpuSeconds: r.cpuSeconds };
}

/** `psic <args>` with its output shown on stderr (training progress), timed. */
export async function runCliPassthrough(root, args) {
  const r = await run(root, args, ['ignore', 2, 2], () => {});
  if (r.code !== 0) throw new PsicError('STEP_FAILED', `psic ${args.slice(0, 2).join(' ')} exited with ${r.code ?? r.signal} (its output is above)`);
  return { wallSeconds: r.wallSeconds, cpuSeconds: r.cpuSeconds };
}

function lastLines(text, n) {
  return text.trim().split('\n').slice(-n).join(' | ') || '(no output on stderr)';
}
