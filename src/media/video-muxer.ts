/**
 * Writes an MP4 or MKV with the input's ORIGINAL video stream copied packet for packet (no
 * re-encode) and the generated track as its audio: AAC for MP4, Opus (default) or AAC for
 * MKV, at 48 kHz. Any audio the input had is replaced. This is where a sample leaves.
 *
 * The audio arrives in pieces while the render runs (`write`) and is encoded and written at
 * once, interleaved with the video packets up to its time, so nothing grows with the clip.
 * Every write goes through a CheckedFileSink, so a cut file is an error, never a result.
 */
import './node-av-setup.js';
import { Demuxer, type Encoder, Muxer } from 'node-av/api';
import type { Packet, Stream } from 'node-av/lib';
import { FoleyError, MediaInputError, OutputError } from '../errors.js';
import {
  type AudioCodecName,
  createAudioEncoder,
  OUTPUT_SAMPLE_RATE,
  WaveformEncoder,
} from './audio-encoding.js';
import { CheckedFileSink } from './checked-file-sink.js';

export type ContainerName = 'mp4' | 'mkv';

const IO_BUFFER_BYTES = 64 * 1024;

export interface MuxTarget {
  videoInput: string;
  /** Sample rate of the waveform pushed. */
  sampleRate: number;
  /** Path to write (a temporary path; see atomic-output.ts). */
  outputPath: string;
  /** The path the user asked for, named in errors (default: outputPath). */
  outputLabel?: string;
  container: ContainerName;
  audioCodec?: AudioCodecName;
}

export interface MuxRequest extends MuxTarget {
  waveform: Float32Array;
}

export function defaultAudioCodec(container: ContainerName): AudioCodecName {
  return container === 'mp4' ? 'aac' : 'opus';
}

function seconds(pts: bigint, tb: { num: number; den: number }): number {
  return (Number(pts) * tb.num) / tb.den;
}

export class VideoMuxer {
  private closed = false;

  private constructor(
    private readonly target: MuxTarget,
    private readonly input: Demuxer,
    private readonly videoStream: Stream,
    private readonly encoder: Encoder,
    private readonly waveformEncoder: WaveformEncoder,
    private readonly sink: CheckedFileSink,
    private readonly output: Muxer,
    private readonly streams: { video: number; audio: number },
  ) {}

  /** Opens the input (for its video packets), the encoder and the output file. */
  static async open(target: MuxTarget): Promise<VideoMuxer> {
    const label = target.outputLabel ?? target.outputPath;
    const codec = target.audioCodec ?? defaultAudioCodec(target.container);
    if (target.container === 'mp4' && codec !== 'aac') {
      throw new OutputError(`[output:${label}] MP4 output carries AAC; use .mkv for Opus`);
    }
    let input: Demuxer;
    try {
      input = await Demuxer.open(target.videoInput);
    } catch (error) {
      throw new MediaInputError(
        `[media:${target.videoInput}] cannot reopen for muxing: ${(error as Error).message}`,
      );
    }
    let encoder: Encoder | undefined;
    let waveformEncoder: WaveformEncoder | undefined;
    let sink: CheckedFileSink | undefined;
    let output: Muxer | undefined;
    try {
      const videoStream = input.video();
      if (!videoStream) throw new MediaInputError(`[media:${target.videoInput}] has no video stream`);
      encoder = await createAudioEncoder(codec);
      try {
        sink = new CheckedFileSink(target.outputPath);
      } catch (error) {
        throw new OutputError(`[output:${label}] cannot create: ${(error as Error).message}`, {
          cause: error,
        });
      }
      output = await Muxer.open(sink.callbacks(), {
        format: target.container === 'mp4' ? 'mp4' : 'matroska',
        bufferSize: IO_BUFFER_BYTES,
        maxPacketSize: 0,
        exitOnError: true,
        useAsyncWrite: false,
      });
      const video = output.addStream(videoStream);
      // Added before the first frame: the muxer sets the global-header flag the encoder opens with.
      const audio = output.addStream(encoder);
      waveformEncoder = new WaveformEncoder(encoder, codec, target.sampleRate);
      return new VideoMuxer(target, input, videoStream, encoder, waveformEncoder, sink, output, {
        video,
        audio,
      });
    } catch (error) {
      waveformEncoder?.close();
      output?.closeSync();
      encoder?.close();
      try {
        sink?.close();
      } catch {
        // the open error is the one to report
      }
      await input.close();
      throw error;
    }
  }

  private get label(): string {
    return this.target.outputLabel ?? this.target.outputPath;
  }

