/**
 * The report helpers (SVG chart, Markdown table, number formats) live in
 * @psic/eval (packages/eval/src/report). A built @psic/eval exports them;
 * when its dist predates them, they are loaded from the TypeScript source
 * through tsx (a root devDependency), so the runner works either way.
 */
const REQUIRED = ['svgChart', 'markdownTable', 'formatPercent', 'formatRate', 'formatFixed', 'formatPoints'];

async function load() {
  const built = await import('@psic/eval');
  if (REQUIRED.every((name) => typeof built[name] === 'function')) return built;
  const { tsImport } = await import('tsx/esm/api');
  return tsImport('../../packages/eval/src/report/index.ts', import.meta.url);
}

const lib = await load();
export const { svgChart, markdownTable, formatPercent, formatRate, formatFixed, formatPoints } = lib;
