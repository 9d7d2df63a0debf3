import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClipTokenizer, cleanText } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = path.resolve(repoRoot, '../shared');
const vocabPath = path.join(shared, 'data/clip/bpe_simple_vocab_16e6.txt.gz');

interface GoldenText {
  name: string;
  text: string;
  cleaned: string;
  encode: number[];
  decode: string;
  tokenize_truncate: number[];
  tokenize_raises_without_truncate: boolean;
  eot_index: number;
}
const golden = JSON.parse(readFileSync(path.join(shared, 'fixtures/clip-golden/golden.json'), 'utf8')) as { texts: GoldenText[] };

let tok: ClipTokenizer;
beforeAll(async () => {
  tok = await ClipTokenizer.fromVocabFile(vocabPath);
});

describe('ClipTokenizer against openai/CLIP golden outputs', () => {
  it('has OpenAI vocabulary size and special ids', () => {
    expect(tok.vocabSize).toBe(49408);
    expect(tok.startTokenId).toBe(49406);
    expect(tok.endTokenId).toBe(49407);
  });

  for (const t of golden.texts) {
    it(`cleans, encodes, decodes and tokenizes "${t.name}" exactly`, () => {
      expect(cleanText(t.text)).toBe(t.cleaned);
      const ids = tok.encode(t.text);
      expect(ids).toEqual(t.encode);
      expect(tok.decode(ids)).toBe(t.decode);
      const row = Array.from(tok.tokenize([t.text], 77));
      expect(row).toEqual(t.tokenize_truncate);
      // The pooled position is the first maximum, i.e. the first end token.
      expect(row.indexOf(Math.max(...row))).toBe(t.eot_index);
      if (t.tokenize_raises_without_truncate) {
        expect(() => tok.tokenize([t.text], 77, false)).toThrow(/context length/);
      } else {
        expect(() => tok.tokenize([t.text], 77, false)).not.toThrow();
      }
    });
  }

  it('tokenizes a batch row-major and honours a shorter context', () => {
    const texts = golden.texts.map((t) => t.text);
    const rows = tok.tokenize(texts, 77);
    expect(rows.length).toBe(texts.length * 77);
    golden.texts.forEach((t, i) => expect(Array.from(rows.subarray(i * 77, (i + 1) * 77))).toEqual(t.tokenize_truncate));
    const short = tok.tokenize(['a photo of a cat'], 4);
    expect(Array.from(short)).toEqual([49406, 320, 1125, 49407]);
  });

  it('default() finds the shared vocabulary', async () => {
    const d = await ClipTokenizer.default();
    expect(d.encode('a photo of a cat')).toEqual(tok.encode('a photo of a cat'));
  });

  it('rejects a missing vocabulary file with a PsicError', async () => {
    await expect(ClipTokenizer.fromVocabFile(path.join(shared, 'no-such-vocab.txt.gz'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
