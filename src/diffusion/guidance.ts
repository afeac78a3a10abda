/**
 * Double guidance (Diff-Foley eq. 8), with classifier-free guidance (eq. 7) as the γ = 0 case:
 *   ε̂ = (1 + ω)·ε(z_t, t, E_v) − ω·ε(z_t, t, ∅) − γ·√(1 − ᾱ_t)·∇ log p(aligned | z_t, E_v)
 * The classifier gradient arrives as an input; this module only combines terms.
 */

export interface GuidanceInputs {
  conditional: Float32Array;
  /** Required when cfgScale > 0. */
  unconditional?: Float32Array;
  /** Required when cgScale > 0. */
  classifierGradient?: Float32Array;
  cfgScale: number;
  cgScale: number;
  alphaBar: number;
}

export function guidedEpsilon(inputs: GuidanceInputs): Float32Array {
  const { conditional, unconditional, classifierGradient, cfgScale, cgScale, alphaBar } = inputs;
  const n = conditional.length;
  const out = new Float32Array(n);
  const useCfg = cfgScale !== 0;
  const useCg = cgScale !== 0;
  if (useCfg && (!unconditional || unconditional.length !== n)) {
    throw new RangeError(`[guidance] cfgScale ${cfgScale} needs an unconditional ε of ${n} values`);
  }
  if (useCg && (!classifierGradient || classifierGradient.length !== n)) {
    throw new RangeError(`[guidance] cgScale ${cgScale} needs a classifier gradient of ${n} values`);
  }
  const gradScale = cgScale * Math.sqrt(1 - alphaBar);
  for (let i = 0; i < n; i++) {
    let e = conditional[i]!;
    if (useCfg) e = (1 + cfgScale) * e - cfgScale * unconditional![i]!;
    if (useCg) e -= gradScale * classifierGradient![i]!;
    out[i] = e;
  }
  return out;
}
