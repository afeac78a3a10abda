import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as sdpTransform from 'sdp-transform';
import { buildWhipAnswer, parseWhipOffer, WhipOfferError } from '../../src/server/WhipSdp.js';
import { OBS_OFFER } from './whip-offers.js';

const ROUTER_CAPABILITIES: ms.RtpCapabilities = Object.freeze({
  codecs: [],
  headerExtensions: [
    { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
    { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
  ],
}) as ms.RtpCapabilities;

const TRANSPORT = Object.freeze({
  iceParameters: { usernameFragment: 'srvufrag', password: 'srvpassword', iceLite: true },
  iceCandidates: [
    {
      foundation: 'udpcandidate',
      priority: 1076302079,
      ip: '127.0.0.1',
      protocol: 'udp',
      port: 40001,
      type: 'host',
    },
    {
      foundation: 'tcpcandidate',
      priority: 1076276479,
      ip: '127.0.0.1',
      protocol: 'tcp',
      port: 40002,
      type: 'host',
      tcpType: 'passive',
    },
  ],
  dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] },
}) as unknown as Parameters<typeof buildWhipAnswer>[1];

describe('WhipSdp', () => {
  it("reads OBS's offer: H.264 as the router's profile, Opus, SSRCs, CNAME, known feedback and extensions only", () => {
    const offer = parseWhipOffer(OBS_OFFER, ROUTER_CAPABILITIES);
    assert.deepEqual(offer.dtlsParameters, {
      role: 'client',
      fingerprints: [{ algorithm: 'sha-256', value: OBS_OFFER.match(/sha-256 (\S+)/)![1] }],
    });
    assert.equal(offer.answerSetup, 'passive');
    const video = offer.video.rtpParameters;
    assert.equal(offer.video.mid, '1');
    assert.equal(video.codecs[0]!.mimeType, 'video/H264');
    assert.equal(video.codecs[0]!.parameters['profile-level-id'], '42e01f');
    assert.deepEqual(video.codecs[0]!.rtcpFeedback, [
      { type: 'nack' },
      { type: 'nack', parameter: 'pli' },
      { type: 'goog-remb' },
    ]);
    assert.deepEqual(video.encodings, [{ ssrc: 1827340116 }]);
    assert.deepEqual(video.headerExtensions, [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 }]);
    assert.equal(video.rtcp?.cname, 'obs');
    assert.equal(offer.audio?.rtpParameters.codecs[0]!.mimeType, 'audio/opus');
    assert.deepEqual(offer.audio?.rtpParameters.encodings, [{ ssrc: 3402934718 }]);
  });

  it('answers every section in order, receive-only, ICE-lite, with the transport candidates and one bundle', () => {
    const answer = sdpTransform.parse(
      buildWhipAnswer(parseWhipOffer(OBS_OFFER, ROUTER_CAPABILITIES), TRANSPORT),
    );
    assert.equal(answer.icelite, 'ice-lite');
    assert.deepEqual(answer.groups, [{ type: 'BUNDLE', mids: '0 1' }]);
    assert.deepEqual(
      answer.media.map((m) => [m.type, String(m.mid), m.direction, m.setup, String(m.payloads)]),
      [
        ['audio', '0', 'recvonly', 'passive', '111'],
        ['video', '1', 'recvonly', 'passive', '96'],
      ],
    );
    const video = answer.media[1]!;
    assert.equal(video.iceUfrag, 'srvufrag');
    assert.deepEqual(
      video.candidates?.map((c) => [c.transport, c.port, c.type]),
      [
        ['udp', 40001, 'host'],
        ['tcp', 40002, 'host'],
      ],
    );
    assert.equal(
      video.fmtp[0]!.config,
      'profile-level-id=64001f;packetization-mode=1;level-asymmetry-allowed=1',
    );
  });

  it('takes the DTLS client role when the publisher offers to be passive', () => {
    const offer = parseWhipOffer(
      OBS_OFFER.replace('a=setup:actpass', 'a=setup:passive'),
      ROUTER_CAPABILITIES,
    );
    assert.equal(offer.dtlsParameters.role, 'server');
    assert.equal(offer.answerSetup, 'active');
  });

  it('rejects an offer without audio codecs it knows in its audio section but keeps the video', () => {
    const offer = parseWhipOffer(OBS_OFFER.replace('opus/48000/2', 'PCMU/8000'), ROUTER_CAPABILITIES);
    assert.equal(offer.audio, null);
    const answer = sdpTransform.parse(buildWhipAnswer(offer, TRANSPORT));
    assert.equal(answer.media[0]!.port, 0);
    assert.equal(String(answer.groups?.[0]?.mids), '1');
  });

  it('names what is missing: fingerprint, video', () => {
    assert.throws(
      () => parseWhipOffer(OBS_OFFER.replace(/a=fingerprint:.*\r\n/, ''), ROUTER_CAPABILITIES),
      (e: unknown) => e instanceof WhipOfferError && /no a=fingerprint/.test(e.message),
    );
    const audioOnly = OBS_OFFER.slice(0, OBS_OFFER.indexOf('m=video'));
    assert.throws(() => parseWhipOffer(audioOnly, ROUTER_CAPABILITIES), /the offer has no video section/);
  });
});
