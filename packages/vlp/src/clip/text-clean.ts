/**
 * CLIP's text cleaning without ftfy: the subset of `ftfy.fix_text` (6.3.1,
 * default settings) that matters for captions, then CLIP's `basic_clean` and
 * `whitespace_clean`. What is covered, in ftfy's order:
 *  - HTML entities, repeated until nothing changes (ftfy loops its fixes to a
 *    fixed point), skipped when the text already contains '<' (ftfy's "auto");
 *    named entities from a table of the common ones plus numeric ones — an
 *    entity missing from the table is left as written;
 *  - terminal escape sequences removed;
 *  - mojibake: UTF-8 bytes that were decoded as Windows-1252/Latin-1
 *    ("doesnâ€™t") are decoded again; ftfy's statistical "badness" test is
 *    replaced by the stricter rule that the run must be valid multi-byte UTF-8;
 *  - C1 controls read as Windows-1252, Latin ligatures and full/half-width
 *    forms to NFKC, curly quotes uncurled, line breaks unified, the control
 *    characters ftfy removes removed, NFC.
 * Then Python's `html.unescape` twice (which also takes `&amp` without `;`)
 * and `strip()`.
 */

/** Named entities (HTML5 names) common in scraped captions; numeric entities are decoded generically. */
const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', ensp: '\u2002', emsp: '\u2003', thinsp: '\u2009',
  ndash: '\u2013', mdash: '\u2014', hellip: '\u2026', lsquo: '\u2018', rsquo: '\u2019', sbquo: '\u201a',
  ldquo: '\u201c', rdquo: '\u201d', bdquo: '\u201e', laquo: '\u00ab', raquo: '\u00bb', lsaquo: '\u2039', rsaquo: '\u203a',
  copy: '\u00a9', reg: '\u00ae', trade: '\u2122', deg: '\u00b0', plusmn: '\u00b1', times: '\u00d7', divide: '\u00f7',
  middot: '\u00b7', bull: '\u2022', para: '\u00b6', sect: '\u00a7', cent: '\u00a2', pound: '\u00a3', yen: '\u00a5',
  euro: '\u20ac', curren: '\u00a4', iexcl: '\u00a1', iquest: '\u00bf', shy: '\u00ad', macr: '\u00af', acute: '\u00b4',
  cedil: '\u00b8', uml: '\u00a8', ordf: '\u00aa', ordm: '\u00ba', sup1: '\u00b9', sup2: '\u00b2', sup3: '\u00b3',
  frac14: '\u00bc', frac12: '\u00bd', frac34: '\u00be', micro: '\u00b5', not: '\u00ac', brvbar: '\u00a6',
  dagger: '\u2020', Dagger: '\u2021', permil: '\u2030', prime: '\u2032', Prime: '\u2033', larr: '\u2190',
  rarr: '\u2192', uarr: '\u2191', darr: '\u2193', harr: '\u2194', hearts: '\u2665', spades: '\u2660',
  clubs: '\u2663', diams: '\u2666', infin: '\u221e', ne: '\u2260', le: '\u2264', ge: '\u2265', minus: '\u2212',
  szlig: '\u00df', Agrave: '\u00c0', Aacute: '\u00c1', Acirc: '\u00c2', Atilde: '\u00c3', Auml: '\u00c4',
  Aring: '\u00c5', AElig: '\u00c6', Ccedil: '\u00c7', Egrave: '\u00c8', Eacute: '\u00c9', Ecirc: '\u00ca',
  Euml: '\u00cb', Igrave: '\u00cc', Iacute: '\u00cd', Icirc: '\u00ce', Iuml: '\u00cf', ETH: '\u00d0',
  Ntilde: '\u00d1', Ograve: '\u00d2', Oacute: '\u00d3', Ocirc: '\u00d4', Otilde: '\u00d5', Ouml: '\u00d6',
  Oslash: '\u00d8', Ugrave: '\u00d9', Uacute: '\u00da', Ucirc: '\u00db', Uuml: '\u00dc', Yacute: '\u00dd',
  THORN: '\u00de', agrave: '\u00e0', aacute: '\u00e1', acirc: '\u00e2', atilde: '\u00e3', auml: '\u00e4',
  aring: '\u00e5', aelig: '\u00e6', ccedil: '\u00e7', egrave: '\u00e8', eacute: '\u00e9', ecirc: '\u00ea',
  euml: '\u00eb', igrave: '\u00ec', iacute: '\u00ed', icirc: '\u00ee', iuml: '\u00ef', eth: '\u00f0',
  ntilde: '\u00f1', ograve: '\u00f2', oacute: '\u00f3', ocirc: '\u00f4', otilde: '\u00f5', ouml: '\u00f6',
  oslash: '\u00f8', ugrave: '\u00f9', uacute: '\u00fa', ucirc: '\u00fb', uuml: '\u00fc', yacute: '\u00fd',
  thorn: '\u00fe', yuml: '\u00ff', OElig: '\u0152', oelig: '\u0153', Scaron: '\u0160', scaron: '\u0161', Yuml: '\u0178',
};

