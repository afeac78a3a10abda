/**
 * Typed errors of the engine. Every message carries its context in brackets
 * (`[bundle:unet_student, input:timestep]`), what was expected versus what was found,
 * and where useful what to do next. `exitCode` is what the CLI exits with.
 */

export abstract class FoleyError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown flag, missing value, value out of range. */
export class UsageError extends FoleyError {
  readonly code = 'USAGE';
  readonly exitCode = 2;
}

/** A model folder that is missing, malformed, or disagrees with its manifest. */
export class BundleError extends FoleyError {
  readonly code = 'BUNDLE';
  readonly exitCode = 3;
}

/** Input media that cannot be read: missing, corrupt, truncated, or without a video stream. */
export class MediaInputError extends FoleyError {
  readonly code = 'MEDIA_INPUT';
  readonly exitCode = 4;
}

/** An output path that cannot be written, or an output format we cannot produce. */
export class OutputError extends FoleyError {
  readonly code = 'OUTPUT';
  readonly exitCode = 5;
}

/** A model run that failed, or inputs that do not match a model's declared signature. */
export class InferenceError extends FoleyError {
  readonly code = 'INFERENCE';
  readonly exitCode = 6;
}

/** A call on something already closed (a runner, a stream). */
export class InvalidStateError extends FoleyError {
  readonly code = 'INVALID_STATE';
  readonly exitCode = 1;
}

/** Plain-data form of an error, for crossing a worker boundary. */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof FoleyError) {
    return { name: error.name, code: error.code, message: error.message, stack: error.stack };
  }
  if (error instanceof Error) {
    return { name: error.name, code: 'INTERNAL', message: error.message, stack: error.stack };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(error) };
}

/** Rebuilds the typed error from its serialized form; unknown codes become InferenceError. */
export function deserializeError(serialized: SerializedError): FoleyError {
  switch (serialized.code) {
    case 'BUNDLE':
      return new BundleError(serialized.message);
    case 'USAGE':
      return new UsageError(serialized.message);
    case 'MEDIA_INPUT':
      return new MediaInputError(serialized.message);
    case 'OUTPUT':
      return new OutputError(serialized.message);
    case 'INVALID_STATE':
      return new InvalidStateError(serialized.message);
    default:
      return new InferenceError(serialized.message);
  }
}
