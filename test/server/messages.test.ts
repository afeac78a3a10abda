import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeError,
  MAX_MESSAGE_BYTES,
  MessageError,
  parseClientMessage,
} from '../../src/server/messages.js';

function codeOf(text: string): string {
  try {
    parseClientMessage(text);
  } catch (error) {
    assert.ok(error instanceof MessageError);
    return error.code;
  }
  return 'OK';
}

describe('parseClientMessage', () => {
  it('accepts well-formed requests and keeps only known fields', () => {
    const m = parseClientMessage(
      JSON.stringify({ id: 3, case: 'createTransport', value: { direction: 'send', extra: 1 } }),
    );
    assert.deepEqual(m, { id: 3, case: 'createTransport', value: { direction: 'send' } });
  });
  it('answers malformed input with a code, never a throw of another kind', () => {
    assert.equal(codeOf('{not json'), 'BAD_JSON');
    assert.equal(codeOf('[]'), 'BAD_MESSAGE');
    assert.equal(codeOf('null'), 'BAD_MESSAGE');
    assert.equal(codeOf('{"case":"ping"}'), 'BAD_MESSAGE');
    assert.equal(codeOf('{"id":-1,"case":"ping"}'), 'BAD_MESSAGE');
    assert.equal(codeOf('{"id":1,"case":"nope"}'), 'UNKNOWN_CASE');
    assert.equal(codeOf('{"id":1,"case":"createTransport","value":{"direction":"sideways"}}'), 'BAD_MESSAGE');
    assert.equal(
      codeOf(
        '{"id":1,"case":"produce","value":{"transportId":"t","kind":"audio","rtpParameters":{"codecs":[]}}}',
      ),
      'BAD_MESSAGE',
    );
    assert.equal(
      codeOf(
        '{"id":1,"case":"connectTransport","value":{"transportId":"' +
          'x'.repeat(500) +
          '","dtlsParameters":{}}}',
      ),
      'BAD_MESSAGE',
    );
    assert.equal(codeOf('{"id":1,"case":"__proto__","value":{}}'), 'UNKNOWN_CASE');
  });
  it('refuses a message over the size limit, counting bytes not characters', () => {
    assert.equal(
      codeOf(JSON.stringify({ id: 1, case: 'ping', value: { pad: 'x'.repeat(MAX_MESSAGE_BYTES) } })),
      'TOO_LARGE',
    );
    assert.equal(
      codeOf(JSON.stringify({ id: 1, case: 'ping', value: { pad: 'é'.repeat(MAX_MESSAGE_BYTES / 2) } })),
      'TOO_LARGE',
    );
  });
  it('keeps the request id on errors after the id was read', () => {
    try {
      parseClientMessage('{"id":7,"case":"resumeConsumer","value":{}}');
      assert.fail('should throw');
    } catch (error) {
      assert.equal((error as MessageError).requestId, 7);
    }
  });
  it('reads a playoutLatency notification (id null) and names a bad addedMs', () => {
    assert.deepEqual(parseClientMessage('{"id":null,"case":"playoutLatency","value":{"addedMs":83.5}}'), {
      id: null,
      case: 'playoutLatency',
      value: { addedMs: 83.5 },
    });
    assert.equal(parseClientMessage('{"case":"playoutLatency","value":{"addedMs":0}}').id, null);
    for (const bad of ['-0.1', '5000.5', '"80"', 'null', '1e999']) {
      assert.equal(
        codeOf(`{"id":null,"case":"playoutLatency","value":{"addedMs":${bad}}}`),
        'BAD_MESSAGE',
        bad,
      );
    }
    assert.throws(
      () => parseClientMessage('{"id":null,"case":"playoutLatency","value":{"addedMs":6000}}'),
      /\[playoutLatency\] field "value\.addedMs" must be a number of ms from 0 to 5000, got 6000/,
    );
    assert.throws(
      () => parseClientMessage('{"id":4,"case":"playoutLatency","value":{"addedMs":1}}'),
      /is a notification: field "id" must be null/,
    );
    assert.equal(codeOf('{"id":null,"case":"ping","value":{}}'), 'BAD_MESSAGE', 'requests still need an id');
  });
  it('names the field of bad DTLS parameters instead of passing them to mediasoup', () => {
    const connect = (dtlsParameters: unknown) =>
      JSON.stringify({ id: 5, case: 'connectTransport', value: { transportId: 't', dtlsParameters } });
    const fingerprint = { algorithm: 'sha-256', value: 'AB:CD:EF' };
    for (const [dtls, field] of [
      [{}, /"value\.dtlsParameters\.fingerprints" must be an array of 1 to 8 fingerprints/],
      [{ fingerprints: 'x' }, /"value\.dtlsParameters\.fingerprints" must be/],
      [
        { role: 'banana', fingerprints: [fingerprint] },
        /"value\.dtlsParameters\.role" must be one of auto, client, server/,
      ],
      [
        { fingerprints: [{ algorithm: 'md5000', value: 'AB' }] },
        /fingerprints\[0\]\.algorithm" must be one of sha-1/,
      ],
      [
        { fingerprints: [{ algorithm: 'sha-256', value: 'zz' }] },
        /fingerprints\[0\]\.value" must be hex byte pairs/,
      ],
      [{ fingerprints: [fingerprint, 7] }, /fingerprints\[1\]" must be an object/],
    ] as const) {
      assert.throws(
        () => parseClientMessage(connect(dtls)),
        (e: unknown) =>
          e instanceof MessageError && e.code === 'BAD_MESSAGE' && e.requestId === 5 && field.test(e.message),
        JSON.stringify(dtls),
      );
    }
    const polluted = JSON.parse(
      '{"__proto__":{"x":1},"role":"client","fingerprints":[{"algorithm":"sha-256","value":"AB:CD:EF","extra":1}]}',
    );
    const m = parseClientMessage(connect(polluted));
    assert.deepEqual(m.value, {
      transportId: 't',
      dtlsParameters: { role: 'client', fingerprints: [fingerprint] },
    });
  });

  it('names a produce codec whose mimeType is not a string (an object without a string form once threw INTERNAL)', () => {
    for (const mimeType of [{ toString: 'x', valueOf: 'y' }, 7, null]) {
      assert.throws(
        () =>
          parseClientMessage(
            JSON.stringify({
              id: 2,
              case: 'produce',
              value: { transportId: 't', kind: 'video', rtpParameters: { codecs: [{ mimeType }] } },
            }),
          ),
        (e: unknown) =>
          e instanceof MessageError &&
          e.code === 'BAD_MESSAGE' &&
          /field "value\.rtpParameters\.codecs\[0\]\.mimeType" must be a string/.test(e.message),
        JSON.stringify(mimeType),
      );
    }
  });

  it('describes any error with a non-empty message', () => {
    assert.equal(describeError(new Error('bind failed')), 'bind failed');
    assert.equal(describeError(new TypeError('')), 'TypeError without a message');
    assert.match(
      describeError(new Error(' [method:router.createWebRtcTransport]')),
      /^mediasoup router\.createWebRtcTransport failed without a reason \(the worker may be out of ports or file descriptors/,
    );
    assert.equal(describeError(''), 'unknown error');
    assert.equal(describeError('plain'), 'plain');
  });
});
