#!/usr/bin/env node
// Builds native/build/Release/psic_torch.node with node-gyp against libtorch
// (native/binding.gyp; not at the package root, so npm install doesn't build it).
// Offline-friendly: uses the Node headers installed next to the running node
// (e.g. Debian's /usr/include/node) instead of downloading them.
// --optional: exit 0 with one line when libtorch or a compiler is missing,
// so an install step never fails because of this optional addon.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibtorch } from './libtorch-paths.mjs';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const optional = process.argv.includes('--optional');

function giveUp(message) {
  console.log(`@psic/backend-torch: native addon not built: ${message}`);
  process.exit(optional ? 0 : 1);
}

function nodeGypCommand() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  // npm bundles node-gyp; find it next to the running node.
  for (const prefix of [resolve(dirname(process.execPath), '..', 'lib'), resolve(dirname(process.execPath), '..')]) {
    const script = join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(script)) return [process.execPath, script];
  }
  return ['node-gyp'];
}

function localNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

const libtorch = findLibtorch();
if (!libtorch) giveUp('libtorch not found (apt-get install libtorch-dev, or set LIBTORCH)');

const [cmd, ...pre] = nodeGypCommand();
const args = [...pre, 'rebuild', `--jobs=${process.env.JOBS ?? 'max'}`];
const nodedir = process.env.npm_config_nodedir ?? localNodeDir();
if (nodedir) args.push(`--nodedir=${nodedir}`);

const started = Date.now();
const result = spawnSync(cmd, args, { cwd: join(packageDir, 'native'), stdio: 'inherit' });
if (result.error) giveUp(`could not run node-gyp (${result.error.message})`);
if (result.status !== 0) giveUp(`node-gyp exited with ${result.status}`);
console.log(`@psic/backend-torch: built in ${((Date.now() - started) / 1000).toFixed(1)} s against ${libtorch.libdir}`);
