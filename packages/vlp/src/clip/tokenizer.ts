/**
 * CLIP's byte-level BPE tokenizer, as openai/CLIP's `simple_tokenizer.py`
 * and `clip.tokenize`: the same vocabulary file, cleaning (see text-clean.ts
 * for the ftfy subset), pattern, byte encoder and merge loop, so ids match
 * OpenAI's exactly.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PsicError } from '@psic/entropy';
import { cleanText, PY_SPACE } from './text-clean.js';

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
/** Lines 1 .. 48894 of the vocabulary file are the merges CLIP uses (Python slice [1:49152-256-2+1]). */
const MERGE_COUNT = 49152 - 256 - 2;

/** CLIP's token pattern; `regex`'s \s is Python's whitespace set, which differs slightly from JavaScript's. */
const TOKEN_RE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${PY_SPACE}\\p{L}\\p{N}]+`,
  'giu',
);

/** GPT-2's reversible byte -> printable character table (`bytes_to_unicode`), in its order. */
export function bytesToUnicode(): Map<number, string> {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = [...bytes];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + n);
      n++;
    }
  }
  return new Map(bytes.map((b, i) => [b, String.fromCharCode(chars[i]!)]));
}

/** Where the shared checkout keeps OpenAI's vocabulary (../shared beside the repository). */
function defaultVocabCandidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromEnv = process.env['PSIC_CLIP_VOCAB'];
  const candidates = fromEnv ? [fromEnv] : [];
  // src/clip/ or dist/ inside packages/vlp; the shared folder sits beside the repository root.
  for (const up of ['../../../../..', '../../../..']) {
    candidates.push(path.resolve(here, up, 'shared/data/clip/bpe_simple_vocab_16e6.txt.gz'));
  }
  candidates.push('/work/shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  return candidates;
}

export class ClipTokenizer {
  readonly vocabSize: number;
  readonly startTokenId: number;
  readonly endTokenId: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  private readonly ranks: Map<string, number>;
  private readonly byteEncoder = bytesToUnicode();
  private readonly byteDecoder: Map<string, number>;
  private readonly cache = new Map<string, string[]>([
    [START_OF_TEXT, [START_OF_TEXT]],
    [END_OF_TEXT, [END_OF_TEXT]],
  ]);

  /** `merges` are the "left right" lines after the header, in rank order. */
  constructor(merges: string[]) {
    const base = [...this.byteEncoder.values()];
    const vocab = [...base, ...base.map((v) => `${v}</w>`)];
    this.ranks = new Map();
    merges.forEach((line, rank) => {
      const parts = line.split(/\s+/).filter((p) => p.length > 0);
      if (parts.length !== 2) throw new PsicError('BAD_VOCAB', `CLIP vocabulary merge ${rank + 1} is not "left right": ${JSON.stringify(line)}`);
      this.ranks.set(`${parts[0]} ${parts[1]}`, rank);
      vocab.push(parts[0]! + parts[1]!);
    });
    vocab.push(START_OF_TEXT, END_OF_TEXT);
    this.decoder = vocab;
    this.encoder = new Map();
    // Later duplicates win, as Python's dict(zip(vocab, range(len(vocab)))).
    vocab.forEach((v, i) => this.encoder.set(v, i));
    this.byteDecoder = new Map([...this.byteEncoder].map(([b, c]) => [c, b]));
    this.vocabSize = vocab.length;
    this.startTokenId = this.encoder.get(START_OF_TEXT)!;
    this.endTokenId = this.encoder.get(END_OF_TEXT)!;
  }

  /** Reads OpenAI's `bpe_simple_vocab_16e6.txt.gz` (gzip, or plain text when not gzipped). */
  static async fromVocabFile(file: string): Promise<ClipTokenizer> {
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (err) {
      throw new PsicError('NOT_FOUND', `cannot read CLIP vocabulary ${file}: ${(err as Error).message}`, { cause: err });
    }
    let text: string;
    try {
      text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
    } catch (err) {
      throw new PsicError('BAD_VOCAB', `CLIP vocabulary ${file} is not valid gzip: ${(err as Error).message}`, { cause: err });
    }
    const lines = text.split('\n');
    if (lines.length < MERGE_COUNT + 1) {
      throw new PsicError('BAD_VOCAB', `CLIP vocabulary ${file} has ${lines.length - 1} merges, expected at least ${MERGE_COUNT}`);
    }
    return new ClipTokenizer(lines.slice(1, MERGE_COUNT + 1));
  }

  /** The tokenizer over the shared OpenAI vocabulary ($PSIC_CLIP_VOCAB, or ../shared/data/clip beside the checkout). */
  static async default(): Promise<ClipTokenizer> {
    const candidates = defaultVocabCandidates();
    const found = candidates.find((p) => existsSync(p));
    if (!found) {
      throw new PsicError('NOT_FOUND', `CLIP vocabulary not found; set PSIC_CLIP_VOCAB or pass a path (looked in ${candidates.join(', ')})`);
    }
    return ClipTokenizer.fromVocabFile(found);
  }

  /** BPE of one pre-token (already byte-encoded): the merged symbols, the last one marked with </w>. */
  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    let word = [...token];
    word[word.length - 1] += '</w>';
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      // Merge every non-overlapping occurrence of the pair, left to right.
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]!);
          i += 1;
        }
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }

  /** BPE ids of a text, without the start/end tokens (`SimpleTokenizer.encode`). */
  encode(text: string): number[] {
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const match of cleanText(text).matchAll(TOKEN_RE)) {
      let token = '';
      for (const b of utf8.encode(match[0])) token += this.byteEncoder.get(b)!;
      for (const symbol of this.bpe(token)) ids.push(this.encoder.get(symbol)!);
    }
    return ids;
  }

  /** `SimpleTokenizer.decode`: ids back to text, word ends as spaces. */
  decode(ids: ArrayLike<number>): string {
    const symbols = Array.from(ids, (id) => {
      const s = this.decoder[id];
      if (s === undefined) throw new PsicError('BAD_TOKEN', `token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
      return s;
    }).join('');
    const bytes = Uint8Array.from([...symbols], (c) => this.byteDecoder.get(c) ?? 0x3f);
    return new TextDecoder('utf-8').decode(bytes).replaceAll('</w>', ' ');
  }

  /**
   * `clip.tokenize`: rows of [start, ids..., end, 0...] of `contextLength`
   * ids, row-major [n, contextLength]. A row too long is cut and its last id
   * set to the end token (truncate=True), or rejected when `truncate` is false.
   */
  tokenize(texts: string[], contextLength = 77, truncate = true): Int32Array {
    const out = new Int32Array(texts.length * contextLength);
    texts.forEach((text, row) => {
      const tokens = [this.startTokenId, ...this.encode(text), this.endTokenId];
      if (tokens.length > contextLength) {
        if (!truncate) {
          throw new PsicError('TEXT_TOO_LONG', `text ${row} has ${tokens.length} tokens, more than the context length ${contextLength}`);
        }
        tokens.length = contextLength;
        tokens[contextLength - 1] = this.endTokenId;
      }
      out.set(tokens, row * contextLength);
    });
    return out;
  }
}
