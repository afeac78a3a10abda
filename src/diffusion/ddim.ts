/**
 * One deterministic DDIM step (η = 0):
 *   x̂0 = (z_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t,   z_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε̂
 */

export interface DdimResult {
  zPrev: Float32Array;
  predictedX0: Float32Array;
}

export function ddimStep(
  zt: Float32Array,
  epsilon: Float32Array,
  alphaBar: number,
  alphaBarPrev: number,
): DdimResult {
  const n = zt.length;
  const zPrev = new Float32Array(n);
  const predictedX0 = new Float32Array(n);
  const sqrtA = Math.sqrt(alphaBar);
  const sqrt1mA = Math.sqrt(1 - alphaBar);
  const sqrtAPrev = Math.sqrt(alphaBarPrev);
  const sqrt1mAPrev = Math.sqrt(1 - alphaBarPrev);
  for (let i = 0; i < n; i++) {
    const e = epsilon[i]!;
    const x0 = (zt[i]! - sqrt1mA * e) / sqrtA;
    predictedX0[i] = x0;
    zPrev[i] = sqrtAPrev * x0 + sqrt1mAPrev * e;
  }
  return { zPrev, predictedX0 };
}
