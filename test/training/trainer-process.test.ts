import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BundleError,
  EXIT_CODES,
  InferenceError,
  MediaInputError,
  OutputError,
  UsageError,
} from '../../src/errors.js';
import {
  errorForExit,
  parseTrainerLine,
  trainerArgs,
  trainerEnvironment,
} from '../../src/training/trainer-process.js';
import { TrainerFailedError, TrainingEnvironmentError } from '../../src/training/training-errors.js';

describe('trainer process', () => {
  it('reads the trainer’s JSON lines and passes over everything else', () => {
    assert.deepEqual(
      parseTrainerLine('{"event":"progress","step":3,"steps":10,"loss":0.1,"elapsedS":5,"etaS":12}'),
      {
        event: 'progress',
        step: 3,
        steps: 10,
        loss: 0.1,
        elapsedS: 5,
        etaS: 12,
      },
    );
    assert.deepEqual(parseTrainerLine('  {"event":"checkpoint","step":4}\n'), {
      event: 'checkpoint',
      step: 4,
    });
    for (const line of [
      'UserWarning: something about NumPy',
      '{not json',
      '{"event":"mystery","step":1}',
      '{"event":"progress","step":3}',
      '[1, 2]',
      '',
    ])
      assert.equal(parseTrainerLine(line), null, line);
  });

  it('passes the time cap, the end-to-end recipe, --scratch and --resume only when asked', () => {
    const base = {
      bundle: '/b',
      data: '/w/data',
      run: '/w/run',
      out: '/o',
      name: 'o',
      steps: 12,
      device: 'cpu' as const,
      batch: 2,
      seed: 0,
      resume: false,
    };
    const plain = trainerArgs(base);
    assert.deepEqual(plain.slice(0, 2), ['-m', 'foley.finetune']);
    assert.ok(
      !plain.includes('--resume') && !plain.includes('--time-cap-s') && !plain.includes('--train-video'),
    );
    const capped = trainerArgs({ ...base, resume: true, timeCapS: 90, trainVideo: true });
    const recipe = ['--train-video', '--augment', '--onset-loss', '0.1', '--contact-gate'];
    assert.deepEqual(capped.slice(-8), ['--time-cap-s', '90', ...recipe, '--resume']);
    const scratch = trainerArgs({ ...base, trainVideo: true, scratch: true });
    assert.deepEqual(scratch.slice(-6), [...recipe, '--scratch']);
    assert.ok(!plain.includes('--contact-gate') && !plain.includes('--onset-loss'));
    assert.ok(!plain.includes('--scratch'));
    assert.equal(capped[capped.indexOf('--steps') + 1], '12');
  });

  it('names a missing Python environment and the command that makes it', () => {
    assert.throws(
      () => trainerEnvironment({ python: '/nonexistent/.venv/bin/python' }),
      (e: unknown) => {
        assert.ok(e instanceof TrainingEnvironmentError);
        assert.equal(e.exitCode, EXIT_CODES.unexpected.code);
        assert.match(
          e.message,
          /Python environment is missing \(no \/nonexistent\/\.venv\/bin\/python\): run npm run setup:python/,
        );
        return true;
      },
    );
    assert.throws(
      () => trainerEnvironment({ trainingDir: '/nonexistent/training' }),
      /training package is missing/,
    );
  });

  it('turns the trainer’s exit status into the typed error of its kind', () => {
    assert.ok(errorForExit(2, null, '[args] x') instanceof UsageError);
    assert.ok(errorForExit(3, null, '[bundle:x] y') instanceof BundleError);
    assert.ok(errorForExit(4, null, '[data:x] y') instanceof MediaInputError);
    assert.ok(errorForExit(5, null, '[out:x] y') instanceof OutputError);
    assert.ok(errorForExit(6, null, '[eval] y') instanceof InferenceError);
    const other = errorForExit(1, null, '[train] boom');
    assert.ok(other instanceof TrainerFailedError);
    assert.match(other.message, /boom \(exit 1\)/);
    assert.match(errorForExit(null, 'SIGKILL', 'x').message, /exit SIGKILL/);
  });
});