/** Windows-1252 bytes 0x80-0x9F (undefined ones map to the C1 control of the same value, as ftfy's "sloppy" codec). */
const CP1252_HIGH = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f'
  + '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** Character -> the single byte it stands for in sloppy Windows-1252 (Latin-1 plus the 0x80-0x9F table). */
const CP1252_BYTE = new Map<string, number>();
for (let b = 0xa0; b <= 0xff; b++) CP1252_BYTE.set(String.fromCharCode(b), b);
for (let i = 0; i < 32; i++) CP1252_BYTE.set(CP1252_HIGH[i]!, 0x80 + i);

const ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;
const TERMINAL_ESCAPE_RE = /\u001b\[((?:\d|;)*)([a-zA-Z])/g;
/** A UTF-8 lead byte's character followed by continuation-byte characters, as Windows-1252 text. */
const CP1252_CLASS = `[${[...CP1252_BYTE.keys()].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}]`;
const MOJIBAKE_RE = new RegExp(`${CP1252_CLASS}{2,}`, 'g');
const LIGATURES_RE = /[\u0132\u0133\u013f\u0140\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;
/** ftfy's width map: U+3000 and the U+FF01-U+FFEF block (only the characters NFKC changes). */
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
const SINGLE_QUOTE_RE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE_RE = /[\u201c-\u201f]/g;
const CONTROL_RE = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
/** Python's str.isspace() set, which `regex`'s \s matches in CLIP's whitespace_clean. */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RE = new RegExp(`[${PY_SPACE}]+`, 'g');
const STRIP_RE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's html.unescape of one numeric reference body ("#233", "#x1F600"), `;` already removed. */
function numericReference(body: string): string | null {
  const hex = body[1] === 'x' || body[1] === 'X';
  const digits = body.slice(hex ? 2 : 1);
  if (!(hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) return null;
  const code = parseInt(digits, hex ? 16 : 10);
  if (code === 0) return '\ufffd';
  if (code === 0x0d) return '\r';
  // HTML maps references to 0x80-0x9F through Windows-1252.
  if (code >= 0x80 && code <= 0x9f) return CP1252_HIGH[code - 0x80]!;
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
  const invalid = (code >= 0x1 && code <= 0x8) || code === 0xb || (code >= 0xe && code <= 0x1f) || code === 0x7f
    || (code >= 0xfdd0 && code <= 0xfdef) || (code & 0xfffe) === 0xfffe;
  return invalid ? '' : String.fromCodePoint(code);
}

/** ftfy's entity fix-up: named entities with `;` (and all-caps spellings of lower-case ones), numeric ones. */
function decodeEntity(entity: string): string {
  const body = entity.slice(1, -1);
  if (body.startsWith('#')) return numericReference(body) ?? entity;
  const named = NAMED_ENTITIES[body];
  if (named !== undefined) return named;
  const lower = body.toLowerCase();
  // ftfy decodes &NTILDE; as "Ñ": the upper case of the lower-case entity's character.
  if (body === body.toUpperCase() && NAMED_ENTITIES[lower] !== undefined && NAMED_ENTITIES[body] === undefined) return NAMED_ENTITIES[lower]!.toUpperCase();
  return entity;
}

/** Entities HTML5 also accepts without `;` (the legacy Latin-1 set and & < > "). */
function isLegacyEntity(name: string): boolean {
  const v = NAMED_ENTITIES[name];
  return v !== undefined && (['amp', 'lt', 'gt', 'quot'].includes(name) || (v.length === 1 && v.charCodeAt(0) >= 0xa0 && v.charCodeAt(0) <= 0xff));
}
const PY_UNESCAPE_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** Python's html.unescape (with the entity table above): `;` optional for numeric and legacy named entities. */
function htmlUnescape(text: string): string {
  return text.replace(PY_UNESCAPE_RE, (whole, ref: string) => {
    if (ref.startsWith('#')) return numericReference(ref.replace(/;$/, '')) ?? whole;
    if (ref.endsWith(';') && NAMED_ENTITIES[ref.slice(0, -1)] !== undefined) return NAMED_ENTITIES[ref.slice(0, -1)]!;
    if (isLegacyEntity(ref)) return NAMED_ENTITIES[ref]!;
    for (let n = ref.length - 1; n > 1; n--) {
      if (isLegacyEntity(ref.slice(0, n))) return NAMED_ENTITIES[ref.slice(0, n)]! + ref.slice(n);
    }
    return whole;
  });
}

/** Strictly decodes bytes as UTF-8; null when they are not valid UTF-8. */
function utf8OrNull(bytes: number[]): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

/** Re-decodes each run of Windows-1252 characters whose bytes form multi-byte UTF-8 sequences. */
function fixMojibake(text: string): string {
  return text.replace(MOJIBAKE_RE, (run) => {
    const bytes = [...run].map((c) => CP1252_BYTE.get(c)!);
    // Decode the longest valid UTF-8 prefix pieces; keep characters that do not start a valid sequence.
    let out = '';
    let i = 0;
    while (i < bytes.length) {
      const lead = bytes[i]!;
      const len = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
      const decoded = len > 0 && i + len <= bytes.length ? utf8OrNull(bytes.slice(i, i + len)) : null;
      if (decoded !== null) {
        out += decoded;
        i += len;
      } else {
        out += run[i];
        i += 1;
      }
    }
    return out;
  });
}

function fixC1Controls(text: string): string {
  return text.replace(/[\u0080-\u009f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!);
}

/** One pass of the ftfy fixes, in ftfy's order. */
function fixOnce(text: string, unescapeHtml: boolean): string {
  let t = text;
  if (unescapeHtml) t = t.replace(ENTITY_RE, decodeEntity);
  t = t.replace(TERMINAL_ESCAPE_RE, '');
  t = fixMojibake(t);
  t = fixC1Controls(t);
  t = t.replace(LIGATURES_RE, (c) => c.normalize('NFKC'));
  t = t.replace(WIDTH_RE, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
  t = t.replace(SINGLE_QUOTE_RE, "'").replace(DOUBLE_QUOTE_RE, '"');
  t = t.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n');
  t = t.replace(CONTROL_RE, '');
  return t.normalize('NFC');
}

/** The ftfy.fix_text subset described above, applied until the text stops changing. */
export function fixText(text: string): string {
  const unescapeHtml = !text.includes('<');
  let t = text;
  for (let i = 0; i < 16; i++) {
    const next = fixOnce(t, unescapeHtml);
    if (next === t) break;
    t = next;
  }
  return t;
}

/** CLIP's `basic_clean`: fix_text, HTML unescape, strip(). */
export function basicClean(text: string): string {
  let t = fixText(text);
  t = htmlUnescape(htmlUnescape(t));
  return t.replace(STRIP_RE, '');
}

/** CLIP's `whitespace_clean`: runs of whitespace to one space, strip(). */
export function whitespaceClean(text: string): string {
  return text.replace(WHITESPACE_RE, ' ').replace(STRIP_RE, '');
}

/** The string CLIP runs its BPE pattern on. */
export function cleanText(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}
