/**
 * A copy of a clip whose video stream carries a display matrix, as phones write them: the
 * pictures are stored sideways and the player is told to rotate them.
 */
import '../../src/media/node-av-setup.js';
import { Demuxer, Muxer } from 'node-av/api';
import { AV_PKT_DATA_DISPLAYMATRIX } from 'node-av/constants';

/** av_display_rotation_set: a matrix rotating the picture `degrees` counterclockwise. */
export function displayRotationMatrix(degrees: number): Buffer {
  const radians = (-degrees * Math.PI) / 180;
  const fixed = (x: number): number => Math.trunc((Math.round(x * 1e9) / 1e9) * 65536);
  const m = [
    fixed(Math.cos(radians)),
    fixed(-Math.sin(radians)),
    0,
    fixed(Math.sin(radians)),
    fixed(Math.cos(radians)),
    0,
    0,
    0,
    1 << 30,
  ];
  const out = Buffer.alloc(36);
  m.forEach((v, i) => out.writeInt32LE(v, 4 * i));
  return out;
}

/** Remuxes the video stream of `from` into `to` (same container type) with `matrix` on it. */
export async function withDisplayMatrix(from: string, to: string, matrix: Buffer): Promise<void> {
  const input = await Demuxer.open(from);
  try {
    const video = input.video()!;
    video.codecpar.addCodedSideData(AV_PKT_DATA_DISPLAYMATRIX, matrix);
    const output = await Muxer.open(to);
    try {
      const index = output.addStream(video);
      for (const packet of input.packetsSync(video.index)) {
        if (!packet) break;
        await output.writePacket(packet, index);
        packet.free();
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}
