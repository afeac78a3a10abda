/**
 * SDP for WHIP (RFC 9725) over mediasoup, which has no SDP of its own: a publisher's offer
 * becomes the producers' RTP parameters and the transport's remote DTLS parameters, and the
 * answer is written from the WebRtcTransport's ICE-lite and DTLS parameters. One bundled
 * transport; H.264 video (required), Opus audio (taken if offered), anything else rejected.
 */
import type { types as ms } from 'mediasoup';
import * as sdpTransform from 'sdp-transform';
import { EXIT_CODES, FoleyError } from '../errors.js';

/** An offer the server cannot take; the message names the section and what is wrong. */
export class WhipOfferError extends FoleyError {
  readonly code = 'WHIP_OFFER';
  readonly exitCode = EXIT_CODES.unexpected.code;
}

/** The router's H.264 as declared by a producer (see `toProducerH264`). */
const ROUTER_H264_PARAMETERS = {
  'packetization-mode': 1,
  'profile-level-id': '42e01f',
  'level-asymmetry-allowed': 1,
};

/** Feedback mediasoup understands, as `type subtype`. */
const SUPPORTED_RTCP_FEEDBACK = new Set(['nack', 'nack pli', 'ccm fir', 'goog-remb', 'transport-cc']);

export interface WhipMediaOffer {
  kind: 'audio' | 'video';
  mid: string;
  payloadType: number;
  rtpParameters: ms.RtpParameters;
}

export interface WhipOffer {
  /** The publisher's DTLS role and fingerprints, as `transport.connect()` takes them. */
  dtlsParameters: ms.DtlsParameters;
  /** The setup attribute of the answer (the opposite DTLS role). */
  answerSetup: 'active' | 'passive';
  video: WhipMediaOffer;
  audio: WhipMediaOffer | null;
  /** The offer as parsed, for writing the answer in the same section order. */
  session: sdpTransform.SessionDescription;
}

type Section = sdpTransform.MediaDescription;

function fmtpOf(section: Section, payloadType: number): Record<string, string | number> {
  const config = section.fmtp.find((f) => f.payload === payloadType)?.config;
  return config ? (sdpTransform.parseParams(config) as Record<string, string | number>) : {};
}

function rtcpFeedbackOf(section: Section, payloadType: number): ms.RtcpFeedback[] {
  return (section.rtcpFb ?? [])
    .filter((fb) => String(fb.payload) === String(payloadType) || fb.payload === '*')
    .map((fb) => ({ type: fb.type, ...(fb.subtype ? { parameter: fb.subtype } : {}) }))
    .filter((fb) => SUPPORTED_RTCP_FEEDBACK.has(fb.parameter ? `${fb.type} ${fb.parameter}` : fb.type));
}

/** The first SSRC of the section that is not a retransmission SSRC, and its CNAME. */
function mainSsrc(section: Section, where: string): { ssrc: number; cname: string | undefined } {
  const ssrcs = section.ssrcs ?? [];
  const retransmission = new Set(
    (section.ssrcGroups ?? [])
      .filter((g) => g.semantics === 'FID')
      .flatMap((g) => g.ssrcs.split(' ').slice(1).map(Number)),
  );
  const main = ssrcs.find((s) => !retransmission.has(Number(s.id)));
  if (!main)
    throw new WhipOfferError(
      `[whip, ${where}] the offer has no a=ssrc line; send the SSRC in the offer (OBS and FFmpeg do)`,
    );
  const ssrc = Number(main.id);
  const cname = ssrcs.find((s) => Number(s.id) === ssrc && s.attribute === 'cname')?.value;
  return { ssrc, cname };
}

