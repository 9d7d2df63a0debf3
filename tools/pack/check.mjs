#!/usr/bin/env node
/**
 * Can every package under packages/ be published and used? For each one:
 *
 *  1. static checks of package.json against the built package: not private,
 *     a licence, `files`, top-level `types` and `main`, exact `exports` (a "."
 *     entry, a `types` condition on every entry, every target a file that
 *     exists), a README.md with a runnable example (its first ```js or ```ts
 *     block), workspace dependencies pinned to the versions in the repo;
 *  2. `npm pack` into a temporary folder, and checks of the tarball's file
 *     list (every exported / typed / main file inside; no tests, sources of
 *     scratch files; a LICENSE file, warned about when missing);
 *  3. an empty temporary project installs all tarballs offline
 *     (`npm install --offline --ignore-scripts`: @psic/* come from the
 *     tarballs, third-party packages from the local npm cache);
 *  4. each README example runs against those installed tarballs (the file
 *     sits in the project, so imports resolve there), js with node, ts
 *     through tsx, with a time limit; its working folder is the package's
 *     folder in the repo (for relative data paths), or the repository root
 *     when the README says so just above the example.
 *
 *   node tools/pack/check.mjs [--only core,entropy] [--keep] [--skip-examples] [--example-timeout 120]
 *
 * Build first (npm run build). Output: one JSON line per package, then a
 * summary line; exit status 1 when any package fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const options = parseArguments(process.argv.slice(2));
const npmEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

const allDirs = readdirSync(join(ROOT, 'packages'))
  .filter((d) => existsSync(join(ROOT, 'packages', d, 'package.json')))
  .sort();
const manifests = new Map(allDirs.map((d) => [d, JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8'))]));
// --only: those packages are reported, but their @psic dependencies are packed too so the install can work
const dirs = options.only ? withWorkspaceDeps(options.only) : allDirs;
const reported = new Set(options.only ?? allDirs);
const versions = new Map([...manifests.values()].map((m) => [m.name, m.version]));
const work = mkdtempSync(join(tmpdir(), 'psic-pack-'));
const tarballDir = join(work, 'tarballs');
mkdirSync(tarballDir);

const results = [];
for (const dir of dirs) {
  const pkg = manifests.get(dir);
  const r = { package: pkg.name ?? dir, dir: `packages/${dir}`, problems: [], warnings: [], tarball: null, installed: false, example: 'none' };
  results.push(r);
  staticChecks(dir, pkg, r);
  if (r.problems.some((p) => p.startsWith('not built'))) continue;
  try {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballDir], { cwd: join(ROOT, 'packages', dir), env: npmEnv, maxBuffer: 64 << 20 });
    const [info] = JSON.parse(stdout.slice(stdout.indexOf('[')));
    r.tarball = join(tarballDir, info.filename);
    r.tarballBytes = info.size;
    r.unpackedBytes = info.unpackedSize;
    r.files = info.files.length;
    tarballChecks(pkg, info.files.map((f) => f.path), r);
  } catch (err) {
    r.problems.push(`npm pack failed: ${tail(err.stderr ?? err.message)}`);
  }
}

// one project, every tarball: @psic/* dependencies resolve to each other's tarballs
const project = join(work, 'project');
mkdirSync(project);
// third-party versions pinned to the repo's lockfile: those are the ones in the local npm cache
writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'psic-pack-check', version: '0.0.0', private: true, type: 'module', overrides: lockedVersions() }, null, 2));
const packed = results.filter((r) => r.tarball);
let installError = null;
if (packed.length) {
  try {
    await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', ...packed.map((r) => r.tarball)], {
      cwd: project,
      env: npmEnv,
      maxBuffer: 64 << 20,
      timeout: 600_000,
    });
    for (const r of packed) r.installed = existsSync(join(project, 'node_modules', r.package, 'package.json'));
  } catch (err) {
    installError = tail(err.stderr ?? err.message, 1500);
    for (const r of packed) r.problems.push('offline install of the tarballs failed (see summary)');
  }
}

if (!options.skipExamples && !installError) {
  const tsx = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href;
  for (const r of results) {
    if (!r.installed || !r.exampleCode || !reported.has(r.dir.split('/').pop())) continue;
    const file = join(project, `example-${r.dir.split('/').pop()}.${r.exampleLang === 'ts' ? 'ts' : 'mjs'}`);
    writeFileSync(file, r.exampleCode);
    const args = r.exampleLang === 'ts' ? ['--import', tsx, file] : [file];
    const t0 = performance.now();
    try {
      await run(process.execPath, args, { cwd: r.exampleCwd, env: { ...process.env, NO_COLOR: '1' }, timeout: options.exampleTimeout * 1000, maxBuffer: 64 << 20 });
      r.example = 'ok';
    } catch (err) {
      r.example = 'failed';
      r.problems.push(`README example failed: ${tail(err.killed ? `killed after ${options.exampleTimeout} s` : (err.stderr || err.message))}`);
    }
    r.exampleSeconds = Math.round((performance.now() - t0) / 100) / 10;
  }
}

for (const r of results.filter((x) => reported.has(x.dir.split('/').pop()))) {
  delete r.exampleCode;
  delete r.exampleCwd;
  const line = { ...r, ok: r.problems.length === 0, tarball: r.tarball ? r.tarball.split('/').pop() : null };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
const failed = results.filter((r) => reported.has(r.dir.split('/').pop()) && r.problems.length > 0).map((r) => r.package);
process.stdout.write(`${JSON.stringify({ summary: true, packages: reported.size, ok: reported.size - failed.length, failed, install_error: installError, work: options.keep ? work : undefined })}\n`);
if (!options.keep) rmSync(work, { recursive: true, force: true });
process.exitCode = failed.length ? 1 : 0;

// ---------------------------------------------------------------- checks

function staticChecks(dir, pkg, r) {
  const base = join(ROOT, 'packages', dir);
  if (pkg.private) r.problems.push('"private": true (npm refuses to publish it)');
  if (!pkg.name?.startsWith('@psic/')) r.problems.push(`name ${pkg.name} is not in the @psic scope`);
  if (!pkg.version) r.problems.push('no version');
  if (!pkg.license) r.problems.push('no "license"');
  if (!Array.isArray(pkg.files) || pkg.files.length === 0) r.problems.push('no "files" list (npm would pack everything)');
  if (!pkg.types) r.problems.push('no top-level "types"');
  if (!pkg.main) r.warnings.push('no "main" (only "exports"): fine for ESM-only consumers');
  if (pkg.type !== 'module') r.warnings.push('"type" is not "module"');
  if (!pkg.repository) r.warnings.push('no "repository"');

  const targets = exportTargets(pkg.exports, r);
  r.exportTargets = targets.map((t) => t.path);
  if (!existsSync(join(base, 'dist'))) r.problems.push('not built (no dist/): run npm run build first');
  else {
    for (const t of new Set([...targets.map((x) => x.path), pkg.types, pkg.main].filter(Boolean))) {
      if (!existsSync(join(base, t))) r.problems.push(`${t} is declared but missing after the build`);
    }
  }

  const readme = join(base, 'README.md');
  if (!existsSync(readme)) r.problems.push('no README.md');
  else {
    const text = readFileSync(readme, 'utf8');
    const m = /```(js|ts|javascript|typescript)\n([\s\S]*?)```/.exec(text);
    if (!m) r.problems.push('README.md has no ```js or ```ts example to run');
    else {
      r.exampleLang = m[1].startsWith('t') ? 'ts' : 'js';
      r.exampleCode = m[2];
      // examples read data by relative paths: from the package folder, unless the README says the repository root
      r.exampleCwd = /repository root|repo root/i.test(text.slice(Math.max(0, m.index - 400), m.index)) ? ROOT : base;
    }
  }

  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
      if (!dep.startsWith('@psic/')) continue;
      const have = versions.get(dep) ?? workspaceVersion(dep);
      if (!have) r.problems.push(`${field}: ${dep} is not a package of this repo`);
      else if (range !== have && range !== `^${have}` && range !== `~${have}`) r.problems.push(`${field}: ${dep}@${range} but the repo has ${have}`);
      if (isPrivate(dep)) r.problems.push(`${field}: ${dep} is private, so this package can't be installed from npm`);
    }
  }
}

/** Every leaf of `exports` with its condition path; problems for a missing "." or a missing types condition. */
function exportTargets(exp, r) {
  if (!exp) {
    r.problems.push('no "exports"');
    return [];
  }
  if (typeof exp === 'string') return [{ path: exp, conditions: [] }];
  const entries = Object.keys(exp).some((k) => k.startsWith('.')) ? Object.entries(exp) : [['.', exp]];
  if (!entries.some(([k]) => k === '.')) r.problems.push('exports has no "." entry');
  const out = [];
  for (const [sub, value] of entries) {
    if (typeof value === 'string') {
      r.problems.push(`exports["${sub}"] has no "types" condition`);
      out.push({ path: value, conditions: [] });
      continue;
    }
    const leaves = [];
    const walk = (v, conds) => {
      if (typeof v === 'string') leaves.push({ path: v, conditions: conds });
      else if (v && typeof v === 'object') for (const [c, w] of Object.entries(v)) walk(w, [...conds, c]);
    };
    walk(value, []);
    if (!leaves.some((l) => l.conditions.includes('types'))) r.problems.push(`exports["${sub}"] has no "types" condition`);
    const keys = Object.keys(value);
    if (keys.includes('types') && keys[0] !== 'types') r.problems.push(`exports["${sub}"]: "types" must come first (TypeScript reads conditions in order)`);
    for (const l of leaves) if (!l.path.startsWith('./')) r.problems.push(`exports["${sub}"] target ${l.path} must start with ./`);
    out.push(...leaves);
  }
  return out;
}

