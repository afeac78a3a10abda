/**
 * Writes the generated track where the user asked, chosen by extension: `.wav` (16-bit PCM
 * at the model rate), `.mp4` (AAC 48 kHz) or `.mkv` (Opus 48 kHz, or AAC) with the input's
 * video stream copied. Atomic: the file appears whole or not at all.
 */
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { OutputError } from '../errors.js';
import { writeAtomically } from './atomic-output.js';
import type { AudioCodecName } from './audio-encoding.js';
import { muxWithVideo } from './video-muxer.js';
import { encodeWav } from './wav-file.js';

export type OutputKind = 'wav' | 'mp4' | 'mkv';

export function outputKindOf(path: string): OutputKind {
  const ext = extname(path).toLowerCase();
  if (ext === '.wav') return 'wav';
  if (ext === '.mp4' || ext === '.m4v' || ext === '.mov') return 'mp4';
  if (ext === '.mkv') return 'mkv';
  throw new OutputError(`[output:${path}] unknown output type "${ext || '(none)'}"; use .wav, .mp4 or .mkv`);
}

export interface FoleyOutputRequest {
  outputPath: string;
  waveform: Float32Array;
  sampleRate: number;
  /** The video whose stream is copied into .mp4/.mkv outputs. */
  videoInput: string;
  audioCodec?: AudioCodecName;
}

export async function writeFoleyOutput(request: FoleyOutputRequest): Promise<OutputKind> {
  const kind = outputKindOf(request.outputPath);
  await writeAtomically(
    request.outputPath,
    async (temp) => {
      if (kind === 'wav') {
        await writeFileToDisk(temp, encodeWav(request.waveform, request.sampleRate));
        return;
      }
      await muxWithVideo({
        videoInput: request.videoInput,
        waveform: request.waveform,
        sampleRate: request.sampleRate,
        outputPath: temp,
        outputLabel: request.outputPath,
        container: kind,
        audioCodec: request.audioCodec,
      });
    },
    { input: request.videoInput },
  );
  return kind;
}

/** Writes and fsyncs, so a late ENOSPC surfaces here and not after the rename. */
async function writeFileToDisk(path: string, bytes: Uint8Array): Promise<void> {
  const file = await open(path, 'wx');
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
}
