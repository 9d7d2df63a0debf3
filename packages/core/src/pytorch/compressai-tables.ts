/**
 * CompressAI's CDF buffers <-> CdfTableSet. An entropy model of CompressAI
 * stores, after `update()`, three int32 buffers under its prefix:
 *   `_quantized_cdf` [C, L]  row c = table c, padded with zeros past its length
 *   `_cdf_length`    [C]     entries of row c (symbols + escape + 1)
 *   `_offset`        [C]     value coded by symbol 0
 * which is exactly CdfTableSet's table (cdf, offset) in a padded layout.
 */
import { CdfTableSet, type CdfTable } from '@psic/entropy';
import type { SafeTensor } from '../safetensors-format.js';
import { badCheckpoint } from './errors.js';

export const CDF_BUFFERS = ['_quantized_cdf', '_cdf_length', '_offset'] as const;

/**
 * The tables stored under `prefix` ('entropy_bottleneck', 'gaussian_conditional'),
 * or undefined when the checkpoint has none (saved before `update()`: empty buffers).
 * Every row is validated (CdfTableSet's rules: starts at 0, ends at 2^16, every frequency >= 1).
 */
export function cdfTablesFromTensors(tensors: ReadonlyMap<string, SafeTensor>, prefix: string): CdfTableSet | undefined {
  const [cdf, length, offset] = CDF_BUFFERS.map((b) => tensors.get(`${prefix}.${b}`));
  if (!cdf && !length && !offset) return undefined;
  if (!cdf || !length || !offset) badCheckpoint(`${prefix}: has only some of ${CDF_BUFFERS.join(', ')}`);
  const count = cdf.shape[0] ?? 0;
  if (cdf.shape.length === 1 && count === 0) return undefined; // never updated
  if (cdf.shape.length !== 2 || length.shape.length !== 1 || offset.shape.length !== 1 || length.shape[0] !== count || offset.shape[0] !== count) {
    badCheckpoint(`${prefix}: CDF buffers have shapes [${cdf.shape}], [${length.shape}], [${offset.shape}]; expected [C, L], [C], [C]`);
  }
  const width = cdf.shape[1]!;
  const cdfs = integers(cdf, `${prefix}._quantized_cdf`);
  const lengths = integers(length, `${prefix}._cdf_length`);
  const offsets = integers(offset, `${prefix}._offset`);
  const tables: CdfTable[] = [];
  for (let t = 0; t < count; t++) {
    const n = lengths[t]!;
    if (!(n >= 3 && n <= width)) badCheckpoint(`${prefix}: table ${t} has length ${n}, outside 3..${width}`);
    const row = new Uint32Array(n);
    for (let k = 0; k < n; k++) {
      const v = cdfs[t * width + k]!;
      if (v < 0) badCheckpoint(`${prefix}: table ${t} has a negative CDF value`);
      row[k] = v;
    }
    tables.push({ cdf: row, offset: offsets[t]! });
  }
  try {
    return new CdfTableSet(tables);
  } catch (err) {
    return badCheckpoint(`${prefix}: stored CDF tables are invalid (${(err as Error).message})`, err);
  }
}

/** The same three buffers for a table set, as CompressAI lays them out (int32). */
export function cdfTablesToTensors(tables: CdfTableSet, prefix: string): Map<string, SafeTensor> {
  const rows = Array.from({ length: tables.size }, (_, t) => tables.table(t));
  const width = Math.max(...rows.map((r) => r.cdf.length));
  const cdf = new Int32Array(tables.size * width);
  rows.forEach((r, t) => cdf.set(r.cdf, t * width));
  return new Map<string, SafeTensor>([
    [`${prefix}._quantized_cdf`, { dtype: 'I32', shape: [tables.size, width], data: cdf }],
    [`${prefix}._cdf_length`, { dtype: 'I32', shape: [tables.size], data: Int32Array.from(rows, (r) => r.cdf.length) }],
    [`${prefix}._offset`, { dtype: 'I32', shape: [tables.size], data: Int32Array.from(rows, (r) => r.offset) }],
  ]);
}

export interface CdfTableComparison {
  tables: number;
  /** tables whose offset or length differ (their entries are not compared) */
  shapeDiffers: number;
  /** tables with at least one differing entry */
  tablesDiffer: number;
  entriesCompared: number;
  entriesDiffer: number;
  maxAbsDiff: number;
}

/** Entry by entry, table by table: where two table sets for the same model disagree. */
export function compareCdfTables(a: CdfTableSet, b: CdfTableSet): CdfTableComparison {
  if (a.size !== b.size) throw new RangeError(`compareCdfTables: ${a.size} tables vs ${b.size}`);
  const result: CdfTableComparison = { tables: a.size, shapeDiffers: 0, tablesDiffer: 0, entriesCompared: 0, entriesDiffer: 0, maxAbsDiff: 0 };
  for (let t = 0; t < a.size; t++) {
    const ta = a.table(t);
    const tb = b.table(t);
    if (ta.offset !== tb.offset || ta.cdf.length !== tb.cdf.length) {
      result.shapeDiffers++;
      continue;
    }
    let differs = false;
    for (let k = 0; k < ta.cdf.length; k++) {
      const d = Math.abs(ta.cdf[k]! - tb.cdf[k]!);
      result.entriesCompared++;
      if (d > 0) {
        differs = true;
        result.entriesDiffer++;
        result.maxAbsDiff = Math.max(result.maxAbsDiff, d);
      }
    }
    if (differs) result.tablesDiffer++;
  }
  return result;
}

function integers(t: SafeTensor, name: string): ArrayLike<number> {
  if (t.data instanceof Int32Array) return t.data;
  if (t.data instanceof BigInt64Array) {
    const out = new Int32Array(t.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = t.data[i]!;
      if (v < -0x80000000n || v > 0x7fffffffn) badCheckpoint(`${name}: value ${v} does not fit in int32`);
      out[i] = Number(v);
    }
    return out;
  }
  return badCheckpoint(`${name} is ${t.dtype}; CDF buffers are integers`);
}
