/**
 * The in-house model's data side: the tar reader (on archives built here),
 * CLIP's prompts file, the template split and the captions, and CIFAR's
 * crop / flip augmentation.
 */
import { describe, expect, it } from 'vitest';
import { PsicError } from '@psic/entropy';
import {
  CIFAR10_CLASSES,
  CIFAR10_HELD_OUT_TEMPLATES,
  ClassCaptions,
  augmentBatch,
  parsePromptSection,
  readPromptSet,
  readTarEntries,
  splitTemplates,
  type LabelledImages,
} from '../src/index.js';

/** A ustar archive of regular files, as `tar` writes them. */
function makeTar(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const f of files) {
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
    put(f.name, 0);
    put('0000644\0', 100);
    put(`${f.data.length.toString(8).padStart(11, '0')}\0`, 124);
    put('0', 156);
    put('ustar\u000000', 257);
    h.fill(0x20, 148, 156);
    const sum = h.reduce((a, b) => a + b, 0);
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, f.data, new Uint8Array((512 - (f.data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

describe('tar reader', () => {
  it('lists regular files with their bytes', () => {
    const tar = makeTar([
      { name: 'test/cat/0000.jpg', data: new Uint8Array([1, 2, 3]) },
      { name: 'test/dog/0001.jpg', data: new Uint8Array(700).fill(9) },
    ]);
    const entries = [...readTarEntries(tar)];
    expect(entries.map((e) => e.name)).toEqual(['test/cat/0000.jpg', 'test/dog/0001.jpg']);
    expect(Array.from(entries[0]!.data)).toEqual([1, 2, 3]);
    expect(entries[1]!.data.length).toBe(700);
  });

  it('refuses a damaged header or an entry running past the end', () => {
    const tar = makeTar([{ name: 'a.jpg', data: new Uint8Array(10) }]);
    const damaged = tar.slice();
    damaged[3] ^= 0xff;
    expect(() => [...readTarEntries(damaged)]).toThrow(PsicError);
    expect(() => [...readTarEntries(damaged)]).toThrow(/checksum/);
    const truncated = makeTar([{ name: 'a.jpg', data: new Uint8Array(2000) }]).subarray(0, 1024);
    expect(() => [...readTarEntries(truncated)]).toThrow(/past the end/);
  });
});

describe('CLIP prompts', () => {
  it('reads the CIFAR-10 classes (in label order) and its 18 templates from the shared prompts.md', async () => {
    const set = await readPromptSet('CIFAR10');
    expect(set.classes.map((c) => c[0])).toEqual([...CIFAR10_CLASSES]);
    expect(set.templates).toHaveLength(18);
    expect(set.templates[0]).toBe('a photo of a {}.');
    const { train, heldOut } = splitTemplates(set.templates, CIFAR10_HELD_OUT_TEMPLATES);
    expect(train).toHaveLength(12);
    expect(heldOut).toHaveLength(6);
    // the held-out wording never appears in a training template
    for (const word of ['blurry', 'good', 'big']) expect(train.some((t) => t.includes(word))).toBe(false);
  });

  it('parses nested name lists, comments and both quote styles; reports a missing section', () => {
    const md = "## Toy\n\n```bash\nclasses = [\n    ['cat', \"kitty\"],  # two names\n    'dog',\n]\n\ntemplates = [\n    'a {}.',\n]\n```\n## Next\n";
    expect(parsePromptSection(md, 'Toy')).toEqual({ classes: [['cat', 'kitty'], ['dog']], templates: ['a {}.'] });
    expect(() => parsePromptSection(md, 'Nope')).toThrow(/no section/);
    expect(() => parsePromptSection(md.replace("'a {}.'", "'a.'"), 'Toy')).toThrow(/\{\}/);
  });

  it('refuses a held-out template that is not a template, or holding out all of them', () => {
    expect(() => splitTemplates(['a {}.'], ['the {}.'])).toThrow(PsicError);
    expect(() => splitTemplates(['a {}.'], ['a {}.'])).toThrow(/nothing to train on/);
  });
});

describe('captions', () => {
  it('wrap the class name in a template and group by class', () => {
    const captions = new ClassCaptions([['cat'], ['dog', 'puppy']], ['a {}.', 'the {}!']);
    const draws = [0.7, 0.2, 0.1, 0.9];
    let i = 0;
    const rng = { next: () => draws[i++ % draws.length]! };
    expect(captions.caption(0, rng)).toEqual({ text: 'the cat!', group: 0 });
    expect(captions.caption(1, rng)).toEqual({ text: 'a puppy.', group: 1 });
    expect(captions.allCaptions()).toEqual(['a cat.', 'the cat!', 'a dog.', 'the dog!', 'a puppy.', 'the puppy!']);
    expect(() => captions.caption(2, rng)).toThrow(RangeError);
  });
});

describe('augmentation', () => {
  const side = 4;
  const pixels = Uint8Array.from({ length: side * side * 3 }, (_, i) => i * 5);
  const set: LabelledImages = { pixels, labels: new Uint8Array([0]), count: 1, side, names: ['x'] };
  const at = (img: Float32Array, y: number, x: number) => img[(y * side + x) * 3]! * 255;

  it('is the image itself without shift or flip, and mirrors it with a flip', () => {
    const none = augmentBatch(set, [0], { next: () => 0.5 }, { pad: 0 });
    expect(Array.from(none, (v) => Math.round(v * 255))).toEqual(Array.from(pixels));
    const draws = [0.5, 0.5, 0.1]; // no shift, no shift, flip
    let i = 0;
    const flipped = augmentBatch(set, [0], { next: () => draws[i++]! }, { pad: 0 });
    expect(at(flipped, 1, 0)).toBeCloseTo(pixels[(1 * side + 3) * 3]!, 3);
  });

  it('shifts with zero padding', () => {
    const draws = [0, 0.99, 0.9]; // dy = -2, dx = +2, no flip
    let i = 0;
    const shifted = augmentBatch(set, [0], { next: () => draws[i++]! }, { pad: 2 });
    expect(at(shifted, 0, 0)).toBe(0); // from row -2: padding
    expect(at(shifted, 2, 0)).toBeCloseTo(pixels[(0 * side + 2) * 3]!, 3);
  });
});
