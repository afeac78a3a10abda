/**
 * Merging runs of one model along the batch dimension: which models can, which runs fit
 * together, stacking their feeds and splitting the outputs back. Used by the runner (runs from
 * several callers) and by the inference worker (the steps of sampling jobs run in lockstep).
 */
import { InferenceError } from '../errors.js';
import type { ModelSpec } from './manifest.js';
import { elementCount, type TensorArray, type TensorMap } from './tensor.js';

/** A model can batch when every input and output leads with the `batch` symbol and uses it nowhere else. */
export function isBatchable(spec: ModelSpec): boolean {
  const all = [...spec.inputs, ...spec.outputs];
  return all.length > 0 && all.every((t) => t.shape[0] === 'batch' && !t.shape.slice(1).includes('batch'));
}

/** Dtypes and non-batch dims of every feed: runs with equal keys can be merged. */
export function batchKeyOf(spec: ModelSpec, feeds: TensorMap): string {
  return spec.inputs
    .map((i) => {
      const t = feeds[i.name]!;
      return `${t.dtype}[${t.dims.slice(1).join(',')}]`;
    })
    .join(';');
}

/** Rows of a run: the first input's batch dimension. */
export function batchRowsOf(spec: ModelSpec, feeds: TensorMap): number {
  return feeds[spec.inputs[0]!.name]!.dims[0]!;
}

/** Stacks the runs' feeds along dimension 0 (callers' shapes already agree past it). */
export function concatBatch(runs: TensorMap[]): TensorMap {
  const out: TensorMap = {};
  for (const name of Object.keys(runs[0]!)) {
    const parts = runs.map((r) => r[name]!);
    const first = parts[0]!;
    const length = parts.reduce((n, t) => n + t.data.length, 0);
    const ArrayType = first.data.constructor as new (n: number) => TensorArray;
    const data = new ArrayType(length);
    let offset = 0;
    for (const t of parts) {
      (data as Float32Array).set(t.data as Float32Array, offset);
      offset += t.data.length;
    }
    out[name] = {
      dtype: first.dtype,
      dims: [parts.reduce((n, t) => n + t.dims[0]!, 0), ...first.dims.slice(1)],
      data,
    };
  }
  return out;
}

/** Splits a merged call's outputs along dimension 0 into the callers' row counts. */
export function splitBatch(outputs: TensorMap, rows: number[]): TensorMap[] {
  const totalRows = rows.reduce((a, b) => a + b, 0);
  const parts: TensorMap[] = rows.map(() => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== totalRows) {
      throw new InferenceError(
        `[batch] output "${name}" has ${t.dims[0]} rows for ${totalRows} batched rows`,
      );
    }
    const rowSize = totalRows === 0 ? 0 : elementCount(t.dims) / totalRows;
    let row = 0;
    rows.forEach((n, i) => {
      parts[i]![name] = {
        dtype: t.dtype,
        dims: [n, ...t.dims.slice(1)],
        data: t.data.slice(row * rowSize, (row + n) * rowSize),
      };
      row += n;
    });
  }
  return parts;
}
