import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameAssembler } from '../../src/sfu/rtp/FrameAssembler.js';
import { h264PayloadFormat } from '../../src/sfu/rtp/H264PayloadFormat.js';
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from '../../src/sfu/rtp/RtpPacket.js';
import { vp8PayloadFormat } from '../../src/sfu/rtp/Vp8PayloadFormat.js';

/** VP8 payloads of one frame: descriptor with picture id, S bit on the first. */
function vp8Packets(frame: Buffer, seq: number, ts: number, mtu = 100): RtpPacket[] {
  const out: RtpPacket[] = [];
  for (let off = 0; off < frame.length; off += mtu) {
    const first = off === 0;
    const descriptor = Buffer.from([0x80 | (first ? 0x10 : 0), 0x80, 0x12]); // X, S; I; 7-bit picture id
    const payload = Buffer.concat([descriptor, frame.subarray(off, off + mtu)]);
    out.push({
      payloadType: 96,
      marker: off + mtu >= frame.length,
      sequenceNumber: (seq + out.length) & 0xffff,
      timestamp: ts,
      ssrc: 1,
      payload,
    });
  }
  return out;
}

const keyframe = Buffer.concat([Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]), Buffer.alloc(250, 7)]); // P bit 0
const delta = Buffer.concat([Buffer.from([0x11, 0x02, 0x00]), Buffer.alloc(120, 3)]); // P bit 1

describe('RTP packets', () => {
  it('serialize and parse back, and RTCP is not taken for RTP', () => {
    const p: RtpPacket = {
      payloadType: 96,
      marker: true,
      sequenceNumber: 65535,
      timestamp: 4294967295,
      ssrc: 42,
      payload: Buffer.from([1, 2, 3]),
    };
    const back = parseRtpPacket(serializeRtpPacket(p))!;
    assert.deepEqual({ ...back, payload: [...back.payload] }, { ...p, payload: [1, 2, 3] });
    const rtcp = Buffer.from([0x80, 200, 0, 6, ...new Array(24).fill(0)]);
    assert.equal(parseRtpPacket(rtcp), null);
    assert.equal(parseRtpPacket(Buffer.alloc(5)), null);
  });
});

describe('FrameAssembler with VP8', () => {
  it('reassembles a keyframe split over packets, then a delta frame', () => {
    const a = new FrameAssembler(vp8PayloadFormat);
    const frames = [...vp8Packets(keyframe, 100, 9000), ...vp8Packets(delta, 103, 12600)].flatMap((p) =>
      a.push(p, 1),
    );
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0]!.data, keyframe);
    assert.equal(frames[0]!.keyframe, true);
    assert.deepEqual(frames[1]!.data, delta);
    assert.equal(frames[1]!.keyframe, false);
    assert.equal(a.needsKeyframe, false);
  });

  it('puts reordered packets back in order', () => {
    const a = new FrameAssembler(vp8PayloadFormat);
    const packets = vp8Packets(keyframe, 65534, 1000); // wraps the sequence number
    const frames = [packets[2]!, packets[0]!, packets[1]!].flatMap((p) => a.push(p, 1));
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0]!.data, keyframe);
  });

  it('drops delta frames until the first keyframe when that keyframe was lost, and says it needs one', () => {
    const a = new FrameAssembler(vp8PayloadFormat);
    a.push(vp8Packets(keyframe, 0, 0)[0]!, 1); // incomplete keyframe (rest lost)
    const lostThenDelta = vp8Packets(delta, 10, 3600).flatMap((p) => a.push(p, 1));
    assert.equal(lostThenDelta.length, 0);
    assert.equal(a.needsKeyframe, true);
    assert.ok(a.lostFrames >= 1);
    const recovered = vp8Packets(keyframe, 20, 7200).flatMap((p) => a.push(p, 1));
    assert.equal(recovered.length, 1);
    assert.equal(a.needsKeyframe, false);
  });

  it('passes delta frames on after a lost delta frame (artifacts, not a freeze) and asks for a keyframe', () => {
    const a = new FrameAssembler(vp8PayloadFormat);
    assert.equal(vp8Packets(keyframe, 0, 0).flatMap((p) => a.push(p, 1)).length, 1);
    const lost = vp8Packets(delta, 3, 3600);
    a.push(lost[0]!, 1); // the rest of this frame is lost
    const next = vp8Packets(delta, 10, 7200).flatMap((p) => a.push(p, 2));
    assert.equal(next.length, 1, 'the delta frame after the loss is decoded');
    assert.equal(next[0]!.keyframe, false);
    assert.equal(a.lostFrames, 1);
    assert.equal(a.needsKeyframe, true, 'a keyframe would heal the picture');
    assert.equal(a.framesAfterLoss, 1);
    assert.equal(vp8Packets(keyframe, 20, 10800).flatMap((p) => a.push(p, 3)).length, 1);
    assert.equal(a.needsKeyframe, false);
  });

  it('holds a frame behind a gap for a retransmission and emits both in order when it comes', () => {
    const a = new FrameAssembler(vp8PayloadFormat, { maxWaitForMissingMs: 80 });
    assert.equal(vp8Packets(keyframe, 0, 0).flatMap((p) => a.push(p, 0)).length, 1);
    const missing = vp8Packets(delta, 3, 3600); // seq 3 and 4, lost on first send
    assert.deepEqual(
      vp8Packets(delta, 5, 7200).flatMap((p) => a.push(p, 40)),
      [],
      'waits for seq 3 and 4',
    );
    assert.deepEqual(a.poll(60), []);
    assert.deepEqual(a.push(missing[1]!, 61), []);
    const both = a.push(missing[0]!, 62); // the NACKs brought them back
    assert.deepEqual(
      both.map((f) => f.rtpTimestamp),
      [3600, 7200],
    );
    assert.equal(a.lostFrames, 0);
    assert.equal(a.needsKeyframe, false);
  });

  it('gives a gap up after the wait: the held frame goes on and the gap counts as lost', () => {
    const a = new FrameAssembler(vp8PayloadFormat, { maxWaitForMissingMs: 80 });
    vp8Packets(keyframe, 0, 0).flatMap((p) => a.push(p, 0));
    vp8Packets(delta, 4, 7200).flatMap((p) => a.push(p, 40)); // seq 3 never comes
    const released = a.poll(121);
    assert.deepEqual(
      released.map((f) => [f.rtpTimestamp, f.arrivalMs]),
      [[7200, 121]],
      'arrival is when it was released',
    );
    assert.equal(a.lostFrames, 1);
    assert.equal(a.needsKeyframe, true);
  });

  it('does not hold a keyframe behind a gap', () => {
    const a = new FrameAssembler(vp8PayloadFormat, { maxWaitForMissingMs: 80 });
    vp8Packets(keyframe, 0, 0).flatMap((p) => a.push(p, 0));
    assert.equal(vp8Packets(keyframe, 10, 7200).flatMap((p) => a.push(p, 40)).length, 1);
    assert.equal(a.needsKeyframe, false);
  });

  it('rejects a delta frame at the very start (nothing to decode it against)', () => {
    const a = new FrameAssembler(vp8PayloadFormat);
    assert.equal(vp8Packets(delta, 0, 0).flatMap((p) => a.push(p, 1)).length, 0);
    assert.equal(a.needsKeyframe, true);
  });
});

