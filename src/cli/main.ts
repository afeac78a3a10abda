#!/usr/bin/env node
/**
 * The `foley` command: render | eval | train | bench | serve | token | help. Typed errors print one
 * line naming the problem and exit with their code (EXIT_CODES in src/errors.ts); for render,
 * FFmpeg's own error messages follow that line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_CODES, exitCodeTable, FoleyError } from '../errors.js';
import { capturedFfmpegLog, captureFfmpegLog } from '../media/ffmpeg-log.js';
import { packageRoot } from '../models/bundle.js';
import { importServe } from './import-serve.js';
import { renderCommand } from './render-command.js';
import { tokenCommand } from './token-command.js';

const USAGE = `usage: foley <command> [options]
  render <video> -o <out.wav|out.mp4|out.mkv>   generate foley for a video (--mix DB keeps its audio under it)
  eval <clips-dir> [--json]                     score onset F1, offset and class accuracy
  train <videos-dir> -o <bundle-dir>            fine-tune a bundle on one's own videos with sound
  bench [--json]                                per-stage times and real-time factor
  bench --live [--rooms N] [--json]             latency through the live server path
  serve [--port N] [--model DIR]                live foley server (publisher, OBS and viewer pages)
  token <room> [--role R] [--ttl S]             a room token and its page URL (secret: --secret or FOLEY_SECRET)
  help <command>                                the command's options, each with its default
  --version                                     print the version
Run foley <command> --help (or foley help <command>) for its options.

exit codes:
${exitCodeTable()}`;

const COMMANDS = ['render', 'eval', 'train', 'bench', 'serve', 'token'] as const;

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
    case 'train': {
      const { trainCommand } = await import('./train-command.js');
      return trainCommand(rest);
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
    case 'token':
      return tokenCommand(rest);
    case '-v':
    case '--version':
      process.stdout.write(
        `${JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version}\n`,
      );
      return 0;
    case 'help': {
      const [topic, ...extra] = rest;
      if (topic === undefined) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      if (extra.length > 0 && !(topic === 'bench' && extra.length === 1 && extra[0] === '--live')) {
        process.stderr.write(`foley help: expects one command, got "${rest.join(' ')}"\n${USAGE}\n`);
        return 2;
      }
      if (!(COMMANDS as readonly string[]).includes(topic)) {
        process.stderr.write(`foley help: unknown command "${topic}"\n${USAGE}\n`);
        return 2;
      }
      return main([topic, ...extra, '--help']);
    }
    case undefined:
    case '-h':
    case '--help':
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
      process.exitCode = EXIT_CODES.unexpected.code;
    }
  },
);
