// One core's own ceiling for the CPU kernels' code, measured before the CPU runs so that the
// report can set their GFLOP/s beside it: the FMA peak of 128-bit Wasm (fmaPeak: fused multiply-add
// chains on registers; relaxed SIMD only, as plain SIMD has no fused multiply-add) and the best
// register-tiled matmul we have (matmulCeiling, packed L1-resident 64×64×64 operands). The median
// of a few short rounds each, on the calling thread, with the build the engine loads.
import { Arena } from '../src/cpu/arena.js';
import { positionalArgs } from '../src/cpu/kernels.js';
import { createMemory, instantiate, loadKernelModule, type KernelExports, type SimdBuild } from '../src/cpu/wasm.js';
import { median } from './stats.js';
import { uniformFloats } from './random.js';

export interface CoreCeiling {
  build: SimdBuild;
  /** fmaPeak's rate (null on the plain SIMD build). */
  fmaPeakGflops: number | null;
  matmulGflops: number;
}

const ROUNDS = 7;

/** One timed call of a yardstick kernel: what it computes and how to run it (already warm). */
export interface YardstickCall {
  flops: number;
  run: () => void;
}

/** fmaPeak for `iters` rounds of its 12 chains. */
export function fmaPeakCall(x: KernelExports, iters: number): YardstickCall {
  const args = positionalArgs('fmaPeak', { iters });
  const run = () => void x.fmaPeak!(...args);
  run();
  return { flops: 8 * 12 * iters, run };
}

/** matmulCeiling on packed M×N×K operands taken from `arena`, `reps` times a call. */
export function matmulCeilingCall(x: KernelExports, arena: Arena, M: number, N: number, K: number, reps: number): YardstickCall {
  const a = arena.putF32(uniformFloats(M * K, 1));
  const b = arena.putF32(uniformFloats(K * N, 2));
  const c = arena.alloc(M * N * 4);
  const args = positionalArgs('matmulCeiling', { a, b, c, M, N, K, reps });
  const run = () => void x.matmulCeiling!(...args);
  run();
  return { flops: 2 * M * N * K * reps, run };
}

export async function measureCoreCeiling(): Promise<CoreCeiling> {
  const { module, build } = await loadKernelModule('auto');
  const memory = createMemory(16);
  const x = instantiate(module, memory);
  const rate = ({ flops, run }: YardstickCall): number => {
    const rounds: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      run();
      rounds.push(flops / (performance.now() - t0) / 1e6);
    }
    return median(rounds);
  };
  return {
    build,
    fmaPeakGflops: build === 'relaxed' ? rate(fmaPeakCall(x, 2e6)) : null,
    matmulGflops: rate(matmulCeilingCall(x, new Arena(memory), 64, 64, 64, 200)), // about 10 ms a round
  };
}
