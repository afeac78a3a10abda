/**
 * Crossfade curves for joining overlapping audio. Windows joined here share their overlap
 * latent, so the two signals are highly correlated: a curve whose gains sum to 1
 * (raised-cosine, linear) keeps the level; equal-power (gains whose squares sum to 1) suits
 * uncorrelated signals and would bump correlated ones by up to 3 dB.
 */

export type CrossfadeCurve = 'raised-cosine' | 'linear' | 'equal-power';
export const CROSSFADE_CURVES: readonly CrossfadeCurve[] = ['raised-cosine', 'linear', 'equal-power'];

/** Gains (fadeOut for the earlier signal, fadeIn for the later) at position x in [0, 1]. */
export function crossfadeGains(curve: CrossfadeCurve, x: number): { fadeOut: number; fadeIn: number } {
  switch (curve) {
    case 'linear':
      return { fadeOut: 1 - x, fadeIn: x };
    case 'equal-power':
      return { fadeOut: Math.cos((x * Math.PI) / 2), fadeIn: Math.sin((x * Math.PI) / 2) };
    default: {
      const s = Math.sin((x * Math.PI) / 2) ** 2;
      return { fadeOut: 1 - s, fadeIn: s };
    }
  }
}

/** Mixes `earlier` (fading out) and `later` (fading in), equal lengths, into a new array. */
export function crossfade(earlier: Float32Array, later: Float32Array, curve: CrossfadeCurve): Float32Array {
  if (earlier.length !== later.length) {
    throw new RangeError(`[crossfade] lengths differ: ${earlier.length} vs ${later.length}`);
  }
  const n = earlier.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Sample centres, so neither end is exactly 0 or 1 and the fade is symmetric.
    const { fadeOut, fadeIn } = crossfadeGains(curve, (i + 0.5) / n);
    out[i] = fadeOut * earlier[i]! + fadeIn * later[i]!;
  }
  return out;
}
