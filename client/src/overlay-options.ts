/**
 * The overlay page's URL options:
 *   ?room=NAME&token=LISTEN_TOKEN&spectrogram=1&ticks=1&chip=1&position=bottom-left&scale=1&theme=dark&seconds=3
 * Each part can be turned off with 0; a value that is not understood is an error naming
 * the option, what it got and what it takes (the page shows it instead of guessing).
 */

export const OVERLAY_POSITIONS = ['bottom-left', 'bottom-right', 'top-left', 'top-right'] as const;
export const OVERLAY_THEMES = ['dark', 'light'] as const;

export interface OverlayOptions {
  spectrogram: boolean;
  ticks: boolean;
  chip: boolean;
  position: (typeof OVERLAY_POSITIONS)[number];
  /** Size factor of everything drawn (1: a 240 px wide strip). */
  scale: number;
  theme: (typeof OVERLAY_THEMES)[number];
  /** How much history the spectrogram and tick lane show, s. */
  seconds: number;
}

export const DEFAULT_OVERLAY_OPTIONS: Readonly<OverlayOptions> = Object.freeze({
  spectrogram: true,
  ticks: true,
  chip: true,
  position: 'bottom-left',
  scale: 1,
  theme: 'dark',
  seconds: 3,
});

export class OverlayOptionError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'OverlayOptionError';
  }
}

function flag(params: URLSearchParams, name: 'spectrogram' | 'ticks' | 'chip'): boolean {
  const value = params.get(name);
  if (value === null) return DEFAULT_OVERLAY_OPTIONS[name];
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new OverlayOptionError(name, `[overlay option ${name}] got "${value}"; use 1 (show) or 0 (hide)`);
}

function oneOf<T extends string>(
  params: URLSearchParams,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = params.get(name);
  if (value === null) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new OverlayOptionError(
    name,
    `[overlay option ${name}] got "${value}"; use one of ${allowed.join(', ')}`,
  );
}

function numberIn(params: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const value = params.get(name);
  if (value === null) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new OverlayOptionError(
      name,
      `[overlay option ${name}] got "${value}"; use a number from ${min} to ${max}`,
    );
  return n;
}

/** The overlay's options from its URL's query; throws OverlayOptionError for a bad value. */
export function parseOverlayOptions(params: URLSearchParams): OverlayOptions {
  const d = DEFAULT_OVERLAY_OPTIONS;
  return {
    spectrogram: flag(params, 'spectrogram'),
    ticks: flag(params, 'ticks'),
    chip: flag(params, 'chip'),
    position: oneOf(params, 'position', OVERLAY_POSITIONS, d.position),
    scale: numberIn(params, 'scale', 0.25, 8, d.scale),
    theme: oneOf(params, 'theme', OVERLAY_THEMES, d.theme),
    seconds: numberIn(params, 'seconds', 0.5, 30, d.seconds),
  };
}
