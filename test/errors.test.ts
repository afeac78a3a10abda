import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MediasoupMissingError } from '../src/cli/import-serve.js';
import {
  BundleError,
  EXIT_CODES,
  exitCodeTable,
  FoleyError,
  InferenceError,
  InvalidStateError,
  MediaInputError,
  OutputError,
  UsageError,
} from '../src/errors.js';
import { SoundtrackError } from '../src/evaluation/soundtrack-reader.js';
import { OpusEncoderError } from '../src/media/opus-encoder.js';
import { packageRoot } from '../src/models/bundle.js';
import { ClientPagesMissingError } from '../src/server/clientBuild.js';
import { WhipOfferError } from '../src/server/WhipSdp.js';
import { AttachError, UnsupportedCodecError } from '../src/sfu/errors.js';
import { TrainerFailedError, TrainingEnvironmentError } from '../src/training/training-errors.js';

/** One instance of every FoleyError subclass, by class name. */
const INSTANCES: Record<string, FoleyError> = {
  UsageError: new UsageError('m'),
  BundleError: new BundleError('m'),
  MediaInputError: new MediaInputError('m'),
  OutputError: new OutputError('m'),
  InferenceError: new InferenceError('m'),
  InvalidStateError: new InvalidStateError('m'),
  SoundtrackError: new SoundtrackError('m'),
  OpusEncoderError: new OpusEncoderError('m'),
  UnsupportedCodecError: new UnsupportedCodecError('video/AV1', ['video/VP8']),
  AttachError: new AttachError('m'),
  ClientPagesMissingError: new ClientPagesMissingError('m'),
  WhipOfferError: new WhipOfferError('m'),
  MediasoupMissingError: new MediasoupMissingError('m'),
  TrainingEnvironmentError: new TrainingEnvironmentError('m'),
  TrainerFailedError: new TrainerFailedError('m'),
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Names of the classes under src/ and pipelines/ whose `extends` chain reaches FoleyError. */
function foleyErrorClassesInSource(): string[] {
  const root = packageRoot();
  const parents = new Map<string, string>();
  for (const file of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'pipelines'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/class\s+(\w+)\s+extends\s+(\w+)/g))
      parents.set(m[1]!, m[2]!);
  }
  const reaches = (name: string, seen = new Set<string>()): boolean => {
    if (name === 'FoleyError') return true;
    const parent = parents.get(name);
    if (!parent || seen.has(name)) return false;
    seen.add(name);
    return reaches(parent, seen);
  };
  return [...parents.keys()].filter((name) => name !== 'FoleyError' && reaches(name)).sort();
}

describe('exit codes', () => {
  const table = Object.values(EXIT_CODES);

  it('gives every FoleyError subclass in the source an instance checked here', () => {
    assert.deepEqual(foleyErrorClassesInSource(), Object.keys(INSTANCES).sort());
  });

  it('has every FoleyError subclass exit with a code from the table', () => {
    const codes = new Set<number>(table.map((e) => e.code));
    for (const [name, error] of Object.entries(INSTANCES)) {
      assert.ok(error instanceof FoleyError, name);
      assert.equal(error.name, name);
      assert.ok(codes.has(error.exitCode), `${name} exits with ${error.exitCode}, not in EXIT_CODES`);
    }
  });

  it('describes each code once, and the codes are distinct', () => {
    assert.equal(new Set(table.map((e) => e.code)).size, table.length);
    for (const { code, meaning } of table) {
      assert.ok(Number.isInteger(code) && code > 0, `code ${code}`);
      assert.ok(meaning.trim().length > 10, `code ${code} has no description`);
    }
  });

  it('keeps the numbers the README and scripts rely on', () => {
    assert.deepEqual(Object.fromEntries(Object.entries(EXIT_CODES).map(([k, v]) => [k, v.code])), {
      unexpected: 1,
      usage: 2,
      bundle: 3,
      mediaInput: 4,
      output: 5,
      inference: 6,
      sfu: 7,
      opus: 8,
      signal: 128,
    });
  });

  it('prints one line per code in the help table', () => {
    const lines = exitCodeTable().split('\n');
    assert.equal(lines.length, table.length);
    for (const { code, meaning } of table) {
      assert.ok(
        lines.some(
          (l) => l.includes(meaning) && l.trimStart().startsWith(code === 128 ? '128+N' : String(code)),
        ),
        `no line for ${code}`,
      );
    }
  });
});