function tarballChecks(pkg, files, r) {
  const inside = new Set(files);
  const norm = (p) => p.replace(/^\.\//, '');
  for (const p of new Set([...r.exportTargets, pkg.types, pkg.main].filter(Boolean).map(norm))) {
    if (!inside.has(p)) r.problems.push(`${p} is not in the tarball (check "files")`);
  }
  if (!inside.has('README.md')) r.problems.push('README.md is not in the tarball');
  if (!files.some((f) => /^licen[cs]e(\.md|\.txt)?$/i.test(f))) r.warnings.push('no LICENSE file in the tarball (MIT asks for the notice to travel with the code)');
  const stray = files.filter((f) => /(^|\/)(test|tests|__tests__)\//.test(f) || /\.(test|spec)\.[cm]?[jt]s$/.test(f) || /\.tmp\.|(^|\/)scratch/.test(f) || /^src\//.test(f));
  if (stray.length) r.problems.push(`tarball ships tests, sources or scratch files: ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ' ...' : ''}`);
}

/** The given package folders and, transitively, the folders of the @psic packages they depend on. */
function withWorkspaceDeps(selected) {
  const byName = new Map([...manifests].map(([d, m]) => [m.name, d]));
  const out = new Set();
  const visit = (d) => {
    if (out.has(d) || !manifests.has(d)) return;
    out.add(d);
    const m = manifests.get(d);
    for (const dep of Object.keys({ ...m.dependencies, ...m.peerDependencies, ...m.optionalDependencies })) if (byName.has(dep)) visit(byName.get(dep));
  };
  for (const d of selected) {
    if (!manifests.has(d)) throw new Error(`--only: no package folder packages/${d}`);
    visit(d);
  }
  return [...out].sort();
}

/**
 * name -> version for every third-party package the lockfile holds in exactly
 * one version outside dev dependencies (packages locked in several are left to npm).
 */
function lockedVersions() {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const seen = new Map();
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    const at = path.lastIndexOf('node_modules/');
    if (at < 0 || entry.link || !entry.version || entry.dev) continue; // dev-only packages never reach a consumer
    const name = path.slice(at + 'node_modules/'.length);
    if (name.startsWith('@psic/')) continue;
    if (!seen.has(name)) seen.set(name, new Set());
    seen.get(name).add(entry.version);
  }
  return Object.fromEntries([...seen].filter(([, v]) => v.size === 1).map(([name, v]) => [name, [...v][0]]));
}

function workspaceVersion(name) {
  for (const group of ['packages', 'apps']) {
    for (const d of existsSync(join(ROOT, group)) ? readdirSync(join(ROOT, group)) : []) {
      const file = join(ROOT, group, d, 'package.json');
      if (!existsSync(file)) continue;
      const m = JSON.parse(readFileSync(file, 'utf8'));
      if (m.name === name) return m.version;
    }
  }
  return undefined;
}

function isPrivate(name) {
  for (const m of manifests.values()) if (m.name === name) return m.private === true;
  return false;
}

function tail(text, n = 600) {
  const t = String(text).trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

function parseArguments(argv) {
  const opts = { only: undefined, keep: false, skipExamples: false, exampleTimeout: 120 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') opts.only = argv[++i].split(',');
    else if (a === '--keep') opts.keep = true;
    else if (a === '--skip-examples') opts.skipExamples = true;
    else if (a === '--example-timeout') opts.exampleTimeout = Number(argv[++i]);
    else throw new Error(`unknown option ${a}; see the comment at the top of tools/pack/check.mjs`);
  }
  return opts;
}
