/** Report helpers for the experiment runner (tools/experiments): SVG charts and Markdown tables. */
export * from './svg-chart.js';
export * from './markdown-table.js';
