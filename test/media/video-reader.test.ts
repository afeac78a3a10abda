import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MediaInputError } from '../../src/errors.js';
import {
  conversionFilter,
  orientationFilters,
  probeVideo,
  readAllVideoFrames,
  type ShortRead,
} from '../../src/media/video-reader.js';
import { makeMediaFixtures } from '../helpers/media-fixtures.js';
import { cutAtPacketBoundary } from './cut-input.js';
import { displayRotationMatrix, withDisplayMatrix } from './rotated-input.js';

const geometry = { fps: 25, width: 96, height: 96 };

describe('readVideoFrames', () => {
  const f = makeMediaFixtures();
  after(() => f.cleanup());

  it('decodes a 2 s H.264 clip into 50 rgb24 frames of 96×96', async () => {
    const { frames, frameCount } = await readAllVideoFrames(f.clip, geometry);
    assert.equal(frameCount, 50);
    assert.equal(frames.length, 50 * 96 * 96 * 3);
    assert.ok(frames.some((v) => v > 0));
  });

  it('converts 30 fps 160×120 VP9 to the model rate and size', async () => {
    const { frameCount, frames } = await readAllVideoFrames(f.oddClip, geometry);
    assert.equal(frameCount, 30); // 1.2 s at 25 fps
    assert.equal(frames.length, 30 * 96 * 96 * 3);
  });

  it('reports a file with no video stream', async () => {
    await assert.rejects(readAllVideoFrames(f.audioOnly, geometry), (e: unknown) => {
      assert.ok(e instanceof MediaInputError);
      assert.match(e.message, /tone\.wav\] has no video stream/);
      return true;
    });
  });

  it('reports corrupt and truncated files and a missing one', async () => {
    await assert.rejects(readAllVideoFrames(f.corrupt, geometry), /corrupt\.mp4\] cannot open as media/);
    await assert.rejects(
      readAllVideoFrames(f.truncated, geometry),
      /truncated\.mp4\] .*(corrupt or truncated|truncated)/,
    );
    await assert.rejects(
      readAllVideoFrames(`${f.dir}/missing.mp4`, geometry),
      /missing\.mp4\] file not found/,
    );
  });

  it('reports an input cut cleanly at a packet boundary with the seconds read and stated, unless partial reads are allowed', async () => {
    const cut = join(f.dir, 'cut-half.mp4');
    await cutAtPacketBoundary(f.clip, cut, 0.5);
    await assert.rejects(readAllVideoFrames(cut, geometry), (e: unknown) => {
      assert.ok(e instanceof MediaInputError);
      assert.match(
        e.message,
        /\[media:.*cut-half\.mp4\] is truncated or damaged: read 0\.\d\d s of video \(\d+ frames at 25 fps\), the video stream's stated duration is 2\.00 s; pass --allow-partial/,
      );
      return true;
    });
    const heard: ShortRead[] = [];
    const { frameCount } = await readAllVideoFrames(cut, geometry, {
      allowPartial: true,
      onShortRead: (s) => heard.push(s),
    });
    assert.ok(frameCount > 10 && frameCount < 40, `${frameCount} frames`);
    assert.deepEqual(heard, [
      { readSeconds: frameCount / 25, frames: frameCount, statedSeconds: 2, statedBy: 'stream' },
    ]);
  });

  it('keeps the frames decoded before a failure inside a cut packet when partial reads are allowed', async () => {
    await assert.rejects(readAllVideoFrames(f.truncated, geometry), /decoding failed after \d+ frames/);
    const heard: ShortRead[] = [];
    const { frameCount } = await readAllVideoFrames(f.truncated, geometry, {
      allowPartial: true,
      onShortRead: (s) => heard.push(s),
    });
    assert.ok(frameCount > 0 && frameCount < 50, `${frameCount} frames`);
    assert.deepEqual(heard, [
      { readSeconds: frameCount / 25, frames: frameCount, statedSeconds: 2, statedBy: 'stream' },
    ]);
  });

  it("accepts whole inputs whose stated duration is the container's (Matroska)", async () => {
    const heard: ShortRead[] = [];
    const { frameCount } = await readAllVideoFrames(f.oddClip, geometry, {
      onShortRead: (s) => heard.push(s),
    });
    assert.equal(frameCount, 30);
    assert.deepEqual(heard, []);
  });

  it('turns pictures upright from the display matrix, as the ffmpeg tool does', async () => {
    const upright = (await readAllVideoFrames(f.clip, geometry)).frames;
    const side = 96;
    // Where output pixel (y, x) comes from in the stored picture, per display rotation.
    const sources: Record<number, (y: number, x: number) => [number, number]> = {
      90: (y, x) => [side - 1 - x, y], // transpose=clock
      180: (y, x) => [side - 1 - y, side - 1 - x], // hflip, vflip
      270: (y, x) => [x, side - 1 - y], // transpose=cclock
    };
    for (const [degrees, source] of Object.entries(sources)) {
      const rotated = join(f.dir, `rotated-${degrees}.mp4`);
      await withDisplayMatrix(f.clip, rotated, displayRotationMatrix(Number(degrees)));
      const frames = (await readAllVideoFrames(rotated, geometry)).frames;
      assert.equal(frames.length, upright.length);
      let mismatches = 0;
      for (let t = 0; t < 50; t++) {
        for (let y = 0; y < side; y++) {
          for (let x = 0; x < side; x++) {
            const [sy, sx] = source(y, x);
            for (let c = 0; c < 3; c++) {
              const at = ((t * side + y) * side + x) * 3 + c;
              if (frames[at] !== upright[((t * side + sy) * side + sx) * 3 + c]) mismatches++;
            }
          }
        }
      }
      assert.equal(mismatches, 0, `${degrees}°: ${mismatches} samples differ from the rotated pictures`);
    }
  });

  it("maps display matrices to the filters of ffmpeg's autorotate", () => {
    const matrix = (degrees: number): Int32Array => {
      const b = displayRotationMatrix(degrees);
      return Int32Array.from({ length: 9 }, (_, i) => b.readInt32LE(4 * i));
    };
    assert.deepEqual(orientationFilters(null), []);
    assert.deepEqual(orientationFilters(matrix(0)), []);
    assert.deepEqual(orientationFilters(matrix(90)), ['transpose=clock']);
    assert.deepEqual(orientationFilters(matrix(180)), ['hflip', 'vflip']);
    assert.deepEqual(orientationFilters(matrix(270)), ['transpose=cclock']);
    assert.deepEqual(orientationFilters(matrix(45)), ['rotate=45*PI/180']);
    assert.equal(
      conversionFilter(geometry, ['transpose=clock']),
      'transpose=clock,fps=25,scale=96:96:force_original_aspect_ratio=increase:flags=area,crop=96:96,format=rgb24',
    );
  });

  it('probes the duration and size of the stream', async () => {
    const info = await probeVideo(f.oddClip);
    assert.equal(info.width, 160);
    assert.ok(info.durationSeconds !== null && Math.abs(info.durationSeconds - 1.2) < 0.1);
  });

  it('centre-crops to the target aspect before scaling', () => {
    assert.equal(
      conversionFilter(geometry),
      'fps=25,scale=96:96:force_original_aspect_ratio=increase:flags=area,crop=96:96,format=rgb24',
    );
  });
});
