/**
 * Typed errors of the engine. Every message carries its context in brackets
 * (`[bundle:unet_student, input:timestep]`), what was expected versus what was found,
 * and where useful what to do next. `exitCode` is what the CLI exits with.
 */

/**
 * Every exit status the `foley` command ends with, and what it means: the one place the
 * numbers live (each error class takes its `exitCode` from here; the README's table is this one).
 */
export const EXIT_CODES = Object.freeze({
  unexpected: Object.freeze({
    code: 1,
    meaning:
      'unexpected error; also a call on something already closed, a missing optional part (mediasoup, the client pages)',
  }),
  usage: Object.freeze({
    code: 2,
    meaning: 'bad command line: unknown flag, missing value, value out of range',
  }),
  bundle: Object.freeze({
    code: 3,
    meaning: 'model bundle missing, malformed, or disagreeing with its manifest',
  }),
  mediaInput: Object.freeze({
    code: 4,
    meaning: 'input media missing, corrupt, truncated, without a video stream (or without audio for --mix)',
  }),
  output: Object.freeze({
    code: 5,
    meaning: 'output path not writable, or an output format foley cannot produce',
  }),
  inference: Object.freeze({
    code: 6,
    meaning: 'a model run failed, or inputs that do not match its signature',
  }),
  sfu: Object.freeze({
    code: 7,
    meaning: 'live server (SFU): unsupported published codec, or a producer or router foley cannot attach to',
  }),
  opus: Object.freeze({ code: 8, meaning: 'Opus encoder missing from the FFmpeg build, or failing' }),
  signal: Object.freeze({
    code: 128,
    meaning:
      'interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP); a partial render output is removed',
  }),
} as const);

export type ExitCodeName = keyof typeof EXIT_CODES;

/** The exit-code table as text, one `code  meaning` line each (for help and the README). */
export function exitCodeTable(): string {
  return Object.values(EXIT_CODES)
    .map(
      ({ code, meaning }) =>
        `  ${code === EXIT_CODES.signal.code ? '128+N' : String(code).padEnd(5)}  ${meaning}`,
    )
    .join('\n');
}

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
  readonly exitCode = EXIT_CODES.usage.code;
}

/** A model folder that is missing, malformed, or disagrees with its manifest. */
export class BundleError extends FoleyError {
  readonly code = 'BUNDLE';
  readonly exitCode = EXIT_CODES.bundle.code;
}

/** Input media that cannot be read: missing, corrupt, truncated, or without a video stream. */
export class MediaInputError extends FoleyError {
  readonly code = 'MEDIA_INPUT';
  readonly exitCode = EXIT_CODES.mediaInput.code;
}

/** An output path that cannot be written, or an output format we cannot produce. */
export class OutputError extends FoleyError {
  readonly code = 'OUTPUT';
  readonly exitCode = EXIT_CODES.output.code;
}

/** A model run that failed, or inputs that do not match a model's declared signature. */
export class InferenceError extends FoleyError {
  readonly code = 'INFERENCE';
  readonly exitCode = EXIT_CODES.inference.code;
}

/** A call on something already closed (a runner, a stream). */
export class InvalidStateError extends FoleyError {
  readonly code = 'INVALID_STATE';
  readonly exitCode = EXIT_CODES.unexpected.code;
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
