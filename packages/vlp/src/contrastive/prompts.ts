/**
 * Reads OpenAI's `prompts.md` (CLIP's zero-shot class names and templates
 * per data set): each `## Name` section holds Python list literals
 * `classes = [...]` and `templates = [...]`. Some data sets give several
 * names for one class (a nested list); those come back as one array per
 * class.
 */
import { readFile } from 'node:fs/promises';
import { PsicError } from '@psic/entropy';
import { findSharedFile } from './shared-data.js';

export interface PromptSet {
  /** Names of each class (usually one). */
  classes: string[][];
  /** Templates with `{}` where the class name goes. */
  templates: string[];
}

/** The section `## <dataset>` of a prompts.md text. */
export function parsePromptSection(markdown: string, dataset: string): PromptSet {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${dataset}`);
  if (start < 0) throw new PsicError('BAD_PROMPTS', `prompts file has no section "## ${dataset}"`);
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const body = lines.slice(start + 1, end).join('\n');
  const classes = listAfter(body, 'classes', dataset).map((c) => (Array.isArray(c) ? c : [c]));
  const templates = listAfter(body, 'templates', dataset);
  if (classes.length === 0 || templates.length === 0) throw new PsicError('BAD_PROMPTS', `section "${dataset}" has no classes or no templates`);
  if (templates.some((t) => typeof t !== 'string' || !t.includes('{}'))) {
    throw new PsicError('BAD_PROMPTS', `section "${dataset}": every template must be a string with {}`);
  }
  if (classes.some((names) => names.length === 0 || names.some((n) => typeof n !== 'string'))) {
    throw new PsicError('BAD_PROMPTS', `section "${dataset}": class names must be strings`);
  }
  return { classes: classes as string[][], templates: templates as string[] };
}

/** Read `dataset` from a prompts.md file (default: the shared copy beside the checkout). */
export async function readPromptSet(dataset: string, path?: string): Promise<PromptSet> {
  const file = path ?? defaultPromptsPath();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PsicError('NOT_FOUND', `cannot read prompts file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parsePromptSection(text, dataset);
}

/** $PSIC_CLIP_PROMPTS, else ../shared/data/clip/prompts.md beside the checkout. */
export function defaultPromptsPath(): string {
  return process.env.PSIC_CLIP_PROMPTS || findSharedFile('data/clip/prompts.md');
}

type Literal = string | Literal[];

/** The Python list literal assigned to `name` in `body`. */
function listAfter(body: string, name: string, dataset: string): string[] | Literal[] {
  const m = new RegExp(`(^|\\n)\\s*${name}\\s*=\\s*\\[`).exec(body);
  if (!m) throw new PsicError('BAD_PROMPTS', `section "${dataset}" has no "${name} = [...]"`);
  const parser = new ListParser(body, m.index + m[0].length - 1, dataset);
  return parser.list();
}

/** Lists of quoted strings, nested, with trailing commas and # comments: the subset prompts.md uses. */
class ListParser {
  constructor(
    private readonly s: string,
    private i: number,
    private readonly dataset: string,
  ) {}

  list(): Literal[] {
    this.expect('[');
    const out: Literal[] = [];
    for (;;) {
      this.skip();
      const c = this.s[this.i];
      if (c === ']') {
        this.i++;
        return out;
      }
      if (c === '[') out.push(this.list());
      else if (c === "'" || c === '"') out.push(this.string(c));
      else this.fail(`unexpected ${c === undefined ? 'end of text' : JSON.stringify(c)}`);
      this.skip();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== ']') this.fail('expected "," or "]"');
    }
  }

  private string(quote: string): string {
    this.i++;
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== quote) {
      if (this.s[this.i] === '\\' && this.i + 1 < this.s.length) this.i++;
      out += this.s[this.i++];
    }
    if (this.i >= this.s.length) this.fail('unterminated string');
    this.i++;
    return out;
  }

  private skip(): void {
    for (;;) {
      while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
      if (this.s[this.i] !== '#') return;
      while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++;
    }
  }

  private expect(c: string): void {
    this.skip();
    if (this.s[this.i] !== c) this.fail(`expected "${c}"`);
    this.i++;
  }

  private fail(why: string): never {
    throw new PsicError('BAD_PROMPTS', `section "${this.dataset}": ${why} at offset ${this.i}`);
  }
}
