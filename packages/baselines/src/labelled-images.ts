/**
 * A labelled image folder for evaluation: one sub-folder per class
 * (`DIR/<class>/*.png`), class names sorted, underscores read as spaces (the
 * layout @psic/train's PairDataset reads for training).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { listImages } from '@psic/core';
import { PsicError } from '@psic/entropy';

export interface LabelledFile {
  path: string;
  /** index into `classNames` */
  label: number;
}

export interface LabelledFolder {
  classNames: string[];
  files: LabelledFile[];
}

/** The class folders of `dir` and their images (the first `maxPerClass` by name when given). */
export async function listLabelledImages(dir: string, opts: { maxPerClass?: number } = {}): Promise<LabelledFolder> {
  const listing = await readdir(dir, { withFileTypes: true }).catch((err: Error) => {
    throw new PsicError('BAD_DATA', `cannot read data folder ${dir}: ${err.message}`);
  });
  const classes = listing.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (classes.length === 0) throw new PsicError('BAD_DATA', `${dir} has no class folders (expected ${dir}/<class>/<image>)`);
  const files: LabelledFile[] = [];
  for (let label = 0; label < classes.length; label++) {
    const images = await listImages(join(dir, classes[label]));
    for (const path of opts.maxPerClass ? images.slice(0, opts.maxPerClass) : images) files.push({ path, label });
  }
  if (files.length === 0) throw new PsicError('BAD_DATA', `no image found in the class folders of ${dir}`);
  return { classNames: classes.map((c) => c.replace(/_/g, ' ')), files };
}
