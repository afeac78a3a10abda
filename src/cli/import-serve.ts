/**
 * Loads the live server's commands (serve.ts), which need mediasoup, an optional peer
 * dependency; render and eval never load them, so they run without mediasoup.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EXIT_CODES, FoleyError } from '../errors.js';

/** `foley serve` and `foley bench --live` need mediasoup, an optional peer dependency not installed. */
export class MediasoupMissingError extends FoleyError {
  readonly code = 'MEDIASOUP_MISSING';
  readonly exitCode = EXIT_CODES.unexpected.code;
}

/** The mediasoup worker binary mediasoup will spawn: MEDIASOUP_WORKER_BIN, else the package's build output. */
function mediasoupWorkerBin(): string {
  if (process.env.MEDIASOUP_WORKER_BIN) return process.env.MEDIASOUP_WORKER_BIN;
  let dir = dirname(createRequire(import.meta.url).resolve('mediasoup'));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'worker', 'out', 'Release', 'mediasoup-worker');
}

/** serve.ts, once mediasoup and its worker are known to be there; `command` names who asked. */
export async function importServe(command: string): Promise<typeof import('./serve.js')> {
  try {
    const serve = await import('./serve.js');
    const workerBin = mediasoupWorkerBin();
    if (!existsSync(workerBin)) {
      throw new MediasoupMissingError(
        `[${command}] the mediasoup worker is not built (no ${workerBin}): in a checkout run npm run setup:live; elsewhere reinstall mediasoup with its install script (make, g++ and Python <= 3.9) or set MEDIASOUP_WORKER_BIN`,
      );
    }
    return serve;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && /'mediasoup'/.test(e.message)) {
      throw new MediasoupMissingError(
        `[${command}] needs mediasoup, a peer dependency of live-foley that is not installed: npm install mediasoup@3.8.4 (its install builds the worker: make, g++ and Python <= 3.9)`,
        { cause: error },
      );
    }
    throw error;
  }
}
