import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map, type Observable, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  generateLiveChunks,
  type LiveChunk,
  type LiveWindowRequest,
} from '../../pipelines/live/chunk-generation.js';
import { buildLadder, LevelCosts } from '../../pipelines/live/DegradationLadder.js';
import { LevelGovernor } from '../../pipelines/live/LevelGovernor.js';
import type { FeatureChunk } from '../../pipelines/operators/video-features.js';

const K = 4;
const DIM = 2;
const CHANNELS = 1;
const MEL_BINS = 2;
const SAMPLES_PER_FRAME = 10;
const LADDER = buildLadder({
  steps: 4,
  restarts: 2,
  cfgScale: 3,
  cgScale: 3,
  maxContextFrames: 12,
  minContextFrames: 8,
});

const featureChunk = (chunk: number): FeatureChunk => ({
  startFrame: chunk * K,
  frames: K,
  features: new Float32Array(K * DIM).fill(chunk + 1),
  ahead: new Float32Array(DIM).fill(-1),
});

/**
 * Generation in virtual time: a window takes `costMs(level steps)` of scheduler time. The model's
 * output is not what these tests check (the tiny-bundle tests do); its timing is.
 */
function setUp(
  scheduler: TestScheduler,
  costMs: (sampling: LiveWindowRequest['sampling']) => number,
  deadlineMs: (chunk: number) => number,
  extra: { inexactFrames?: number } = {},
) {
  const requests: LiveWindowRequest[] = [];
  const costs = new LevelCosts(LADDER.length);
  [100, 80, 60, 50].forEach((ms, level) => costs.seed(level, ms));
  const operator = generateLiveChunks(
    {
      generate: (request) => {
        requests.push(request);
        const frames = request.features.length / DIM;
        return timer(costMs(request.sampling), scheduler).pipe(
          map(() => ({
            latent: new Float32Array(CHANNELS * frames * MEL_BINS),
            waveform: new Float32Array(frames * SAMPLES_PER_FRAME),
          })),
        );
      },
    },
    {
      chunkFrames: K,
      guardFrames: 2,
      timeMultiple: 4,
      dim: DIM,
      latentChannels: CHANNELS,
      latentMelBins: MEL_BINS,
      ladder: LADDER,
      costs,
      governor: new LevelGovernor(LADDER, costs),
      deadlineMs,
      scheduler,
      ...extra,
    },
  );
  return { operator, requests, costs };
}

const describeChunk = (c: LiveChunk): string =>
  `${c.chunk}:${c.level.name}:${c.generated ? 'made' : 'skipped'}${c.late ? ':late' : ''}`;

describe('generateLiveChunks in virtual time', () => {
  it('makes each chunk at the best level that fits its deadline, and passes the deadline on', () => {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    scheduler.run(({ cold, expectObservable }) => {
      const { operator, requests } = setUp(
        scheduler,
        () => 100,
        (chunk) => 160 * chunk + 250,
      );
      const features: Observable<FeatureChunk> = cold('100ms a 159ms b 159ms c', {
        a: featureChunk(0),
        b: featureChunk(1),
        c: featureChunk(2),
      });
      expectObservable(features.pipe(operator, map(describeChunk))).toBe('200ms a 159ms b 159ms c', {
        a: '0:full:made',
        b: '1:full:made',
        c: '2:full:made',
      });
      scheduler.flush();
      assert.deepEqual(
        requests.map((r) => r.deadlineMs),
        [250, 410, 570],
      );
      // Context grows with the segment: none, then the 4 and 8 frames made so far.
      assert.deepEqual(
        requests.map((r) => [r.startFrame, r.known?.frames ?? 0, r.features.length / DIM]),
        [
          [0, 0, 8],
          [0, 4, 12],
          [0, 8, 16],
        ],
      );
    });
  });

  it("marks a chunk's frames read before their right context, and the guard, as unknown contact", () => {
    for (const [inexactFrames, expected] of [
      [2, [2, 6, 10]],
      [0, [undefined, undefined, undefined]],
    ] as const) {
      const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
      scheduler.run(({ cold }) => {
        const { operator, requests } = setUp(
          scheduler,
          () => 100,
          (chunk) => 160 * chunk + 250,
          { inexactFrames },
        );
        cold('100ms a 159ms b 159ms c', { a: featureChunk(0), b: featureChunk(1), c: featureChunk(2) })
          .pipe(operator)
          .subscribe();
        scheduler.flush();
        // Known frames 0, 4, 8, then the chunk's 4 new frames: its last 2 and the guard are unread.
        assert.deepEqual(
          requests.map((r) => r.contactUnknownFrom),
          expected,
        );
      });
    }
  });

  it('skips at once a chunk that no level can make in time, and the next starts without context', () => {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    scheduler.run(({ cold, expectObservable }) => {
      // Chunk 1's frames came late: 20 ms before its audio is due.
      const deadlines = [250, 280, 570];
      const { operator, requests } = setUp(
        scheduler,
        () => 100,
        (chunk) => deadlines[chunk]!,
      );
      const features = cold('100ms a 159ms b 159ms c', {
        a: featureChunk(0),
        b: featureChunk(1),
        c: featureChunk(2),
      });
      expectObservable(features.pipe(operator, map(describeChunk))).toBe('200ms a 59ms b 259ms c', {
        a: '0:full:made',
        b: '1:skip:skipped',
        c: '2:short-window:made',
      });
      scheduler.flush();
      assert.deepEqual(
        requests.map((r) => [r.startFrame, r.known?.frames ?? 0]),
        [
          [0, 0],
          [8, 0],
        ],
      );
    });
  });

  it('marks a chunk that finished past its deadline late, and the next chunk goes down a level', () => {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    scheduler.run(({ cold, expectObservable }) => {
      // Full (with the classifier) runs 200 ms on this machine though calibrated at 100.
      const { operator } = setUp(
        scheduler,
        (s) => (s.cgScale > 0 ? 200 : 50),
        (chunk) => 160 * chunk + 250,
      );
      const features = cold('100ms a 159ms b', { a: featureChunk(0), b: featureChunk(1) });
      expectObservable(features.pipe(operator, map(describeChunk))).toBe('300ms a 49ms b', {
        a: '0:full:made:late',
        b: '1:no-classifier:made',
      });
    });
  });
});
