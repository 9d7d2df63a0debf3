/** Cleaning cases beyond the golden strings: html.unescape results checked against python3; the ftfy ones follow ftfy 6.3.1's rules (its fix order, entity and width tables). */
import { describe, expect, it } from 'vitest';
import { basicClean, cleanText, fixText } from '../src/index.js';

describe('CLIP text cleaning (ftfy subset)', () => {
  it('unescapes entities as ftfy (to a fixed point, not when the text has "<")', () => {
    expect(fixText('fish &amp;amp; chips &#233;t&eacute; &NTILDE; &#x1F600; &bogus;')).toBe('fish & chips été Ñ 😀 &bogus;');
    expect(fixText('<b>&amp;amp;</b>')).toBe('<b>&amp;amp;</b>');
    // ... but basic_clean's html.unescape twice still applies, with or without ";".
    expect(basicClean('<b>&amp;amp;amp;</b>')).toBe('<b>&amp;</b>');
    expect(basicClean('AT&ampT &copy 2024 &ampx')).toBe('AT&T © 2024 &x');
    expect(basicClean('&#128; &#0; &#1;x')).toBe('€ \ufffd x');
  });

  it('repairs UTF-8 read as Windows-1252 and leaves real accents alone', () => {
    expect(fixText('cafÃ© â€œquotedâ€\u009d Ã¼ber')).toBe('café "quoted" über');
    expect(fixText('naïve São Straße ÉCOLE')).toBe('naïve São Straße ÉCOLE');
  });

  it('ligatures, widths, quotes, controls, NFC, whitespace', () => {
    expect(fixText('ﬂower ＡＢＣ　１２ ‘x’ \u201cy\u201d')).toBe('flower ABC 12 \'x\' "y"');
    expect(fixText('a\u0000b\u200bc\ufeffd e\u0301')).toBe('ab\u200bcd é');
    expect(cleanText('  Multiple\t\tspaces\n\u00a0and\u3000LINES  ')).toBe('multiple spaces and lines');
    expect(fixText('\u001b[31mred\u001b[0m')).toBe('red');
  });
});
