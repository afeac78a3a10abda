/**
 * mir_eval-compatible onset scoring: hits within ±window, maximum bipartite matching
 * (a port of mir_eval.util._bipartite_match, Hopcroft–Karp after Eppstein, with the same
 * iteration order so the same pairs are matched), F-measure and matched offsets.
 */

/** Pairs (refIndex, estIndex) with |ref − est| <= window, grouped by estimate (mir_eval order). */
function hitGraph(ref: number[], est: number[], window: number): Map<number, number[]> {
  const order = ref.map((_, i) => i).sort((a, b) => ref[a]! - ref[b]! || a - b);
  const sorted = order.map((i) => ref[i]!);
  const lowerBound = (v: number, right: boolean) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (right ? sorted[mid]! <= v : sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const graph = new Map<number, number[]>();
  est.forEach((e, j) => {
    const start = lowerBound(e - window, false);
    const end = lowerBound(e + window, true);
    for (let k = start; k < end; k++) {
      if (!graph.has(j)) graph.set(j, []);
      graph.get(j)!.push(order[k]!);
    }
  });
  return graph;
}

/** mir_eval.util._bipartite_match: graph maps left (estimate) -> right (reference) vertices. */
function bipartiteMatch(graph: Map<number, number[]>): Map<number, number> {
  const matching = new Map<number, number>(); // right -> left
  for (const [u, vs] of graph) {
    for (const v of vs) {
      if (!matching.has(v)) {
        matching.set(v, u);
        break;
      }
    }
  }
  const UNMATCHED = -1;
  for (;;) {
    const preds = new Map<number, number[]>();
    const unmatched: number[] = [];
    const pred = new Map<number, number>();
    for (const u of graph.keys()) pred.set(u, UNMATCHED);
    for (const u of matching.values()) pred.delete(u);
    let layer = [...pred.keys()];
    while (layer.length > 0 && unmatched.length === 0) {
      const newLayer = new Map<number, number[]>();
      for (const u of layer) {
        for (const v of graph.get(u)!) {
          if (!preds.has(v)) {
            if (!newLayer.has(v)) newLayer.set(v, []);
            newLayer.get(v)!.push(u);
          }
        }
      }
      layer = [];
      for (const [v, us] of newLayer) {
        preds.set(v, us);
        if (matching.has(v)) {
          layer.push(matching.get(v)!);
          pred.set(matching.get(v)!, v);
        } else {
          unmatched.push(v);
        }
      }
    }
    if (unmatched.length === 0) return matching;
    const recurse = (v: number): boolean => {
      const us = preds.get(v);
      if (us === undefined) return false;
      preds.delete(v);
      for (const u of us) {
        if (pred.has(u)) {
          const pu = pred.get(u)!;
          pred.delete(u);
          if (pu === UNMATCHED || recurse(pu)) {
            matching.set(v, u);
            return true;
          }
        }
      }
      return false;
    };
    for (const v of unmatched) recurse(v);
  }
}

/** mir_eval.util.match_events: sorted (refIndex, estIndex) pairs of a maximum matching. */
export function matchEvents(ref: number[], est: number[], window: number): [number, number][] {
  const matching = bipartiteMatch(hitGraph(ref, est, window));
  return [...matching.entries()].sort((a, b) => a[0] - b[0]);
}

export interface OnsetScores {
  f1: number;
  precision: number;
  recall: number;
  /** est − ref of each matched pair, ms. */
  offsetsMs: number[];
  matched: number;
  reference: number;
  estimated: number;
}

/** mir_eval.onset.f_measure(ref, est, window) plus the offsets of the matched pairs. */
export function scoreOnsets(ref: number[], est: number[], window = 0.05): OnsetScores {
  const base = { reference: ref.length, estimated: est.length };
  if (ref.length === 0 || est.length === 0) {
    return { f1: 0, precision: 0, recall: 0, offsetsMs: [], matched: 0, ...base };
  }
  const matches = matchEvents(ref, est, window);
  const precision = matches.length / est.length;
  const recall = matches.length / ref.length;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const offsetsMs = matches.map(([i, j]) => 1000 * (est[j]! - ref[i]!));
  return { f1, precision, recall, offsetsMs, matched: matches.length, ...base };
}
