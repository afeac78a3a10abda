/**
 * Output files appear whole or not at all: everything is written to a temporary file
 * beside the target, then renamed over it (FoleyOutputWriter). This file checks, before
 * any work, that the target can be written, and names the temporary file.
 */
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  realpathSync,
  rmSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { OutputError } from '../errors.js';

/** statfs magic numbers of kernel pseudo-filesystems, where a written file is not a file. */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0xcafe4a11, 'bpf'],
]);

function errnoText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e?.code ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
}

/** Real path of a file that may not exist yet: its folder's real path plus its name. */
function realTargetPath(path: string): string {
  return existsSync(path) ? realpathSync(path) : join(realpathSync(dirname(path)), basename(path));
}

/**
 * Fails fast, before any work, when the output cannot be written: missing or unwritable
 * folder (checked by creating and removing a probe file, since root passes access checks),
 * a kernel pseudo-filesystem such as /proc, a target that is a folder or a device, or a
 * target that is the input itself (which the rename would replace).
 */
export function assertWritableOutput(pathArg: string, options: { input?: string } = {}): void {
  const path = resolve(pathArg);
  const dir = dirname(path);
  const where = `[output:${pathArg}]`;
  if (!existsSync(dir)) throw new OutputError(`${where} folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new OutputError(`${where} ${dir} is not a folder`);
  const fs = PSEUDO_FILESYSTEMS.get(Number(statfsSync(dir).type));
  if (fs)
    throw new OutputError(`${where} ${dir} is on the kernel's ${fs} filesystem; write to a real folder`);
  if (existsSync(path)) {
    const target = statSync(path);
    if (target.isDirectory()) throw new OutputError(`${where} is a folder`);
    if (!target.isFile())
      throw new OutputError(`${where} exists and is not a regular file (a device or FIFO)`);
  }
  const input = options.input;
  if (input !== undefined && existsSync(input)) {
    const sameFile = (): boolean => {
      if (realpathSync(input) === realTargetPath(path)) return true;
      if (!existsSync(path)) return false;
      const a = statSync(input);
      const b = statSync(path);
      return a.dev === b.dev && a.ino === b.ino; // hard links
    };
    if (sameFile()) {
      throw new OutputError(`${where} is the input file itself; write the output to another path`);
    }
  }
  const probe = join(dir, `.foley-write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (error) {
    throw new OutputError(`${where} is not writable: cannot create a file in ${dir} (${errnoText(error)})`, {
      cause: error,
    });
  }
  rmSync(probe, { force: true });
  if (existsSync(path)) {
    try {
      accessSync(path, constants.W_OK);
    } catch (error) {
      throw new OutputError(`${where} is not writable (${errnoText(error)})`, { cause: error });
    }
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
