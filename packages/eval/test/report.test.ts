import { describe, expect, it } from 'vitest';
import { escapeXml, formatTick, logTicks, niceTicks, svgChart } from '../src/report/svg-chart.js';
import { formatFixed, formatPercent, formatPoints, formatRate, markdownTable } from '../src/report/markdown-table.js';

/** The numbers of every `attr="..."` of the given elements, in document order. */
function attrs(svg: string, element: string, attr: string): number[] {
  const re = new RegExp(`<${element}\\b[^>]*\\s${attr}="([^"]+)"`, 'g');
  return [...svg.matchAll(re)].map((m) => Number(m[1]));
}

describe('niceTicks', () => {
  it('covers the range with 1/2/5 x 10^k steps, first tick <= min and last >= max', () => {
    for (const [min, max] of [[0.13, 0.48], [23.4, 33.8], [-7, 12], [0, 100], [1e-4, 3e-4], [950, 1210]]) {
      const t = niceTicks(min, max);
      expect(t[0]).toBeLessThanOrEqual(min);
      expect(t[t.length - 1]).toBeGreaterThanOrEqual(max);
      expect(t.length).toBeGreaterThanOrEqual(3);
      expect(t.length).toBeLessThanOrEqual(12);
      const step = t[1] - t[0];
      const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
      expect([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
      for (let i = 1; i < t.length; i++) expect(t[i] - t[i - 1]).toBeCloseTo(step, 9);
    }
  });

  it('gives clean decimals (no float noise) and a range around a single value', () => {
    expect(niceTicks(0.1, 0.7, 7)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    expect(niceTicks(0.1, 0.7)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    const one = niceTicks(5, 5);
    expect(one[0]).toBeLessThan(5);
    expect(one[one.length - 1]).toBeGreaterThan(5);
    expect(() => niceTicks(2, 1)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => niceTicks(0, Number.NaN)).toThrow(/finite range/);
  });
});

describe('logTicks', () => {
  it('uses 1, 2, 5 x 10^k around the data, all of 1..9 when the range is narrow', () => {
    expect(logTicks(0.12, 0.9)).toEqual([0.1, 0.2, 0.5, 1]);
    expect(logTicks(3, 800)).toEqual([2, 5, 10, 20, 50, 100, 200, 500, 1000]);
    const narrow = logTicks(0.31, 0.47);
    expect(narrow).toEqual([0.3, 0.4, 0.5]);
    expect(() => logTicks(0, 1)).toThrow(/0 < min/);
  });
});

describe('formatTick', () => {
  it('writes as many decimals as the step needs and no negative zero', () => {
    expect(formatTick(0.25, 0.05)).toBe('0.25');
    expect(formatTick(30, 10)).toBe('30');
    expect(formatTick(27.5, 0.5)).toBe('27.5');
    expect(formatTick(-0.0000001, 0.1)).toBe('0.0');
  });
});

describe('svgChart', () => {
  const rd = {
    title: 'Kodak <RD> & "friends"',
    xLabel: 'bits per pixel',
    yLabel: 'PSNR (dB)',
    series: [
      { name: 'hyperprior', points: [{ x: 0.32, y: 27.6, label: 'q2' }, { x: 0.14, y: 25.2, label: 'q1' }] },
      { name: 'jpeg', dashed: true, points: [{ x: 0.13, y: 23.9 }, { x: 0.31, y: 27.7 }] },
      { name: 'scatter', line: false, points: [{ x: 0.2, y: 26 }] },
    ],
  };

  it('draws one polyline per line series, a marker per point and a legend entry per series, with escaped text', () => {
    const svg = svgChart(rd);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2); // the scatter series has no line
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(2); // jpeg's line and its legend sample
    expect(svg).toContain('Kodak &lt;RD&gt; &amp; &quot;friends&quot;');
    expect(svg).not.toContain('<RD>');
    for (const name of ['hyperprior', 'jpeg', 'scatter']) expect(svg).toContain(`>${name}</text>`);
    expect(svg).toContain('>q1</text>');
    // series groups: one marker per point (circle, square, triangle cycle)
    expect(svg.match(/<g class="series"/g)).toHaveLength(3);
  });

  it('maps larger x to the right and larger y upwards, inside the plot frame', () => {
    const svg = svgChart({ ...rd, series: [rd.series[0]] });
    const cx = attrs(svg, 'circle', 'cx');
    const cy = attrs(svg, 'circle', 'cy');
    // data points are drawn in x order (q1 at 0.14 first), then the legend marker
    expect(cx[0]).toBeLessThan(cx[1]);
    expect(cy[0]).toBeGreaterThan(cy[1]);
    const [frameX, frameY] = [attrs(svg, 'rect', 'x')[0], attrs(svg, 'rect', 'y')[0]];
    const [frameW, frameH] = [attrs(svg, 'rect', 'width')[1], attrs(svg, 'rect', 'height')[1]];
    for (let i = 0; i < 2; i++) {
      expect(cx[i]).toBeGreaterThan(frameX);
      expect(cx[i]).toBeLessThan(frameX + frameW);
      expect(cy[i]).toBeGreaterThan(frameY);
      expect(cy[i]).toBeLessThan(frameY + frameH);
    }
  });

  it('spaces a log x axis by ratios: x and 10x are as far apart as 10x and 100x', () => {
    const svg = svgChart({ title: 't', xLabel: 'x', yLabel: 'y', logX: true, series: [{ name: 's', points: [{ x: 0.01, y: 1 }, { x: 0.1, y: 2 }, { x: 1, y: 3 }] }] });
    const cx = attrs(svg, 'circle', 'cx').slice(0, 3);
    expect(cx[1] - cx[0]).toBeCloseTo(cx[2] - cx[1], 1);
    expect(svg).toContain('(log scale)');
  });

  it('keeps the frame the caller asks for with yInclude', () => {
    const svg = svgChart({ title: 't', xLabel: 'x', yLabel: '%', yInclude: [0, 100], series: [{ name: 's', points: [{ x: 1, y: 40 }, { x: 2, y: 60 }] }] });
    expect(svg).toContain('>0</text>');
    expect(svg).toContain('>100</text>');
  });

  it('moves a point label that would cover another one', () => {
    const svg = svgChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [{ x: 1, y: 1, label: 'first' }, { x: 1.001, y: 1.001, label: 'second' }, { x: 2, y: 2 }] }] });
    const at = (label: string) => {
      const m = new RegExp(`<text x="([^"]+)" y="([^"]+)" font-size="10"[^>]*>${label}<`).exec(svg);
      return m ? [Number(m[1]), Number(m[2])] : null;
    };
    const [a, b] = [at('first'), at('second')];
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    // the boxes (6 px a character, 10 px high) must not intersect
    const apart = Math.abs(a![1] - b![1]) >= 10 || b![0] + 6 * 'second'.length <= a![0] || a![0] + 6 * 'first'.length <= b![0];
    expect(apart).toBe(true);
  });

  it('is deterministic', () => {
    expect(svgChart(rd)).toBe(svgChart(rd));
  });

  it('refuses charts it cannot draw, with typed errors', () => {
    const base = { title: 't', xLabel: 'x', yLabel: 'y' };
    expect(() => svgChart({ ...base, series: [] })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => svgChart({ ...base, series: [{ name: 's', points: [] }] })).toThrow(/no points/);
    expect(() => svgChart({ ...base, series: [{ name: 's', points: [{ x: 1, y: Number.NaN }] }] })).toThrow(/non-finite/);
    expect(() => svgChart({ ...base, logX: true, series: [{ name: 's', points: [{ x: 0, y: 1 }] }] })).toThrow(/x > 0/);
    expect(() => svgChart({ ...base, width: 100, series: [{ name: 's', points: [{ x: 0, y: 1 }] }] })).toThrow(/too small/);
  });

  it('escapes every XML special character', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });
});

