// Plain-JavaScript checks for the peer benchmarks: a float64 dense reference of (block-masked,
// optionally causal) attention (the error measure is cli/workloads.ts's maxAbsDiff). Small sizes only: the reference is
// O(B·H·N²·D). Not test/reference/: that one keeps B·H·N² float64 scores, too much at the bench
// sizes, where this one streams a row at a time.

export interface ReferenceOptions {
  B: number;
  H: number;
  N: number;
  D: number;
  scale?: number;
  causal?: boolean;
  /** [H, N/block, N/block]; absent: dense. */
  layout?: { block: number; shape: [number, number, number]; data: Uint8Array };
}

/** Dense attention in float64 over [B, H, N, D]; positions outside the layout (and above the diagonal when causal) are −∞; an empty row gives zeros. */
export function streamedReferenceAttention(q: Float32Array, k: Float32Array, v: Float32Array, o: ReferenceOptions): Float32Array {
  const { B, H, N, D } = o;
  const out = new Float32Array(B * H * N * D);
  const row = rowReference(q, k, v, o);
  for (let r = 0; r < B * H * N; r++) row(r, out, r * D);
  return out;
}

/**
 * The same reference for a few rows only: `rows` index the B·H·N query rows (row = (b·H + h)·N + i);
 * returns rows.length × D values. Cheap enough for spot checks at very long sequences.
 */
export function referenceAttentionRows(q: Float32Array, k: Float32Array, v: Float32Array, o: ReferenceOptions, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * o.D);
  const row = rowReference(q, k, v, o);
  rows.forEach((r, t) => row(r, out, t * o.D));
  return out;
}

/**
 * One query row of the reference, row = (b·H + h)·N + i, written to out[at .. at + D) (left as is,
 * zeros, when the row keeps nothing). O(N·D) time and O(N + D) memory per row, so that neither caller
 * materialises the N×N scores (test/reference/ does: too big for the bench sizes).
 */
function rowReference(q: Float32Array, k: Float32Array, v: Float32Array, o: ReferenceOptions): (row: number, out: Float32Array, at: number) => void {
  const { H, N, D } = o;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const block = o.layout?.block ?? 1;
  const nb = o.layout ? o.layout.shape[1] : 0;
  const s = new Float64Array(N);
  const acc = new Float64Array(D);
  return (row, out, at) => {
    const bh = Math.floor(row / N);
    const i = row % N;
    const h = bh % H;
    const base = bh * N * D;
    let max = -Infinity;
    for (let j = 0; j < N; j++) {
      let keep = !(o.causal && j > i);
      if (keep && o.layout) keep = o.layout.data[(h * nb + ((i / block) | 0)) * nb + ((j / block) | 0)] !== 0;
      if (!keep) { s[j] = -Infinity; continue; }
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[base + i * D + d] * k[base + j * D + d];
      s[j] = dot * scale;
      if (s[j] > max) max = s[j];
    }
    if (max === -Infinity) return;
    acc.fill(0);
    let sum = 0;
    for (let j = 0; j < N; j++) {
      if (s[j] === -Infinity) continue;
      const p = Math.exp(s[j] - max);
      sum += p;
      for (let d = 0; d < D; d++) acc[d] += p * v[base + j * D + d];
    }
    for (let d = 0; d < D; d++) out[at + d] = acc[d] / sum;
  };
}
