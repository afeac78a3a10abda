/**
 * Splits the usable videos of a footage folder into those trained on and those held out for
 * scoring, deterministically: the names are sorted, then shuffled by a seeded generator, so
 * the same folder, share and seed always give the same split.
 */
import { MediaInputError, UsageError } from '../errors.js';

export interface HoldoutSplit {
  train: string[];
  heldOut: string[];
}

/** Held-out videos for `count` usable ones: the share rounded, at least 1, and at least 1 left to train on. */
export function heldOutCount(count: number, share: number): number {
  if (!(share > 0 && share < 1))
    throw new UsageError(`[holdout] the held-out share must be between 0 and 1 (exclusive), got ${share}`);
  if (count < 2)
    throw new MediaInputError(
      `[holdout] needs at least 2 usable videos (1 to train on, 1 to score), got ${count}`,
    );
  return Math.min(count - 1, Math.max(1, Math.round(share * count)));
}

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function splitHoldout(names: readonly string[], share: number, seed: number): HoldoutSplit {
  const unique = [...new Set(names)].sort();
  if (unique.length !== names.length) throw new UsageError('[holdout] the video names are not unique');
  const count = heldOutCount(unique.length, share);
  const random = seededRandom(seed);
  const order = [...unique];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return { heldOut: order.slice(0, count).sort(), train: order.slice(count).sort() };
}