  /**
   * Encodes the next piece of the waveform and writes its packets, each after the video
   * packets that come before it in time (the muxer then has little to buffer).
   */
  write(samples: Float32Array): void {
    if (this.closed) throw new OutputError(`[output:${this.label}] write after the muxer closed`);
    let packets: Packet[] = [];
    try {
      packets = this.waveformEncoder.push(samples);
      this.writeAudio(packets);
    } catch (error) {
      throw this.failure(error);
    } finally {
      for (const p of packets) p.free();
    }
  }

  /**
   * Flushes the encoder, writes the video packets left and the trailer, and closes the
   * file. Throws OutputError naming the output if any byte failed to reach the file.
   */
  async finish(): Promise<{ videoPackets: number; audioPackets: number }> {
    if (this.closed) throw new OutputError(`[output:${this.label}] finish after the muxer closed`);
    let muxError: unknown = null;
    let packets: Packet[] = [];
    try {
      packets = this.waveformEncoder.flush();
      this.writeAudio(packets);
      this.writeVideoBefore(Number.POSITIVE_INFINITY);
    } catch (error) {
      muxError = error;
    } finally {
      for (const p of packets) p.free();
    }
    // The trailer is written here (node-av ignores its errors: the sink keeps any I/O failure).
    await this.release();
    try {
      this.sink.close();
    } catch {
      // kept in sink.error, reported below
    }
    if (muxError || this.sink.error) throw this.failure(muxError);
    await this.checkReadable();
    return { ...this.written };
  }

  /**
   * Reopens the finished file: node-av does not report a trailer that failed for a reason
   * other than I/O, and an MP4 without its trailing index cannot be opened at all.
   */
  private async checkReadable(): Promise<void> {
    let written: Demuxer;
    try {
      written = await Demuxer.open(this.target.outputPath);
    } catch (error) {
      throw new OutputError(
        `[output:${this.label}] the written file does not open as ${this.target.container.toUpperCase()}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      if (!written.video() || !written.audio()) {
        throw new OutputError(`[output:${this.label}] the written file lacks its video or audio stream`);
      }
    } finally {
      await written.close();
    }
  }

  private readonly written = { videoPackets: 0, audioPackets: 0 };
  private videoSource: Generator<Packet | null> | null = null;
  /** The next video packet, read but not yet written. */
  private nextVideo: Packet | null = null;
  private videoEnded = false;

  private writeAudio(packets: Packet[]): void {
    const audioTb = { num: 1, den: OUTPUT_SAMPLE_RATE };
    for (const packet of packets) {
      this.writeVideoBefore(seconds(packet.pts, audioTb));
      this.output.writePacketSync(packet, this.streams.audio);
      this.written.audioPackets++;
    }
  }

  /** Writes the input's video packets whose time is before `limitSeconds`. */
  private writeVideoBefore(limitSeconds: number): void {
    const videoTb = this.videoStream.timeBase;
    for (;;) {
      if (!this.nextVideo && !this.videoEnded) {
        this.videoSource ??= this.input.packetsSync(this.videoStream.index);
        const next = this.videoSource.next();
        if (next.done || !next.value) this.videoEnded = true;
        else this.nextVideo = next.value;
      }
      const packet = this.nextVideo;
      if (!packet || seconds(packet.dts ?? packet.pts, videoTb) >= limitSeconds) return;
      this.nextVideo = null;
      try {
        this.output.writePacketSync(packet, this.streams.video);
      } finally {
        packet.free();
      }
      this.written.videoPackets++;
    }
  }

  /** The error to report: the file's own (EFBIG, ENOSPC, EIO...) explains a muxer failure best. */
  private failure(error: unknown): FoleyError {
    const io = this.sink.error;
    if (io) {
      return new OutputError(
        `[output:${this.label}] writing failed after ${this.sink.bytesWritten} bytes: ${io.message}`,
        { cause: io },
      );
    }
    if (error instanceof FoleyError) return error;
    return new OutputError(`[output:${this.label}] muxing failed: ${(error as Error)?.message ?? error}`, {
      cause: error,
    });
  }

  /** Stops without finishing: frees everything and closes the file (the caller removes it). */
  async abort(): Promise<void> {
    if (this.closed) return;
    await this.release();
    try {
      this.sink.close();
    } catch {
      // aborting: the file is being discarded
    }
  }

  private async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.nextVideo?.free();
    this.nextVideo = null;
    this.videoSource?.return(null);
    this.waveformEncoder.close();
    this.output.closeSync();
    this.encoder.close();
    await this.input.close();
  }
}

/** Muxes a whole waveform with the input's video (see VideoMuxer). */
export async function muxWithVideo(
  request: MuxRequest,
): Promise<{ videoPackets: number; audioPackets: number }> {
  const muxer = await VideoMuxer.open(request);
  try {
    muxer.write(request.waveform);
  } catch (error) {
    await muxer.abort();
    throw error;
  }
  return muxer.finish();
}
