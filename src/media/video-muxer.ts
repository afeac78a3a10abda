/**
 * Writes an MP4 or MKV with the input's ORIGINAL video stream copied packet for packet (no
 * re-encode) and the generated track as its audio: AAC for MP4, Opus (default) or AAC for
 * MKV, at 48 kHz. Any audio the input had is replaced. This is where a sample leaves.
 *
 * The audio arrives in pieces while the render runs (`write`); only its encoded packets are
 * held (96 kbit/s AAC: 22 MB for 30 minutes), and `finish` interleaves them with the video.
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

export class VideoMuxer {
  private audioPackets: Packet[] = [];
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

  /** Encodes the next piece of the waveform; its packets wait for `finish`. */
  write(samples: Float32Array): void {
    if (this.closed) throw new OutputError(`[output:${this.label}] write after the muxer closed`);
    this.audioPackets.push(...this.waveformEncoder.push(samples));
  }

  /**
   * Flushes the encoder, writes the video packets and the audio interleaved by time, then
   * the trailer. Throws OutputError naming the output if any byte failed to reach the file.
   */
  async finish(): Promise<{ videoPackets: number; audioPackets: number }> {
    if (this.closed) throw new OutputError(`[output:${this.label}] finish after the muxer closed`);
    let videoPackets = 0;
    let audioPackets = 0;
    let muxError: unknown = null;
    try {
      this.audioPackets.push(...this.waveformEncoder.flush());
      audioPackets = this.audioPackets.length;
      const audio = this.audioPackets;
      const videoTb = this.videoStream.timeBase;
      const seconds = (pts: bigint, tb: { num: number; den: number }): number =>
        (Number(pts) * tb.num) / tb.den;
      const audioTb = { num: 1, den: OUTPUT_SAMPLE_RATE };
      let a = 0;
      // Interleave by time: the muxer's sync queue orders packets across streams.
      for (const packet of this.input.packetsSync(this.videoStream.index)) {
        if (!packet) break;
        const t = seconds(packet.dts ?? packet.pts, videoTb);
        while (a < audio.length && seconds(audio[a]!.pts, audioTb) <= t) {
          this.output.writePacketSync(audio[a++]!, this.streams.audio);
        }
        try {
          this.output.writePacketSync(packet, this.streams.video);
        } finally {
          packet.free();
        }
        videoPackets++;
      }
      while (a < audio.length) this.output.writePacketSync(audio[a++]!, this.streams.audio);
    } catch (error) {
      muxError = error;
    }
    // The trailer is written here (node-av ignores its errors: the sink keeps any I/O failure).
    await this.release();
    try {
      this.sink.close();
    } catch (ioError) {
      // The file's own error (EFBIG, ENOSPC, EIO...) explains a muxer failure best.
      throw new OutputError(
        `[output:${this.label}] writing failed after ${this.sink.bytesWritten} bytes: ${(ioError as Error).message}`,
        { cause: ioError },
      );
    }
    if (muxError) {
      if (muxError instanceof FoleyError) throw muxError;
      throw new OutputError(
        `[output:${this.label}] muxing failed: ${(muxError as Error)?.message ?? muxError}`,
        {
          cause: muxError,
        },
      );
    }
    return { videoPackets, audioPackets };
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
    for (const p of this.audioPackets) p.free();
    this.audioPackets = [];
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
