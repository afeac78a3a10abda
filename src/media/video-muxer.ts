/**
 * Writes an MP4 or MKV with the input's ORIGINAL video stream copied packet for packet (no
 * re-encode) and the generated track as its audio: AAC for MP4, Opus (default) or AAC for
 * MKV, at 48 kHz. Any audio the input had is replaced. This is where a sample leaves.
 */
import './node-av-setup.js';
import { Demuxer, Muxer } from 'node-av/api';
import type { Packet } from 'node-av/lib';
import { MediaInputError, OutputError } from '../errors.js';
import { type AudioCodecName, createAudioEncoder, encodeWaveform } from './audio-encoding.js';

export type ContainerName = 'mp4' | 'mkv';

export interface MuxRequest {
  videoInput: string;
  waveform: Float32Array;
  sampleRate: number;
  /** Path to write (a temporary path; see atomic-output.ts). */
  outputPath: string;
  container: ContainerName;
  audioCodec?: AudioCodecName;
}

export function defaultAudioCodec(container: ContainerName): AudioCodecName {
  return container === 'mp4' ? 'aac' : 'opus';
}

export async function muxWithVideo(
  request: MuxRequest,
): Promise<{ videoPackets: number; audioPackets: number }> {
  const codec = request.audioCodec ?? defaultAudioCodec(request.container);
  if (request.container === 'mp4' && codec !== 'aac') {
    throw new OutputError(`[output:${request.outputPath}] MP4 output carries AAC; use .mkv for Opus`);
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
  let output: Muxer | undefined;
  let videoPackets = 0;
  try {
    const videoStream = input.video();
    if (!videoStream) throw new MediaInputError(`[media:${request.videoInput}] has no video stream`);
    try {
      output = await Muxer.open(request.outputPath, {
        format: request.container === 'mp4' ? 'mp4' : 'matroska',
      });
    } catch (error) {
      throw new OutputError(
        `[output:${request.outputPath}] cannot open for writing: ${(error as Error).message}`,
      );
    }
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
        await output.writePacket(audioPackets[a++]!, audioOut);
      }
      await output.writePacket(packet, videoOut);
      packet.free();
      videoPackets++;
    }
    while (a < audioPackets.length) await output.writePacket(audioPackets[a++]!, audioOut);
    await output.close();
    output = undefined;
    return { videoPackets, audioPackets: audioPackets.length };
  } finally {
    for (const p of audioPackets) p.free();
    if (output) await output.close().catch(() => undefined);
    encoder.close();
    await input.close();
  }
}
