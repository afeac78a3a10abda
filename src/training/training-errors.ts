/**
 * Errors of `foley train` that no engine error class covers: a training environment that is
 * not there, and a trainer or child command that failed in a way the exit-code table has no row for.
 */
import { EXIT_CODES, FoleyError } from '../errors.js';

/** The Python environment or the training package `foley train` runs is missing (an optional part). */
export class TrainingEnvironmentError extends FoleyError {
  readonly code = 'TRAINING_ENVIRONMENT';
  readonly exitCode = EXIT_CODES.unexpected.code;
}

/** The trainer (or a scoring run) ended with a status that names no known problem. */
export class TrainerFailedError extends FoleyError {
  readonly code = 'TRAINER_FAILED';
  readonly exitCode = EXIT_CODES.unexpected.code;
}
