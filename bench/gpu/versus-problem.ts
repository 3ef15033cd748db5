// Issue 6's comparison problem, shared by the GPU benches and bench/gpu/flex_attention.py: B=1, H=16,
// D=64, block 128, each block row keeping itself, the 3 blocks before it and every 8th block column,
// over N = 1024…65536; and the work a forward does on the kept blocks.
import type { AttentionProblem, OperandData } from '../../src/backend.js';
import type { Layout } from '../../src/types.js';

export const VERSUS_SEQS = [1024, 2048, 4096, 8192, 16384, 32768, 65536];
export const VERSUS_SHAPE = { B: 1, H: 16, D: 64, block: 128 } as const;

/**
 * What the matrix units reach from WebGPU in a register-only multiply loop on the GPU machine
 * (bench/gpu/probe-subgroup-matrix.ts, bench/results/issue-16-h200): the rows' scale.
 */
export const MATRIX_UNITS_TFLOPS = 640;

/** Whether block (r, c) is kept; `causal` also drops the blocks above the diagonal. */
export const versusKeeps = (r: number, c: number, causal = false): boolean => ((r - c >= 0 && r - c <= 3) || c % 8 === 0) && !(causal && c > r);

export function versusLayout(H: number, R: number, block: number, causal = false): Layout {
  const data = new Uint8Array(H * R * R);
  for (let h = 0; h < H; h++) for (let r = 0; r < R; r++) for (let c = 0; c < R; c++) data[(h * R + r) * R + c] = versusKeeps(r, c, causal) ? 1 : 0;
  return { block, shape: [H, R, R], data };
}

/** Flops of the forward over the kept blocks: 4·block²·D per block (Q·Kᵀ and P·V), half for a causal diagonal block. */
export function forwardFlops(p: AttentionProblem<OperandData>): number {
  const L = p.layout;
  const { keptFull, keptPartial } = L.causalTables(p.causal);
  return 4 * L.block * L.block * p.D * (keptFull + 0.5 * keptPartial) * p.B;
}
