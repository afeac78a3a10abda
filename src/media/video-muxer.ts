/**
 * Writes an MP4 or MKV with the input's ORIGINAL video stream copied packet for packet (no
 * re-encode) and the generated track as its audio: AAC for MP4, Opus (default) or AAC for
 * MKV, at 48 kHz. Any audio the input had is replaced. This is where a sample leaves.
 */
import './node-av-setup.js';
import { Demuxer, Muxer } from 'node-av/api';
import type { Packet } from 'node-av/lib';
import { FoleyError, MediaInputError, OutputError } from '../errors.js';
import { type AudioCodecName, createAudioEncoder, encodeWaveform } from './audio-encoding.js';
import { CheckedFileSink } from './checked-file-sink.js';

export type ContainerName = 'mp4' | 'mkv';

const IO_BUFFER_BYTES = 64 * 1024;

export interface MuxRequest {
  videoInput: string;
  waveform: Float32Array;
  sampleRate: number;
  /** Path to write (a temporary path; see atomic-output.ts). */
  outputPath: string;
  /** The path the user asked for, named in errors (default: outputPath). */
  outputLabel?: string;
  container: ContainerName;
  audioCodec?: AudioCodecName;
}

export function defaultAudioCodec(container: ContainerName): AudioCodecName {
  return container === 'mp4' ? 'aac' : 'opus';
}

export async function muxWithVideo(
  request: MuxRequest,
): Promise<{ videoPackets: number; audioPackets: number }> {
  const label = request.outputLabel ?? request.outputPath;
  const codec = request.audioCodec ?? defaultAudioCodec(request.container);
  if (request.container === 'mp4' && codec !== 'aac') {
    throw new OutputError(`[output:${label}] MP4 output carries AAC; use .mkv for Opus`);
  }
  let input: Demuxer;
  try {
    input = await Demuxer.open(request.videoInput);
  } catch (error) {
    throw new MediaInputError(
      `[media:${request.videoInput}] cannot reopen for muxing: ${(error as Error).message}`,
    );
  }
  const encoder = await createAudioEncoder(codec);
  let audioPackets: Packet[] = [];
  let sink: CheckedFileSink | undefined;
  let output: Muxer | undefined;
  let videoPackets = 0;
  let muxError: unknown = null;
  try {
    const videoStream = input.video();
    if (!videoStream) throw new MediaInputError(`[media:${request.videoInput}] has no video stream`);
    sink = new CheckedFileSink(request.outputPath);
    output = await Muxer.open(sink.callbacks(), {
      format: request.container === 'mp4' ? 'mp4' : 'matroska',
      bufferSize: IO_BUFFER_BYTES,
      maxPacketSize: 0,
      exitOnError: true,
      useAsyncWrite: false,
    });
    const videoOut = output.addStream(videoStream);
    const audioOut = output.addStream(encoder);
    audioPackets = encodeWaveform(encoder, codec, request.waveform, request.sampleRate);
    // Interleave by time: the muxer's sync queue orders packets across streams.
    const videoTb = videoStream.timeBase;
    const audioTb = { num: 1, den: 48000 };
    let a = 0;
    const seconds = (pts: bigint, tb: { num: number; den: number }): number =>
      (Number(pts) * tb.num) / tb.den;
    for (const packet of input.packetsSync(videoStream.index)) {
      if (!packet) break;
      const t = seconds(packet.dts ?? packet.pts, videoTb);
      while (a < audioPackets.length && seconds(audioPackets[a]!.pts, audioTb) <= t) {
        output.writePacketSync(audioPackets[a++]!, audioOut);
      }
      try {
        output.writePacketSync(packet, videoOut);
      } finally {
        packet.free();
      }
      videoPackets++;
    }
    while (a < audioPackets.length) output.writePacketSync(audioPackets[a++]!, audioOut);
  } catch (error) {
    muxError = error;
  } finally {
    for (const p of audioPackets) p.free();
    // Writes the trailer (node-av ignores its errors: the sink keeps any I/O failure).
    output?.closeSync();
    encoder.close();
    await input.close();
  }
  // The file's own error (EFBIG, ENOSPC, EIO...) explains a muxer failure best.
  try {
    sink?.close();
  } catch (ioError) {
    throw new OutputError(
      `[output:${label}] writing failed after ${sink?.bytesWritten ?? 0} bytes: ${(ioError as Error).message}`,
      { cause: ioError },
    );
  }
  if (muxError) {
    if (muxError instanceof FoleyError) throw muxError;
    throw new OutputError(`[output:${label}] muxing failed: ${(muxError as Error)?.message ?? muxError}`, {
      cause: muxError,
    });
  }
  return { videoPackets, audioPackets: audioPackets.length };
}
