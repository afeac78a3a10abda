/**
 * A copy of a clip whose video stream carries a display matrix, as phones write them: the
 * pictures are stored sideways and the player is told to rotate them.
 */
import { AV_PKT_DATA_DISPLAYMATRIX } from 'node-av/constants';
import { remuxOneStream } from './remux-stream.js';

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
export function withDisplayMatrix(from: string, to: string, matrix: Buffer): Promise<void> {
  return remuxOneStream(from, to, 'video', (video) =>
    video.codecpar.addCodedSideData(AV_PKT_DATA_DISPLAYMATRIX, matrix),
  );
}
