/**
 * CIFAR-10 test images as class folders, for `psic bavaft eval` (which reads
 * DIR/<class>/*): the same images `psic eval-privacy --per-class N` takes from
 * the archive, upscaled to 64x64 by the same rule (@psic/eval's
 * upscaleToMinSide), written as lossless PNG, so BAvAFT and PSIC are measured
 * on the same pictures. Also the prompt templates eval-privacy uses, as a
 * file for bavaft eval's --templates. Written to a fresh temporary folder
 * per run (nothing is reused between runs).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { encodePng } from '@psic/core';
import { loadCifarArchive, loadTemplates } from '@psic/eval';

export async function writeCifarTestFolders(archive, perClass) {
  const dir = await mkdtemp(join(tmpdir(), 'psic-experiments-cifar-'));
  try {
    const set = await loadCifarArchive(archive, { perClass, split: 'test' });
    for (const sample of set.samples) {
      const cls = set.classes[sample.label][0];
      await mkdir(join(dir, 'images', cls), { recursive: true });
      await writeFile(join(dir, 'images', cls, basename(sample.name).replace(/\.jpe?g$/i, '.png')), await encodePng(await sample.load()));
    }
    const templates = join(dir, 'templates.json');
    await writeFile(templates, JSON.stringify(await loadTemplates('cifar10')));
    return { images: join(dir, 'images'), templates, count: set.samples.length, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