describe('FrameAssembler with H.264', () => {
  it('turns STAP-A (SPS, PPS) and FU-A (IDR) into one Annex B access unit', () => {
    const sps = Buffer.from([0x67, 1, 2, 3]);
    const pps = Buffer.from([0x68, 4, 5]);
    const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(300, 9)]);
    const stap = Buffer.concat([
      Buffer.from([0x78]),
      Buffer.from([0, sps.length]),
      sps,
      Buffer.from([0, pps.length]),
      pps,
    ]);
    const fuIndicator = (idr[0]! & 0xe0) | 28;
    const body = idr.subarray(1);
    const fu1 = Buffer.concat([Buffer.from([fuIndicator, 0x80 | 5]), body.subarray(0, 150)]);
    const fu2 = Buffer.concat([Buffer.from([fuIndicator, 0x40 | 5]), body.subarray(150)]);
    const a = new FrameAssembler(h264PayloadFormat);
    const pk = (payload: Buffer, seq: number, marker: boolean): RtpPacket => ({
      payloadType: 102,
      marker,
      sequenceNumber: seq,
      timestamp: 500,
      ssrc: 1,
      payload,
    });
    const frames = [pk(stap, 1, false), pk(fu1, 2, false), pk(fu2, 3, true)].flatMap((p) => a.push(p, 1));
    assert.equal(frames.length, 1);
    const start = Buffer.from([0, 0, 0, 1]);
    assert.deepEqual(frames[0]!.data, Buffer.concat([start, sps, start, pps, start, idr]));
    assert.equal(frames[0]!.keyframe, true);
  });

  it('keeps at most 8 unfinished frames when none can complete (joined after a keyframe whose parameter sets were lost)', () => {
    const a = new FrameAssembler(h264PayloadFormat);
    const fuIndicator = (0x61 & 0xe0) | 28;
    const pk = (payload: Buffer, seq: number, ts: number, marker: boolean): RtpPacket => ({
      payloadType: 102,
      marker,
      sequenceNumber: seq,
      timestamp: ts,
      ssrc: 1,
      payload,
    });
    // Delta frames as FU-A: their first packet does not say it starts a frame.
    let seq = 10;
    for (let frame = 0; frame < 20; frame++) {
      const ts = 3600 * (frame + 1);
      const start = Buffer.concat([Buffer.from([fuIndicator, 0x80 | 1]), Buffer.alloc(100, 1)]);
      const end = Buffer.concat([Buffer.from([fuIndicator, 0x40 | 1]), Buffer.alloc(50, 1)]);
      assert.deepEqual(a.push(pk(start, seq++, ts, false), frame * 40), []);
      assert.deepEqual(a.push(pk(end, seq++, ts, true), frame * 40), []);
    }
    assert.equal(a.lostFrames, 12, 'the 12 oldest of 20 unfinished frames were given up');
    assert.equal(a.needsKeyframe, true);
    // A keyframe with its parameter sets starts the stream.
    const sps = Buffer.from([0x67, 1, 2, 3]);
    const pps = Buffer.from([0x68, 4, 5]);
    const stap = Buffer.concat([Buffer.from([0x78, 0, sps.length]), sps, Buffer.from([0, pps.length]), pps]);
    const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(100, 9)]);
    const frames = [
      ...a.push(pk(stap, seq++, 3600 * 30, false), 900),
      ...a.push(pk(idr, seq++, 3600 * 30, true), 900),
    ];
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.keyframe, true);
  });
});
