import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { VirtualTimeScheduler } from 'rxjs';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import type { RoomStatus } from '../../src/server/messages.js';
import { ROOM_MEDIA_CODECS, Room, roomNote } from '../../src/server/Room.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const FULL = Object.freeze({ level: 0, name: 'full', generate: true });
const LIGHTER = Object.freeze({ level: 1, name: 'fewer steps', generate: true });
const SKIP = Object.freeze({ level: 3, name: 'skip', generate: false });

describe('roomNote', () => {
  it('says nothing at full quality and names every other state in plain words', () => {
    const level = (l: object) => l as never;
    assert.equal(roomNote('active', level(FULL), true), null);
    assert.equal(roomNote('active', level(LIGHTER), true), 'CPU busy: lighter model');
    assert.equal(roomNote('active', level(SKIP), true), 'overloaded: skipping');
    assert.equal(roomNote('waiting', null, false), 'waiting for video');
    assert.equal(roomNote('idle', level(FULL), false), 'waiting for video');
    assert.equal(roomNote('idle', level(FULL), true), 'input lost: waiting for video');
    assert.equal(roomNote('active', level(LIGHTER), true, 0.123), 'input lossy: 12% packets lost');
    assert.equal(roomNote('active', level(FULL), true, 0.01), null, 'under 2% is not worth a note');
  });
});

/** A VP8 video producer on a fresh WebRTC transport of the router (no media flows). */
async function vp8Producer(router: ms.Router, ssrc: number): Promise<ms.Producer> {
  const transport = await router.createWebRtcTransport({ listenIps: [{ ip: '127.0.0.1' }] });
  return transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }],
      encodings: [{ ssrc }],
    },
  });
}

/** A listener that keeps the statuses it is sent. */
function recordingListener() {
  const statuses: RoomStatus[] = [];
  return { statuses, send: () => {}, sendStatus: (s: RoomStatus) => statuses.push(s) };
}

describe('Room status', () => {
  let worker: ms.Worker;
  let runner: InferenceRunner;

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
  });
  after(async () => {
    worker.close();
    await runner.close();
  });

  it('adds the largest fresh playout report to the offset, rate-limits updates and forgets reports after 5 s', async () => {
    const scheduler = new VirtualTimeScheduler();
    /** Runs the room's timers up to `ms` of virtual time. */
    const advanceTo = (ms: number) => {
      scheduler.schedule(() => {}, ms - scheduler.now());
      scheduler.maxFrames = ms;
      scheduler.flush();
    };
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const room = new Room('sync', router, runner, {}, { scheduler, statusMinIntervalMs: 250 });
    const a = recordingListener();
    const b = recordingListener();
    room.addListener(a);
    room.addListener(b);
    try {
      room.reportPlayoutLatency(a, 100);
      assert.equal(room.status().syncOffsetMs, null, 'unknown while there is no publisher');

      const producer = await vp8Producer(router, 1234);
      const attachment = await room.attach(producer);
      const offsetMs = attachment.offsetMs;
      advanceTo(1000);
      assert.equal(room.status().syncOffsetMs, offsetMs + 100);
      assert.equal(room.status().note, 'waiting for video');

      const sent = () => a.statuses.length;
      const before = sent();
      room.reportPlayoutLatency(a, 120);
      assert.equal(sent(), before + 1, 'a change after a quiet interval goes out at once');
      room.reportPlayoutLatency(b, 150);
      room.reportPlayoutLatency(a, 130);
      assert.equal(sent(), before + 1, 'changes within 250 ms wait');
      advanceTo(1249);
      assert.equal(sent(), before + 1);
      advanceTo(1250);
      assert.equal(sent(), before + 2, 'and go out together');
      assert.equal(a.statuses.at(-1)!.syncOffsetMs, offsetMs + 150);
      assert.deepEqual(b.statuses.at(-1), a.statuses.at(-1), 'every listener gets it');

      advanceTo(2000);
      room.reportPlayoutLatency(a, 90);
      advanceTo(2500);
      assert.equal(sent(), before + 2, 'an unchanged status is not sent again');

      // b's report (150) is from 1000 ms and counts until 6000; a's (90) from 2000 ms, until 7000.
      advanceTo(5999);
      assert.equal(room.status().syncOffsetMs, offsetMs + 150);
      advanceTo(6000);
      assert.equal(a.statuses.at(-1)!.syncOffsetMs, offsetMs + 90, "b's report went stale");
      advanceTo(7000);
      assert.equal(a.statuses.at(-1)!.syncOffsetMs, null, 'no fresh report: unknown');

      room.reportPlayoutLatency(b, 40);
      room.removeListener(b);
      advanceTo(8000);
      assert.equal(room.status().syncOffsetMs, null, 'a listener that left no longer counts');
    } finally {
      room.close();
    }
    assert.equal(router.closed, true);
  });
  it('keeps the offset of its first publisher for the next one, so the OBS setting stays right', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const room = new Room('republish', router, runner, {});
    try {
      const first = await room.attach(await vp8Producer(router, 1111));
      assert.equal(first.pipeline.options.offsetMs, undefined, 'the first publisher calibrates');
      const offsetMs = first.offsetMs;
      const second = await room.attach(await vp8Producer(router, 2222));
      assert.equal(first.closed, true, 'the first attachment was replaced');
      assert.equal(second.pipeline.options.offsetMs, offsetMs, 'the next one is given the first offset');
      assert.equal(second.offsetMs, offsetMs);
      assert.equal(room.status().offsetMs, offsetMs);
    } finally {
      room.close();
    }
  });
});
