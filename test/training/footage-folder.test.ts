import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MediaInputError } from '../../src/errors.js';
import { describeOtherFiles, scanFootageFolder } from '../../src/training/footage-folder.js';

describe('footage folder scan', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'foley-footage-folder-'));
    for (const f of ['b.MP4', 'a.mkv', 'notes.txt', 'a.events.json', '.hidden.mp4'])
      writeFileSync(join(dir, f), 'x');
    mkdirSync(join(dir, 'day2'));
    writeFileSync(join(dir, 'day2', 'clip.webm'), 'x');
    symlinkSync(join(dir, 'gone.mp4'), join(dir, 'dangling.mp4'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds videos by extension in subfolders too, sorted, names a broken one and counts the other files', () => {
    const found = scanFootageFolder(dir);
    assert.deepEqual(
      found.videos.map((v) => v.name),
      ['a.mkv', 'b.MP4', 'day2/clip.webm'],
    );
    assert.equal(found.videos[2]!.path, join(dir, 'day2', 'clip.webm'));
    assert.deepEqual(
      found.skipped.map((s) => s.name),
      ['dangling.mp4'],
    );
    assert.match(found.skipped[0]!.reason, /dangling\.mp4\] cannot be read/);
    assert.deepEqual(found.otherFiles, { '.txt': 1, '.json': 1 });
    assert.equal(describeOtherFiles({ '.wav': 60, '': 1, '.txt': 2 }), '60 .wav, 2 .txt, 1 (no extension)');
  });

  it('refuses a path that is not a folder', () => {
    assert.throws(
      () => scanFootageFolder(join(dir, 'notes.txt')),
      (e: unknown) => {
        assert.ok(e instanceof MediaInputError);
        assert.match(e.message, /notes\.txt\] is not a folder/);
        return true;
      },
    );
  });
});
