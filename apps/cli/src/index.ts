export { report, table } from './output.js';
