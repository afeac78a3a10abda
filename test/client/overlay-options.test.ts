import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_OVERLAY_OPTIONS,
  OverlayOptionError,
  parseOverlayOptions,
} from '../../client/src/overlay-options.js';

const parse = (query: string) => parseOverlayOptions(new URLSearchParams(query));

describe('overlay URL options', () => {
  it('shows everything at the bottom left, dark, scale 1, 3 s, when the URL names only room and token', () => {
    assert.deepEqual(parse('room=main&token=abc'), DEFAULT_OVERLAY_OPTIONS);
  });

  it('reads each option', () => {
    assert.deepEqual(
      parse('spectrogram=0&ticks=1&chip=false&position=top-right&scale=1.5&theme=light&seconds=5'),
      {
        spectrogram: false,
        ticks: true,
        chip: false,
        position: 'top-right',
        scale: 1.5,
        theme: 'light',
        seconds: 5,
      },
    );
  });

  it('names the option, the value and what it takes when a value is not understood', () => {
    const cases: Array<[string, RegExp]> = [
      [
        'position=middle',
        /\[overlay option position\] got "middle"; use one of bottom-left, bottom-right, top-left, top-right/,
      ],
      ['scale=0', /\[overlay option scale\] got "0"; use a number from 0.25 to 8/],
      ['scale=', /\[overlay option scale\] got ""/],
      ['theme=neon', /\[overlay option theme\] got "neon"; use one of dark, light/],
      ['ticks=yes', /\[overlay option ticks\] got "yes"; use 1 \(show\) or 0 \(hide\)/],
      ['seconds=60', /\[overlay option seconds\] got "60"; use a number from 0.5 to 30/],
    ];
    for (const [query, message] of cases) {
      assert.throws(
        () => parse(query),
        (e: unknown) => e instanceof OverlayOptionError && message.test(e.message),
        query,
      );
    }
  });
});