function headerExtensionsOf(
  section: Section,
  kind: 'audio' | 'video',
  router: ms.RtpCapabilities,
): ms.RtpHeaderExtensionParameters[] {
  const known = new Set((router.headerExtensions ?? []).filter((h) => h.kind === kind).map((h) => h.uri));
  return (section.ext ?? [])
    .filter((e) => known.has(e.uri as ms.RtpHeaderExtensionParameters['uri']))
    .map((e) => ({ uri: e.uri as ms.RtpHeaderExtensionParameters['uri'], id: e.value }));
}

function mediaOffer(
  section: Section,
  kind: 'audio' | 'video',
  router: ms.RtpCapabilities,
  index: number,
): WhipMediaOffer | null {
  const mid = section.mid !== undefined ? String(section.mid) : String(index);
  const where = `m=${kind}, mid:${mid}`;
  const wanted = kind === 'video' ? 'h264' : 'opus';
  const candidates = section.rtp.filter((r) => r.codec.toLowerCase() === wanted);
  const chosen =
    kind === 'video'
      ? candidates.find((r) => String(fmtpOf(section, r.payload)['packetization-mode'] ?? '0') === '1')
      : candidates[0];
  if (!chosen) {
    if (kind === 'audio') return null;
    const offered = section.rtp.map((r) => r.codec).join(', ') || 'none';
    throw new WhipOfferError(
      `[whip, ${where}] no H.264 with packetization-mode=1 in the offer (it offers ${offered}); set the encoder to H.264`,
    );
  }
  const { ssrc, cname } = mainSsrc(section, where);
  const codec: ms.RtpCodecParameters =
    kind === 'video'
      ? {
          mimeType: 'video/H264',
          clockRate: 90000,
          payloadType: chosen.payload,
          // The ingest decodes any H.264 profile, but mediasoup routes only between matching
          // profiles, so the producer declares the router's.
          parameters: ROUTER_H264_PARAMETERS,
          rtcpFeedback: rtcpFeedbackOf(section, chosen.payload),
        }
      : {
          mimeType: 'audio/opus',
          clockRate: 48000,
          channels: 2,
          payloadType: chosen.payload,
          parameters: fmtpOf(section, chosen.payload),
          rtcpFeedback: rtcpFeedbackOf(section, chosen.payload),
        };
  return {
    kind,
    mid,
    payloadType: chosen.payload,
    rtpParameters: {
      mid,
      codecs: [codec],
      headerExtensions: headerExtensionsOf(section, kind, router),
      encodings: [{ ssrc }],
      rtcp: { ...(cname ? { cname } : {}), reducedSize: true, mux: true },
    },
  };
}

/** Reads a WHIP offer; throws WhipOfferError naming what is missing or unsupported. */
export function parseWhipOffer(sdp: string, router: ms.RtpCapabilities): WhipOffer {
  if (!sdp.startsWith('v=0'))
    throw new WhipOfferError('[whip] the body is not an SDP offer (it must start with "v=0")');
  const session = sdpTransform.parse(sdp);
  const fingerprint = session.fingerprint ?? session.media.find((m) => m.fingerprint)?.fingerprint;
  if (!fingerprint) throw new WhipOfferError('[whip] the offer has no a=fingerprint (DTLS is required)');
  const setup = session.setup ?? session.media.find((m) => m.setup)?.setup ?? 'actpass';
  // Our role is the opposite of the publisher's; actpass lets us be the DTLS server.
  const publisherRole: ms.DtlsRole = setup === 'passive' ? 'server' : 'client';
  let video: WhipMediaOffer | null = null;
  let audio: WhipMediaOffer | null = null;
  session.media.forEach((section, index) => {
    if (section.port === 0) return;
    if (section.type === 'video' && !video) video = mediaOffer(section, 'video', router, index);
    else if (section.type === 'audio' && !audio) audio = mediaOffer(section, 'audio', router, index);
  });
  if (!video)
    throw new WhipOfferError(
      '[whip] the offer has no video section; publish H.264 video (audio is optional)',
    );
  return {
    dtlsParameters: {
      role: publisherRole,
      fingerprints: [
        {
          algorithm: fingerprint.type.toLowerCase() as ms.DtlsFingerprint['algorithm'],
          value: fingerprint.hash,
        },
      ],
    },
    answerSetup: publisherRole === 'server' ? 'active' : 'passive',
    video,
    audio,
    session,
  };
}

