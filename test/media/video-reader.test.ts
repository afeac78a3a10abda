import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MediaInputError } from '../../src/errors.js';
import {
  conversionFilter,
  probeVideo,
  readAllVideoFrames,
  type ShortRead,
} from '../../src/media/video-reader.js';
import { makeMediaFixtures } from '../helpers/media-fixtures.js';
import { cutAtPacketBoundary } from './cut-input.js';

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

  it("accepts whole inputs whose stated duration is the container's (Matroska)", async () => {
    const heard: ShortRead[] = [];
    const { frameCount } = await readAllVideoFrames(f.oddClip, geometry, {
      onShortRead: (s) => heard.push(s),
    });
    assert.equal(frameCount, 30);
    assert.deepEqual(heard, []);
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
