/**
 * A clip published as RTP into a PlainTransport producer on a router, paced here in real
 * time and looped, so the caller knows when each media time was sent: media time T of loop
 * k leaves at `startMs + k · clipMs + T` (performance.now() clock). FFmpeg's RTP muxer
 * (node-av) packetizes; mediasoup learns the sender's address from the first packet
 * (comedia) and its RTCP port from the first RTCP packet (no mux).
 *
 * The clip is encoded once per codec the way a publisher would send it: no B-frames, a
 * keyframe each second, high quality (a second generation loss at default settings costs the
 * live chunker onset F1 the offline render never sees), and for H.264 the parameter sets in
 * band (MPEG-TS), as a decoder that joins mid-stream needs them.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import '../../src/media/node-av-setup.js';
import type { types as ms } from 'mediasoup';
import { Demuxer, Muxer } from 'node-av/api';
import {
  RTP_VIDEO_PAYLOAD_TYPE,
  type RtpVideoCodecName,
  rtpVideoCodec,
} from '../../src/server/rtp-video-codec.js';

export type PublisherCodec = RtpVideoCodecName;

/** `clip` encoded for `codec` into `dir`; returns the file. */
export function encodeForPublishing(clip: string, codec: PublisherCodec, dir: string): string {
  const out = join(dir, codec === 'vp8' ? 'publish-vp8.webm' : 'publish-h264.ts');
  const encoder =
    codec === 'vp8'
      ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0']
      : ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline'];
  const quality = codec === 'vp8' ? ['-crf', '4', '-b:v', '4M'] : ['-crf', '16', '-bf', '0'];
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-i', clip, '-an'],
    ...encoder,
    ...quality,
    ...['-pix_fmt', 'yuv420p', '-g', '25', out],
  ]);
  return out;
}

export class PacedRtpPublisher {
  /** performance.now() when media time 0 of the first loop was (or would have been) sent, ms. */
  startMs = Number.NaN;
  #closed = false;

  private constructor(
    readonly transport: ms.PlainTransport,
    readonly producer: ms.Producer,
    readonly codec: PublisherCodec,
  ) {}

  static async create(router: ms.Router, codec: PublisherCodec): Promise<PacedRtpPublisher> {
    const transport = await router.createPlainTransport({
      listenIp: '127.0.0.1',
      rtcpMux: false,
      comedia: true,
    });
    try {
      const producer = await transport.produce({
        kind: 'video',
        rtpParameters: {
          codecs: [rtpVideoCodec(codec)],
          encodings: [{ ssrc: randomInt(1, 2 ** 31) }],
        },
      });
      return new PacedRtpPublisher(transport, producer, codec);
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  /** Sends `file` (from encodeForPublishing) `loops` times back to back, timestamps continuing. */
  async publish(file: string, loops: number, clipMs: number): Promise<void> {
    const { localIp, localPort } = this.transport.tuple;
    const rtcpPort = this.transport.rtcpTuple?.localPort ?? localPort + 1;
    const ssrc = this.producer.rtpParameters.encodings![0]!.ssrc!;
    const muxer = await Muxer.open(`rtp://${localIp}:${localPort}?rtcpport=${rtcpPort}&pkt_size=1200`, {
      format: 'rtp',
      options: { payload_type: String(RTP_VIDEO_PAYLOAD_TYPE[this.codec]), ssrc: String(ssrc) },
    });
    try {
      const first = await Demuxer.open(file);
      const streamIndex = muxer.addStream(first.video()!);
      let firstPts: bigint | null = null;
      for (let loop = 0; loop < loops && !this.#closed; loop++) {
        const input = loop === 0 ? first : await Demuxer.open(file);
        try {
          const video = input.video()!;
          const { num, den } = video.timeBase;
          const loopTicks = BigInt(Math.round((clipMs / 1000) * (den / num))) * BigInt(loop);
          for await (const packet of input.packets()) {
            if (!packet) break;
            if (packet.streamIndex !== video.index || this.#closed) {
              packet.free();
              continue;
            }
            firstPts ??= packet.pts;
            const atMs = loop * clipMs + ((Number(packet.pts - firstPts) * num) / den) * 1000;
            if (Number.isNaN(this.startMs)) this.startMs = performance.now() - atMs;
            const waitMs = this.startMs + atMs - performance.now();
            if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
            // Timestamps continue across loops, as a camera's do.
            packet.pts += loopTicks;
            packet.dts += loopTicks;
            await muxer.writePacket(packet, streamIndex);
            packet.free();
          }
        } finally {
          await input.close();
        }
      }
    } finally {
      await muxer.close();
    }
  }

  /** Idempotent: stops a publish in progress (at its next packet) and closes the transport. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.close();
  }
}
