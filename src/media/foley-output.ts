/**
 * Writes the generated track where the user asked, chosen by extension: `.wav` (16-bit PCM
 * at the model rate), `.mp4` (AAC 48 kHz) or `.mkv` (Opus 48 kHz, or AAC) with the input's
 * video stream copied. Atomic: the file appears whole or not at all.
 *
 * The track is written as it is generated (`FoleyOutputWriter.write`), so a long render
 * never holds its whole waveform: WAV samples go straight to the temporary file, MP4/MKV
 * audio is encoded as it comes and muxed with the video at `finish`.
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { FoleyError, OutputError } from '../errors.js';
import { assertWritableOutput, temporaryPathFor } from './atomic-output.js';
import type { AudioCodecName } from './audio-encoding.js';
import { VideoMuxer } from './video-muxer.js';
import { encodePcm16, WAV_HEADER_BYTES, wavHeader } from './wav-file.js';

export type OutputKind = 'wav' | 'mp4' | 'mkv';

export function outputKindOf(path: string): OutputKind {
  const ext = extname(path).toLowerCase();
  if (ext === '.wav') return 'wav';
  if (ext === '.mp4' || ext === '.m4v' || ext === '.mov') return 'mp4';
  if (ext === '.mkv') return 'mkv';
  throw new OutputError(`[output:${path}] unknown output type "${ext || '(none)'}"; use .wav, .mp4 or .mkv`);
}

export interface FoleyOutputTarget {
  outputPath: string;
  sampleRate: number;
  /** The video whose stream is copied into .mp4/.mkv outputs. */
  videoInput: string;
  audioCodec?: AudioCodecName;
}

export interface FoleyOutputRequest extends FoleyOutputTarget {
  waveform: Float32Array;
}

/** Where the samples of one output go before the rename: a WAV file or a muxer. */
interface TrackSink {
  write(samples: Float32Array): void;
  finish(): Promise<unknown>;
  abort(): Promise<void>;
}

/** 16-bit PCM appended to a file whose header is patched with the sizes at the end. */
class WavSink implements TrackSink {
  private fd: number | null;
  private dataBytes = 0;

  constructor(
    path: string,
    private readonly sampleRate: number,
  ) {
    this.fd = openSync(path, 'wx');
    writeSync(this.fd, wavHeader(sampleRate, 0));
  }

  write(samples: Float32Array): void {
    if (this.fd === null) throw new Error('WAV file already closed');
    const pcm = encodePcm16(samples);
    let done = 0;
    while (done < pcm.length) {
      done += writeSync(this.fd, pcm, done, pcm.length - done, WAV_HEADER_BYTES + this.dataBytes + done);
    }
    this.dataBytes += pcm.length;
  }

  async finish(): Promise<void> {
    const fd = this.fd;
    if (fd === null) throw new Error('WAV file already closed');
    this.fd = null;
    try {
      writeSync(fd, wavHeader(this.sampleRate, this.dataBytes), 0, WAV_HEADER_BYTES, 0);
      // A late ENOSPC or EIO surfaces here, not after the rename.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  async abort(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeSync(fd);
  }
}

function asOutputError(label: string, error: unknown): unknown {
  if (error instanceof FoleyError) return error;
  const e = error as NodeJS.ErrnoException;
  if (e?.syscall) return new OutputError(`[output:${label}] ${e.message}`, { cause: error });
  return error;
}

/**
 * An output being written: `write` pieces of the track in order, then `finish` (renames the
 * temporary file over the target) or `abort` (removes it). Errors are OutputErrors naming
 * the path the user asked for.
 */
export class FoleyOutputWriter {
  private done = false;
  /** Samples written so far. */
  samples = 0;

  private constructor(
    readonly kind: OutputKind,
    private readonly path: string,
    private readonly tempPath: string,
    private readonly sink: TrackSink,
  ) {}

  static async open(target: FoleyOutputTarget): Promise<FoleyOutputWriter> {
    const kind = outputKindOf(target.outputPath);
    assertWritableOutput(target.outputPath, { input: target.videoInput });
    const temp = temporaryPathFor(target.outputPath);
    try {
      const sink: TrackSink =
        kind === 'wav'
          ? new WavSink(temp, target.sampleRate)
          : await VideoMuxer.open({
              videoInput: target.videoInput,
              sampleRate: target.sampleRate,
              outputPath: temp,
              outputLabel: target.outputPath,
              container: kind,
              audioCodec: target.audioCodec,
            });
      return new FoleyOutputWriter(kind, target.outputPath, temp, sink);
    } catch (error) {
      await rm(temp, { force: true });
      throw asOutputError(target.outputPath, error);
    }
  }

  write(samples: Float32Array): void {
    if (this.done) throw new OutputError(`[output:${this.path}] write after the output was closed`);
    try {
      this.sink.write(samples);
      this.samples += samples.length;
    } catch (error) {
      throw asOutputError(this.path, error);
    }
  }

  async finish(): Promise<void> {
    if (this.done) throw new OutputError(`[output:${this.path}] finish after the output was closed`);
    this.done = true;
    try {
      await this.sink.finish();
      await rename(this.tempPath, resolve(this.path));
    } catch (error) {
      await rm(this.tempPath, { force: true });
      throw asOutputError(this.path, error);
    }
  }

  /**
   * Removes the temporary file at once, for a process about to exit on a signal (no await
   * will run). Leaves the writer unusable.
   */
  discardSync(): void {
    this.done = true;
    rmSync(this.tempPath, { force: true });
  }

  /** Discards the output: nothing is left at the target or beside it. Safe to call twice. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.sink.abort();
    } finally {
      await rm(this.tempPath, { force: true });
    }
  }
}

/** Writes a whole waveform (see FoleyOutputWriter). */
export async function writeFoleyOutput(request: FoleyOutputRequest): Promise<OutputKind> {
  const writer = await FoleyOutputWriter.open(request);
  try {
    writer.write(request.waveform);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.finish();
  return writer.kind;
}
