import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concat, map, NEVER, type Observable, of, startWith, takeUntil, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  type LivePacket,
  type PacerInput,
  type PacerOutput,
  paceOpus,
} from '../../pipelines/live/pace-opus.js';
import { SegmentTiming } from '../../pipelines/live/SegmentTiming.js';
import { OpusEncoder } from '../../src/media/opus-encoder.js';

const FRAME_MS = 40;
const OFFSET_MS = 300;

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

/** Runs the pacer on `input` in virtual time until `untilMs`; returns what it emitted with the time of each. */
function pace(
  scheduler: TestScheduler,
  input: (encoder: OpusEncoder) => Observable<PacerInput>,
  untilMs: number,
  stallMs = 600,
  packetPhase48k = 0,
): Array<{ atMs: number; output: PacerOutput }> {
  const encoder = new OpusEncoder();
  const out: Array<{ atMs: number; output: PacerOutput }> = [];
  try {
    scheduler.run(() => {
      input(encoder)
        .pipe(
          paceOpus({
            scheduler,
            offsetMs: OFFSET_MS,
            frameMs: FRAME_MS,
            chunkFrames: 4,
            stallMs,
            packetPhase48k,
            encoder,
          }),
          takeUntil(timer(untilMs, scheduler)),
        )
        .subscribe((output) => out.push({ atMs: scheduler.now(), output }));
    });
  } finally {
    encoder.close();
  }
  return out;
}

const packets = (out: Array<{ atMs: number; output: PacerOutput }>): LivePacket[] =>
  out.flatMap(({ output }) => (output.case === 'packet' ? [output.value] : []));

/** A segment whose frames 0..count-1 arrived `delayMs` after their media time (anchor delayMs). */
function segment(count: number, delayMs = 0): SegmentTiming {
  const timing = new SegmentTiming({
    id: 0,
    originMediaMs: 0,
    firstDelayMs: delayMs,
    leadFrames: 7,
    historyFrames: 64,
  });
  for (let i = 0; i < count; i++) {
    timing.trackArrival(delayMs, i * FRAME_MS + delayMs);
    timing.recordSlot(i, i * FRAME_MS + delayMs);
  }
  return timing;
}

/** 48 kHz audio of chunk `chunk` at `position48k`. */
function chunkAudio(chunk: number, position48k: number, samples: number): PacerInput {
  return {
    case: 'audio',
    value: {
      audio: {
        segment: 0,
        chunk,
        startSample: 0,
        samples: new Float32Array(0),
        generated: true,
        level: 0,
        computeMs: 0,
        late: false,
      },
      position48k,
      samples48k: new Float32Array(samples).fill(0.5),
    },
  };
}

describe('paceOpus in virtual time', () => {
  it('sends one Opus packet per 20 ms of scheduler time, silence while there is no audio', () => {
    const out = pace(newScheduler(), () => NEVER, 1000);
    const sent = packets(out);
    assert.equal(sent.length, 50);
    // Packet k is due at 20k ms; the 5 ms tick sends it on time (the first at the first tick).
    assert.deepEqual(
      sent.slice(0, 4).map((p) => p.sentMs),
      [5, 20, 40, 60],
    );
    assert.ok(sent.every((p) => !p.generated && p.peak === 0));
    assert.ok(sent.every((p, k) => k === 0 || p.samplePosition - sent[k - 1]!.samplePosition === 960));
  });

  it("plays a segment's audio at the offset and reports each frame's arrival-to-packet latency", () => {
    const timing = segment(40);
    const out = pace(
      newScheduler(),
      () =>
        NEVER.pipe(
          startWith<PacerInput>(
            { case: 'segment', value: timing },
            chunkAudio(0, 0, 4 * FRAME_MS * 48), // chunk 0: frames 0-3
          ),
        ),
      OFFSET_MS + 200,
    );
    const sent = packets(out);
    const generated = sent.filter((p) => p.generated);
    // Media 0-160 ms is carried by the packets due at offset + 0 .. offset + 140.
    assert.deepEqual(
      generated.map((p) => p.sentMs),
      [300, 320, 340, 360, 380, 400, 420, 440],
    );
    assert.ok(generated.every((p) => p.peak > 0.4));
    // Frame k (arrived at 40k) is in the packet sent at 300 + 40k: its latency is the offset.
    assert.deepEqual(
      generated.flatMap((p) => p.frameLatenciesMs),
      [OFFSET_MS, OFFSET_MS, OFFSET_MS, OFFSET_MS],
    );
    assert.ok(sent.filter((p) => p.sentMs < OFFSET_MS).every((p) => !p.generated));
  });

  it("starts a segment's packets where its chunks' audio starts, so a chunk is due only with its own first packet", () => {
    // Frames arrive 7 ms after their media time; chunks' audio starts at positions ≡ 696 (mod 960).
    const phase = 696;
    const timing = segment(40, 7);
    const first = chunkAudio(0, phase, 2 * 1920); // media 14.5-94.5 ms
    const second = chunkAudio(1, phase + 2 * 1920, 1920); // 94.5-134.5 ms
    // The second chunk's first packet is due at anchor 7 + offset 300 + 94.5 ms; it comes 1 ms before.
    const secondDueMs = 7 + OFFSET_MS + (phase + 2 * 1920) / 48;
    const out = pace(
      newScheduler(),
      () =>
        concat(
          of<PacerInput[]>({ case: 'segment', value: timing }, first),
          timer(secondDueMs - 1).pipe(map(() => second)),
          NEVER,
        ),
      OFFSET_MS + 300,
      600,
      phase,
    );
    const generated = packets(out).filter((p) => p.generated);
    // Six whole packets of audio, none cut at the join: with packets anywhere, the one across
    // it would be due before the second chunk came.
    assert.equal(generated.length, 6);
    assert.ok(generated.every((p) => p.peak > 0.4));
    assert.ok(
      generated.every((p, k) => k === 0 || p.samplePosition - generated[k - 1]!.samplePosition === 960),
    );
  });

  it('reports idle once when no frame came for stallMs', () => {
    const timing = segment(10); // the last frame arrived at 360 ms
    const out = pace(
      newScheduler(),
      () => NEVER.pipe(startWith<PacerInput>({ case: 'segment', value: timing })),
      2000,
      300,
    );
    const idle = out.filter(({ output }) => output.case === 'idle');
    assert.equal(idle.length, 1);
    assert.equal(idle[0]!.atMs, 665); // first tick past 360 + 300
  });
});