export interface WhipAnswerTransport {
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

/** The SDP answer: every offered section in order, the accepted ones receive-only on one bundled transport. */
export function buildWhipAnswer(offer: WhipOffer, transport: WhipAnswerTransport): string {
  const fingerprint =
    transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ??
    transport.dtlsParameters.fingerprints[0]!;
  const accepted = [offer.video, offer.audio].filter((m): m is WhipMediaOffer => m !== null);
  const firstIp = transport.iceCandidates[0]?.ip ?? '127.0.0.1';
  const ipVer = firstIp.includes(':') ? 6 : 4;
  const media: sdpTransform.MediaDescription[] = offer.session.media.map((section, index) => {
    const mid = section.mid !== undefined ? String(section.mid) : String(index);
    const taken = accepted.find((m) => m.mid === mid && m.kind === section.type);
    if (!taken) {
      // A rejected section: port 0, its first format echoed.
      return {
        type: section.type,
        port: 0,
        protocol: section.protocol,
        payloads: String(section.payloads ?? '').split(' ')[0] ?? '0',
        connection: { version: ipVer, ip: firstIp },
        rtp: [],
        fmtp: [],
        mid,
        direction: 'inactive',
      };
    }
    const codec = taken.rtpParameters.codecs[0]!;
    const offeredRtp = section.rtp.find((r) => r.payload === taken.payloadType)!;
    const offeredFmtp = section.fmtp.find((f) => f.payload === taken.payloadType);
    return {
      type: section.type,
      port: 7,
      protocol: 'UDP/TLS/RTP/SAVPF',
      payloads: String(taken.payloadType),
      connection: { version: ipVer, ip: firstIp },
      rtcp: { port: 9, netType: 'IN', ipVer, address: ipVer === 6 ? '::' : '0.0.0.0' },
      rtp: [offeredRtp],
      fmtp: offeredFmtp ? [offeredFmtp] : [],
      rtcpFb: (codec.rtcpFeedback ?? []).map((fb) => ({
        payload: taken.payloadType,
        type: fb.type,
        ...(fb.parameter ? { subtype: fb.parameter } : {}),
      })),
      ext: (taken.rtpParameters.headerExtensions ?? []).map((h) => ({ value: h.id, uri: h.uri })),
      mid,
      direction: 'recvonly',
      iceUfrag: transport.iceParameters.usernameFragment,
      icePwd: transport.iceParameters.password,
      candidates: transport.iceCandidates.map((c) => ({
        foundation: c.foundation,
        component: 1,
        transport: c.protocol,
        priority: c.priority,
        ip: c.ip,
        port: c.port,
        type: c.type,
        ...(c.tcpType ? { tcptype: c.tcpType } : {}),
      })),
      endOfCandidates: 'end-of-candidates',
      setup: offer.answerSetup,
      rtcpMux: 'rtcp-mux',
      rtcpRsize: 'rtcp-rsize',
    };
  });
  const answer: sdpTransform.SessionDescription = {
    version: 0,
    origin: {
      username: 'foley',
      sessionId: Date.now(),
      sessionVersion: 1,
      netType: 'IN',
      ipVer: 4,
      address: '127.0.0.1',
    },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    fingerprint: { type: fingerprint.algorithm, hash: fingerprint.value },
    msidSemantic: { semantic: 'WMS', token: '*' },
    groups: [
      {
        type: 'BUNDLE',
        mids: media
          .filter((m) => m.port !== 0)
          .map((m) => m.mid)
          .join(' '),
      },
    ],
    media,
  };
  return sdpTransform.write(answer);
}
