/**
 * A clip published to a WHIP endpoint with FFmpeg's WHIP muxer (node-av), a real WHIP client:
 * paced in real time and looped, timestamps continuing across loops as a camera's do. The
 * muxer's close sends the DELETE.
 */
import '../../src/media/node-av-setup.js';
import { Demuxer, Muxer } from 'node-av/api';

/**
 * Publishes `clip` (H.264, no B-frames) `loops` times over. Resolves with the epoch ms of media
 * time 0 (performance.timeOrigin clock): media time T of loop k left at that + k · clipMs + T.
 */
export async function publishOverWhip(
  clip: string,
  whipUrl: string,
  token: string,
  options: { loops: number; clipMs: number },
): Promise<{ startEpochMs: number }> {
  const { loops, clipMs } = options;
  const nowEpochMs = (): number => performance.timeOrigin + performance.now();
  const muxer = await Muxer.open(whipUrl, {
    format: 'whip',
    options: { authorization: token, handshake_timeout: 10_000 },
  });
  let startEpochMs = 0;
  try {
    const first = await Demuxer.open(clip);
    const streamIndex = muxer.addStream(first.video()!);
    for (let loop = 0; loop < loops; loop++) {
      const input = loop === 0 ? first : await Demuxer.open(clip);
      const video = input.video()!;
      const { num, den } = video.timeBase;
      const loopTicks = BigInt(Math.round((clipMs / 1000) * (den / num))) * BigInt(loop);
      for await (const packet of input.packets()) {
        if (!packet) break;
        if (packet.streamIndex !== video.index) {
          packet.free();
          continue;
        }
        const atMs = loop * clipMs + ((Number(packet.pts) * num) / den) * 1000;
        if (startEpochMs === 0) startEpochMs = nowEpochMs() - atMs;
        const waitMs = startEpochMs + atMs - nowEpochMs();
        if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
        packet.pts += loopTicks;
        packet.dts += loopTicks;
        await muxer.writePacket(packet, streamIndex);
        packet.free();
      }
      await input.close();
    }
  } finally {
    await muxer.close();
  }
  return { startEpochMs };
}
