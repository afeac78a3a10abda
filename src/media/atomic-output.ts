/**
 * Output files appear whole or not at all: everything is written to a temporary file
 * beside the target, then renamed over it. Failures remove the temporary file.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { OutputError } from '../errors.js';

/**
 * Fails fast, before any work, when the output cannot be written: missing or unwritable
 * folder, or a target that is a folder.
 */
export function assertWritableOutput(pathArg: string): void {
  const path = resolve(pathArg);
  const dir = dirname(path);
  if (!existsSync(dir)) throw new OutputError(`[output:${pathArg}] folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new OutputError(`[output:${pathArg}] ${dir} is not a folder`);
  if (existsSync(path) && statSync(path).isDirectory())
    throw new OutputError(`[output:${pathArg}] is a folder`);
  try {
    accessSync(dir, constants.W_OK);
    if (existsSync(path)) accessSync(path, constants.W_OK);
  } catch {
    throw new OutputError(`[output:${pathArg}] is not writable (permission denied on ${dir})`);
  }
}

/** Temporary path beside the target, keeping its extension so format detection still works. */
export function temporaryPathFor(pathArg: string): string {
  const path = resolve(pathArg);
  const ext = extname(path);
  return join(
    dirname(path),
    `.${basename(path, ext)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp${ext}`,
  );
}

/** Runs `write(tempPath)` and renames the result to `path`; removes the temp file on failure. */
export async function writeAtomically<T>(
  pathArg: string,
  write: (tempPath: string) => Promise<T>,
): Promise<T> {
  assertWritableOutput(pathArg);
  const temp = temporaryPathFor(pathArg);
  try {
    const result = await write(temp);
    await rename(temp, resolve(pathArg));
    return result;
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof Error && 'code' in error && (error as NodeJS.ErrnoException).syscall) {
      throw new OutputError(`[output:${pathArg}] ${error.message}`, { cause: error });
    }
    throw error;
  }
}
