/**
 * Checks tensors against a model's declared signature in the manifest: once at load time
 * against what the ONNX file itself declares, and on every run against the feeds and
 * outputs, binding symbolic dimensions (`batch`, `frames`, ...) consistently.
 */
import { BundleError, InferenceError } from '../errors.js';
import type { Dim, ModelSpec, TensorDtype, TensorSpec } from './manifest.js';
import { elementCount, formatShape, type TensorMap } from './tensor.js';

/** What the ONNX file declares for one input or output (from the backend). */
export interface DeclaredTensor {
  name: string;
  dtype: string;
  shape: Dim[];
}

export interface DeclaredSignature {
  inputs: DeclaredTensor[];
  outputs: DeclaredTensor[];
}

/**
 * Compares the manifest entry of a model with what its ONNX file declares: the same input
 * and output names, dtypes and ranks, and fixed sizes that agree. A symbolic size in either
 * place is compatible with anything (ONNX exports often name dynamic axes differently).
 */
export function checkDeclaredSignature(
  bundleName: string,
  modelKey: string,
  spec: ModelSpec,
  declared: DeclaredSignature,
): void {
  const where = `[bundle:${bundleName}, model:${modelKey}, file:${spec.file}]`;
  for (const side of ['inputs', 'outputs'] as const) {
    const kind = side === 'inputs' ? 'input' : 'output';
    const declaredNames = declared[side].map((t) => t.name);
    const specNames = spec[side].map((t) => t.name);
    for (const name of specNames) {
      if (!declaredNames.includes(name)) {
        throw new BundleError(
          `${where} manifest ${kind} "${name}" is not in the ONNX file, which has ${kind}s [${declaredNames.join(', ')}]`,
        );
      }
    }
    if (side === 'inputs') {
      for (const name of declaredNames) {
        if (!specNames.includes(name)) {
          throw new BundleError(
            `${where} ONNX input "${name}" is not declared in the manifest, which has inputs [${specNames.join(', ')}]`,
          );
        }
      }
    }
    for (const t of spec[side]) {
      const d = declared[side].find((x) => x.name === t.name)!;
      const at = `[bundle:${bundleName}, model:${modelKey}, ${kind}:${t.name}]`;
      if (d.dtype !== t.dtype) {
        throw new BundleError(`${at} manifest says ${t.dtype}, the ONNX file declares ${d.dtype}`);
      }
      if (d.shape.length > 0 && d.shape.length !== t.shape.length) {
        throw new BundleError(
          `${at} manifest shape ${formatShape(t.shape)} has rank ${t.shape.length}, the ONNX file declares ${formatShape(d.shape)}`,
        );
      }
      d.shape.forEach((dim, i) => {
        const want = t.shape[i];
        if (typeof dim === 'number' && dim > 0 && typeof want === 'number' && dim !== want) {
          throw new BundleError(
            `${at} manifest shape ${formatShape(t.shape)} disagrees with the ONNX file's ${formatShape(d.shape)} at axis ${i}`,
          );
        }
      });
    }
  }
}

/** Symbol values implied by the bundle geometry, checked on top of per-run consistency. */
export type SymbolRelations = (symbols: Map<string, number>) => string | null;

function bindTensor(
  where: string,
  spec: TensorSpec,
  dtype: TensorDtype,
  dims: readonly number[],
  symbols: Map<string, number>,
  fail: (message: string) => never,
): void {
  const expected = `${spec.dtype} ${formatShape(spec.shape)}`;
  const got = `${dtype} ${formatShape(dims)}`;
  if (dtype !== spec.dtype || dims.length !== spec.shape.length)
    fail(`${where} expected ${expected}, got ${got}`);
  spec.shape.forEach((want, i) => {
    const size = dims[i]!;
    if (typeof want === 'number') {
      if (size !== want) fail(`${where} expected ${expected}, got ${got} (axis ${i})`);
      return;
    }
    const bound = symbols.get(want);
    if (bound === undefined) symbols.set(want, size);
    else if (bound !== size) {
      fail(`${where} expected ${expected} with ${want} = ${bound} (bound by an earlier tensor), got ${got}`);
    }
  });
}

/**
 * Validates run feeds against the manifest (names, dtypes, shapes, consistent symbols)
 * and returns the symbol bindings. Errors look like
 * `[bundle:unet_student, input:timestep] expected float32 [batch], got int64 [1]`.
 */
export function checkFeeds(modelKey: string, spec: ModelSpec, feeds: TensorMap): Map<string, number> {
  const symbols = new Map<string, number>();
  const fail = (message: string): never => {
    throw new InferenceError(message);
  };
  const names = spec.inputs.map((t) => t.name);
  for (const name of Object.keys(feeds)) {
    if (!names.includes(name))
      fail(`[bundle:${modelKey}, input:${name}] is not an input; inputs are [${names.join(', ')}]`);
  }
  for (const t of spec.inputs) {
    const feed = feeds[t.name];
    const where = `[bundle:${modelKey}, input:${t.name}]`;
    if (!feed) fail(`${where} is missing; inputs are [${names.join(', ')}]`);
    const f = feed!;
    if (f.data.length !== elementCount(f.dims)) {
      fail(
        `${where} holds ${f.data.length} values but dims ${formatShape(f.dims)} need ${elementCount(f.dims)}`,
      );
    }
    bindTensor(where, t, f.dtype, f.dims, symbols, fail);
  }
  return symbols;
}

/** Validates outputs of a run against the manifest, with symbols bound by the feeds. */
export function checkOutputs(
  modelKey: string,
  spec: ModelSpec,
  outputs: TensorMap,
  symbols: Map<string, number>,
  relations?: SymbolRelations,
): void {
  const fail = (message: string): never => {
    throw new BundleError(`${message}; the model disagrees with its manifest entry`);
  };
  for (const t of spec.outputs) {
    const out = outputs[t.name];
    const where = `[bundle:${modelKey}, output:${t.name}]`;
    if (!out) fail(`${where} was not produced`);
    bindTensor(where, t, out!.dtype, out!.dims, symbols, fail);
  }
  const broken = relations?.(symbols);
  if (broken) fail(`[bundle:${modelKey}] ${broken}`);
}

/**
 * The symbol relations of the v1 format: melFrames = frames * r, samples = melFrames * hop,
 * classes = len(classes). Only relations whose symbols are all bound are checked.
 */
export function bundleSymbolRelations(geometry: {
  melFramesPerLatentFrame: number;
  hopSamples: number;
  classCount: number;
}): SymbolRelations {
  return (s) => {
    const frames = s.get('frames');
    const melFrames = s.get('melFrames');
    const samples = s.get('samples');
    const classes = s.get('classes');
    if (
      frames !== undefined &&
      melFrames !== undefined &&
      melFrames !== frames * geometry.melFramesPerLatentFrame
    ) {
      return `melFrames = ${melFrames} but frames = ${frames} needs ${frames * geometry.melFramesPerLatentFrame}`;
    }
    if (melFrames !== undefined && samples !== undefined && samples !== melFrames * geometry.hopSamples) {
      return `samples = ${samples} but melFrames = ${melFrames} needs ${melFrames * geometry.hopSamples}`;
    }
    if (classes !== undefined && classes !== geometry.classCount) {
      return `classes = ${classes} but the manifest lists ${geometry.classCount} classes`;
    }
    return null;
  };
}
