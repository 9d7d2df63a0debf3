#!/usr/bin/env node
// Finds libtorch for binding.gyp: `include` prints the include dirs (one per
// line), `libdir` the directory holding libtorch.so. Looks at $LIBTORCH
// (PyTorch's libtorch zip layout) first, then the Debian/Ubuntu packages
// (libtorch-dev: headers in /usr/include, libraries in /usr/lib/<multiarch>).
// `check` exits 1 when nothing usable is found.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function findLibtorch(env = process.env) {
  const candidates = [];
  if (env.LIBTORCH) candidates.push({ prefix: env.LIBTORCH, libdirs: [join(env.LIBTORCH, 'lib')] });
  const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  const systemLibdirs = ['/usr/lib', '/usr/lib64'];
  if (multiarch) systemLibdirs.unshift(`/usr/lib/${multiarch}`);
  candidates.push({ prefix: '/usr', libdirs: systemLibdirs });
  for (const { prefix, libdirs } of candidates) {
    const include = join(prefix, 'include');
    if (!existsSync(join(include, 'ATen', 'ATen.h'))) continue;
    const libdir = libdirs.find((d) => existsSync(join(d, 'libtorch_cpu.so')));
    if (!libdir) continue;
    return { includeDirs: [include, join(include, 'torch', 'csrc', 'api', 'include')], libdir };
  }
  return null;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const found = findLibtorch();
  const what = process.argv[2];
  if (what === 'check') process.exit(found ? 0 : 1);
  if (!found) {
    console.error('libtorch not found: install libtorch-dev or set LIBTORCH to an unpacked libtorch');
    process.exit(1);
  }
  if (what === 'include') console.log(found.includeDirs.join('\n'));
  else if (what === 'libdir') console.log(found.libdir);
  else console.log(JSON.stringify(found));
}
