/**
 * Typed errors of the SFU layer, on the engine's FoleyError base. Messages carry
 * context in brackets, expected versus got, and what to do next.
 */
import { EXIT_CODES, FoleyError, InvalidStateError } from '../errors.js';

/** The published video uses a codec the ingest cannot depacketize or decode. */
export class UnsupportedCodecError extends FoleyError {
  readonly code = 'UNSUPPORTED_CODEC';
  readonly exitCode = EXIT_CODES.sfu.code;

  constructor(
    readonly mimeType: string,
    readonly supported: readonly string[],
  ) {
    super(
      `[sfu:ingest, codec:${mimeType}] unsupported video codec; expected one of ${supported.join(', ')}. Publish VP8 or H.264.`,
    );
  }
}

/** A producer that is not video, or a router that cannot carry the foley track. */
export class AttachError extends FoleyError {
  readonly code = 'ATTACH';
  readonly exitCode = EXIT_CODES.sfu.code;
}

export { InvalidStateError };
