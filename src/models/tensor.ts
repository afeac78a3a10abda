/**
 * Plain tensors as they cross the worker boundary: a dtype, dims and a typed array.
 * Nothing here knows ONNX Runtime; the backend converts at its edge.
 */
import type { TensorDtype } from './manifest.js';

export type TensorArray = Float32Array | Uint8Array | Int32Array | BigInt64Array;

export interface TensorData {
  dtype: TensorDtype;
  dims: number[];
  data: TensorArray;
}

export type TensorMap = Record<string, TensorData>;

export function float32Tensor(data: Float32Array, dims: number[]): TensorData {
  return { dtype: 'float32', dims, data };
}

export function uint8Tensor(data: Uint8Array, dims: number[]): TensorData {
  return { dtype: 'uint8', dims, data };
}

export function dtypeOfArray(data: TensorArray): TensorDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int32Array) return 'int32';
  return 'int64';
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function formatShape(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}
