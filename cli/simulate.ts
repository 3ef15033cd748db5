// --simulate: an engine that runs no kernel. Each call advances a virtual clock by what a simple
// cost model says it would take (a throughput per op and backend, a fixed overhead, a first-call
// penalty, a few percent of deterministic noise) and returns outputs of the right shape with no
// data. The whole bench — budget, skips, fits, tables, plots — runs in a second on it, which is
// how the report is tested without waiting for kernels.
import type { Engine, EngineInfo } from '../src/engine.js';
import { compileLayout } from '../src/index.js';
import type { Clock } from './measure.js';
import type { NaiveBaseline } from './naive-baseline.js';
import type { AttentionArgs, AttentionBackwardArgs, AttentionGradients, BatchedLayout, BlockSparseTensor, Layout, MatmulArgs, SoftmaxArgs, SoftmaxBackwardArgs, Tensor } from '../src/types.js';

export class VirtualClock implements Clock {
  private t = 0;
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Model {
  /** GFLOP/s of the fused forward, the fused backward and the unfused ops. */
  forward: number;
  backward: number;
  unfused: number;
  /** ms per call regardless of size (dispatch, copies). */
  overheadMs: number;
}

const CPU_PER_THREAD: Model = { forward: 9, backward: 6, unfused: 5, overheadMs: 0.05 };
const GPU: Model = { forward: 900, backward: 500, unfused: 300, overheadMs: 0.4 };

const empty = (shape: number[]): Tensor => ({ data: new Float32Array(0), shape });

export function createSimulatedEngine(backend: 'cpu' | 'webgpu', clock: VirtualClock, threads = 1): Engine {
  const base = backend === 'cpu' ? CPU_PER_THREAD : GPU;
  const speedup = backend === 'cpu' ? threads ** 0.93 : 1; // a little lost to sync and memory bandwidth
  const seen = new Set<Layout | BatchedLayout>();
  let seed = 12345;
  const noise = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return 1 + ((seed >>> 8) / 2 ** 24 - 0.5) * 0.08;
  };
  const spend = (layout: Layout | BatchedLayout, flops: number, gflops: number) => {
    const first = !seen.has(layout);
    seen.add(layout);
    const ms = base.overheadMs + flops / (gflops * speedup * 1e6);
    clock.advance(ms * noise() * (first ? 1.05 : 1));
  };
  const nnz = (layout: Layout | BatchedLayout): number => compileLayout(layout).nnz;
  const dims = (t: { shape: readonly number[] }) => t.shape as [number, number, number, number];

  const info: EngineInfo = {
    backend,
    simulated: true,
    threads: backend === 'cpu' ? threads : undefined,
    float16: 'simulated',
    float16Ops: { attention: 'simulated', attentionBackward: 'simulated', decode: 'simulated', kvCache: 'simulated' },
    fallbacks: [],
  };

  return {
    backend,
    info,
    lastTimings: null,
    async upload() {
      throw new Error('--simulate: upload is not modelled');
    },
    async createKvCache() {
      throw new Error('--simulate: KV caches are not modelled');
    },
    attention: (async (a: AttentionArgs): Promise<Tensor> => {
      const [B, , , D] = dims(a.q);
      const layout = a.layout as Layout | BatchedLayout; // the app passes host layouts only
      spend(layout, 4 * B * nnz(layout) * layout.block ** 2 * D, base.forward);
      return empty([...a.q.shape]);
    }) as Engine['attention'],
    attentionBackward: (async (a: AttentionBackwardArgs): Promise<AttentionGradients> => {
      const [B, , , D] = dims(a.q);
      const layout = a.layout as Layout | BatchedLayout;
      spend(layout, 10 * B * nnz(layout) * layout.block ** 2 * D, base.backward);
      return { dq: empty([...a.q.shape]), dk: empty([...a.k.shape]), dv: empty([...a.v.shape]) };
    }) as Engine['attentionBackward'],
    matmul: (async (a: MatmulArgs) => {
      if (a.mode === 'sdd') {
        const [B, , , D] = dims(a.a);
        spend(a.layout, 2 * B * nnz(a.layout) * a.layout.block ** 2 * D, base.unfused);
        return { layout: a.layout, data: new Float32Array(0), shape: [B, nnz(a.layout), a.layout.block, a.layout.block] } satisfies BlockSparseTensor;
      }
      const sparse = a.mode === 'dsd' ? a.a : a.b;
      const dense = a.mode === 'dsd' ? a.b : a.a;
      const [B, H, , D] = dims(dense);
      const R = sparse.layout.shape[1] * sparse.layout.block;
      spend(sparse.layout, 2 * B * nnz(sparse.layout) * sparse.layout.block ** 2 * D, base.unfused);
      return empty([B, H, R, D]);
    }) as Engine['matmul'],
    async softmax(a: SoftmaxArgs): Promise<BlockSparseTensor> {
      // about 8 flops-worth per element (max, exp, sum, scale) at the unfused rate
      spend(a.x.layout, 8 * a.x.shape[0] * nnz(a.x.layout) * a.x.layout.block ** 2, base.unfused);
      return { ...a.x };
    },
    async softmaxBackward(a: SoftmaxBackwardArgs): Promise<BlockSparseTensor> {
      spend(a.y.layout, 6 * a.y.shape[0] * nnz(a.y.layout) * a.y.layout.block ** 2, base.unfused);
      return { ...a.y };
    },
    async selectBlocks() {
      throw new Error('--simulate: selectBlocks is not modelled');
    },
    async attentionMass() {
      throw new Error('--simulate: attentionMass is not modelled');
    },
    async close() {},
  };
}

/** The naive baseline's stand-in: kept-block work at a plain-JavaScript rate. */
export function simulatedNaive(clock: VirtualClock): NaiveBaseline {
  return {
    source: 'simulated',
    ops: ['forward', 'backward'],
    prepare(x, layout, op) {
      const work = x.B * compileLayout(layout).nnz * layout.block ** 2 * x.D * (op === 'forward' ? 4 : 10);
      return async () => {
        clock.advance(work / (0.4 * 1e6));
        return [];
      };
    },
  };
}
