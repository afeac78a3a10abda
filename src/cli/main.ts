#!/usr/bin/env node
/**
 * The `foley` command: render | eval | bench | serve. Typed errors print one line naming the
 * problem and exit with their code (src/errors.ts: usage 2, bundle 3, media input 4, output 5,
 * inference 6, ...); for render, FFmpeg's own error messages follow that line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FoleyError } from '../errors.js';
import { capturedFfmpegLog, captureFfmpegLog } from '../media/ffmpeg-log.js';
import { packageRoot } from '../models/bundle.js';
import { renderCommand } from './render-command.js';

/** `foley serve` and `foley bench --live` need mediasoup, an optional peer dependency not installed. */
class MediasoupMissingError extends FoleyError {
  readonly code = 'MEDIASOUP_MISSING';
  readonly exitCode = 1;
}

/** The mediasoup worker binary mediasoup will spawn: MEDIASOUP_WORKER_BIN, else the package's build output. */
function mediasoupWorkerBin(): string {
  if (process.env.MEDIASOUP_WORKER_BIN) return process.env.MEDIASOUP_WORKER_BIN;
  let dir = dirname(createRequire(import.meta.url).resolve('mediasoup'));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'worker', 'out', 'Release', 'mediasoup-worker');
}

/** The live server's commands; render and eval never load them, so they run without mediasoup. */
async function importServe(command: string): Promise<typeof import('./serve.js')> {
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

const USAGE = `usage: foley <command> [options]
  render <video> -o <out.wav|out.mp4|out.mkv>   generate foley for a video
  eval <clips-dir> [--json]                     score onset F1, offset and class accuracy
  bench [--json]                                per-stage times and real-time factor
  bench --live [--rooms N] [--json]             latency through the live server path
  serve [--port N] [--model DIR]                live foley server (publisher, OBS and viewer pages)
  --version                                     print the version
Run foley <command> --help for its options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'render':
      captureFfmpegLog();
      await renderCommand(rest);
      return 0;
    case 'eval': {
      const { evalCommand } = await import('./eval-command.js');
      return evalCommand(rest);
    }
    case 'bench': {
      if (rest.includes('--live')) {
        const { benchLiveCommand } = await importServe('bench --live');
        return benchLiveCommand(rest);
      }
      const { benchCommand } = await import('./bench-command.js');
      return benchCommand(rest);
    }
    case 'serve': {
      const { serveCommand } = await importServe('serve');
      return serveCommand(rest);
    }
    case '-v':
    case '--version':
      process.stdout.write(
        `${JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version}\n`,
      );
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`foley: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

/** FFmpeg's captured messages, indented under ours (empty when none). */
function ffmpegDetail(): string {
  const { lines, dropped } = capturedFfmpegLog();
  if (lines.length === 0) return '';
  const head =
    dropped > 0
      ? `  FFmpeg said (last ${lines.length} of ${lines.length + dropped} lines):`
      : '  FFmpeg said:';
  return `${[head, ...lines.map((l) => `    ${l}`)].join('\n')}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Ours first, so the first line of stderr says what went wrong; FFmpeg's detail after.
    if (error instanceof FoleyError) {
      process.stderr.write(`foley: ${error.message}\n${ffmpegDetail()}`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(
        `foley: unexpected error: ${(error as Error)?.stack ?? String(error)}\n${ffmpegDetail()}`,
      );
      process.exitCode = 1;
    }
  },
);