describe('markdownTable', () => {
  it('aligns the first column left and the others right by default, or as asked', () => {
    const t = markdownTable(['codec', 'bpp'], [['jpeg', 0.25], ['webp', 0.5]]);
    expect(t.split('\n')).toEqual(['| codec | bpp |', '| --- | ---: |', '| jpeg | 0.25 |', '| webp | 0.5 |', '']);
    expect(markdownTable(['a', 'b'], [['x', 'y']], { align: ['right', 'left'] }).split('\n')[1]).toBe('| ---: | --- |');
  });

  it('escapes pipes and line breaks, writes blanks for missing values and n/a for NaN', () => {
    const t = markdownTable(['a', 'b', 'c'], [['x|y', 'two\nlines', undefined], [null, Number.NaN, '']]);
    expect(t).toContain('| x\\|y | two lines |  |');
    expect(t).toContain('|  | n/a |  |');
  });

  it('refuses rows that do not match the header', () => {
    expect(() => markdownTable(['a', 'b'], [['only one']])).toThrow(/1 cells for 2 columns/);
    expect(() => markdownTable([], [])).toThrow(/at least one column/);
  });
});

describe('number formats', () => {
  it('formats rates, counts, fixed decimals and signed points', () => {
    expect(formatPercent(0.8081)).toBe('80.8%');
    expect(formatPercent(Number.NaN)).toBe('n/a');
    expect(formatPercent(undefined)).toBe('');
    expect(formatRate({ rate: 91 / 92, fooled: 91, eligible: 92 })).toBe('98.9% (91/92)');
    expect(formatRate({ rate: null, fooled: 0, eligible: 0 })).toBe('n/a (0/0)'); // NaN after a JSON round trip
    expect(formatFixed(27.654, 2)).toBe('27.65');
    expect(formatFixed(null, 2)).toBe('');
    expect(formatPoints(6.25)).toBe('+6.3');
    expect(formatPoints(-12.9)).toBe('-12.9');
    expect(formatPoints(-0.04)).toBe('0.0');
    expect(formatPoints(0)).toBe('0.0');
  });
});
