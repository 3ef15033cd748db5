// Structured inputs that a content-based selection can be judged on (bench/select-blocks.ts): q, k
// and v [1, H, N, D] of small noise plus
// - local structure: the first 2·M dimensions of q_i and k_j are a·(cos ω_m i, sin ω_m i), so that
//   q_i·k_j holds a²·Σ_m cos(ω_m (i − j)), largest near the diagonal (RoPE-like bands);
// - planted matches: each block row r ≥ FAR gets `plants` key blocks c ≤ r − FAR (a free one where
//   one is left), its queries and those keys given one random ±β/√D direction in the other
//   dimensions: the keys are near-copies of the queries' direction, far away, which only content
//   finds. `plantRows` of the block's query rows carry it (all by default): fewer dilute it in the
//   pooled query, as a few matching tokens in a block do.
import { mulberry32 } from '../cli/random.js';

/** Planted blocks sit at least this many block columns before their row's diagonal. */
export const FAR = 4;

export interface PlantedInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  shape: [number, number, number, number];
  /** Per head h and block row r, its planted block columns: plants[h][r]. */
  plants: number[][][];
}

export interface PlantedOptions {
  H: number;
  N: number;
  D: number;
  block: number;
  /** Planted blocks per block row. */
  plants: number;
  seed: number;
  /** Noise amplitude (uniform in ±noise). */
  noise?: number;
  /** Local structure amplitude a, over M = 4 frequencies. */
  local?: number;
  /** Planted direction norm β. */
  beta?: number;
  /** Query rows of a block that carry its planted direction (default: the whole block). */
  plantRows?: number;
  /** The first block row given plants (default FAR); a decode step's alone: its block row. */
  firstPlantedRow?: number;
}

export function plantedInputs(o: PlantedOptions): PlantedInputs {
  const { H, N, D, block } = o;
  const noise = o.noise ?? 0.3;
  const a = o.local ?? 1;
  const beta = o.beta ?? 6;
  const plantRows = Math.min(o.plantRows ?? block, block);
  const M = Math.min(4, Math.floor(D / 4));
  const rng = mulberry32(o.seed);
  const size = H * N * D;
  const q = new Float32Array(size);
  const k = new Float32Array(size);
  const v = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    q[i] = (rng() * 2 - 1) * noise;
    k[i] = (rng() * 2 - 1) * noise;
    v[i] = rng() * 2 - 1;
  }
  // periods from 2 blocks to 16 blocks: neighbouring blocks score above far ones after pooling
  const omega = Array.from({ length: M }, (_, m) => (2 * Math.PI) / (block * 2 * 2 ** m));
  const R = Math.ceil(N / block);
  const plants: number[][][] = [];
  const rest = D - 2 * M;
  const dir = new Float32Array(rest);
  for (let h = 0; h < H; h++) {
    const base = h * N * D;
    for (let i = 0; i < N; i++) {
      for (let m = 0; m < M; m++) {
        const c = a * Math.cos(omega[m] * i);
        const s = a * Math.sin(omega[m] * i);
        q[base + i * D + 2 * m] += c;
        q[base + i * D + 2 * m + 1] += s;
        k[base + i * D + 2 * m] += c;
        k[base + i * D + 2 * m + 1] += s;
      }
    }
    const used = new Uint8Array(R);
    const rows: number[][] = [];
    for (let r = 0; r < R; r++) {
      const cols: number[] = [];
      for (let p = 0; p < o.plants && r >= Math.max(FAR, o.firstPlantedRow ?? 0); p++) {
        const last = r - FAR;
        let c = Math.floor(rng() * (last + 1));
        // a free column, if one is left at or below `last`, searching down then up from c
        for (let t = 0; t <= last && (used[c] || cols.includes(c)); t++) c = (c + 1) % (last + 1);
        used[c] = 1;
        cols.push(c);
        for (let d = 0; d < rest; d++) dir[d] = ((rng() < 0.5 ? -1 : 1) * beta) / Math.sqrt(rest);
        const q0 = r * block;
        const k0 = c * block;
        // plantRows rows spread over the block (every (block / plantRows)-th row)
        for (let p2 = 0; p2 < plantRows; p2++) {
          const i = q0 + Math.floor((p2 * block) / plantRows);
          if (i < N) for (let d = 0; d < rest; d++) q[base + i * D + 2 * M + d] += dir[d];
        }
        for (let j = 0; j < block && k0 + j < N; j++) for (let d = 0; d < rest; d++) k[base + (k0 + j) * D + 2 * M + d] += dir[d];
      }
      rows.push(cols);
    }
    plants.push(rows);
  }
  return { q, k, v, shape: [1, H, N, D], plants };
}
