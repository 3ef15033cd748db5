// The fused CPU attention kernels (assembly/attention-*.ts, src/cpu/attention.ts) beyond the op
// suite (test/ops.test.ts, whose case table test/ops/cases.ts holds every shape and feature checked
// against float64): bitwise identical results for 1, 2, 3 and 7 tasks, both backward schedules,
// backward chunks and a worker pool; task counts and shares; the forward's log-sum-exp; modules
// without data segments; both builds agreeing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine, type Engine } from '../src/engine.js';
import { dynamicTaskCount, forceTaskCount, guidedShares, streamingTaskCount } from '../src/cpu/tasks.js';
import { partitionByWeight } from '../src/cpu/partition.js';
import { readFile } from 'node:fs/promises';
import { attentionForwardWithLse, attentionTuning } from '../src/cpu/attention.js';
import { Arena } from '../src/cpu/arena.js';
import type { CpuContext, LayoutTablePointers } from '../src/cpu/context.js';
import { uploadLayoutTables } from '../src/cpu/tables.js';
import { createMemory, instantiate, loadKernelModule } from '../src/cpu/wasm.js';
import { InlineRunner } from '../src/cpu/pool/runner.js';
import { compileLayout, type CompiledLayout } from '../src/layouts/compile.js';
import { attentionProblem } from '../src/problems.js';
import {
  CPU_TOL,
  assertClose,
  mulberry32,
  randomAttentionArgs,
  randomLayout,
  randomTensor,
  makeBiasRow,
  referenceAttention,
  referenceAttentionBackward,
  referenceLse,
  type RandomAttentionOptions,
  type Rng,
  type HostAttentionArgs,
  type HostAttentionBackwardArgs, assertSameBits } from './reference/index.js';

const BUILDS = ['simd', 'relaxed'] as const;
type Build = (typeof BUILDS)[number];

const engines = new Map<Build, Engine>();
async function engine(build: Build): Promise<Engine> {
  let e = engines.get(build);
  if (!e) {
    e = await createEngine({ backend: 'cpu', threads: 1, simd: build });
    engines.set(build, e);
  }
  return e;
}

function withDout(args: HostAttentionArgs, rng: Rng): HostAttentionBackwardArgs {
  return { ...args, dout: randomTensor(args.q.shape, rng) };
}

function describe(args: HostAttentionArgs): string {
  const [B, H, N, D] = args.q.shape;
  const parts = [`B=${B} H=${H} N=${N} D=${D} block=${args.layout.block}`];
  if (args.causal) parts.push('causal');
  if (args.rpe) parts.push('rpe');
  if (args.keyPaddingMask) parts.push(`kpm:${args.keyPaddingMaskMode ?? 'add'}`);
  if (args.attnMask) parts.push(`am:${args.attnMaskMode ?? 'mul'}`);
  return parts.join(' ');
}

function args(rng: Rng, B: number, H: number, R: number, block: number, D: number, opts: RandomAttentionOptions = {}): HostAttentionArgs {
  return randomAttentionArgs(rng, { ...opts, shape: { B, H, N: R * block, D, block, R } });
}

const Attention = suite('cpu attention');

Attention.after(async () => {
  forceTaskCount(undefined);
  for (const e of engines.values()) await e.close();
  engines.clear();
});

for (const build of BUILDS) {
  Attention(`${build}: bitwise identical for 1, 2, 3 and 7 tasks, both backward schedules, backward chunks`, async () => {
    const e = await engine(build);
    const rng = mulberry32(build === 'simd' ? 71 : 72);
    const problems: HostAttentionBackwardArgs[] = [
      withDout(args(rng, 2, 3, 6, 16, 40, { density: 0.4, causal: true, rpe: true, keyPaddingMaskMode: 'mul' }), rng),
      withDout(args(rng, 1, 2, 5, 8, 19, { density: 0.6, attnMaskMode: 'add', allowEmptyRows: true }), rng),
      withDout(args(rng, 3, 1, 4, 12, 64, { density: 0.5 }), rng),
    ];
    try {
      for (const p of problems) {
        const label = `${build} ${describe(p)}`;
        forceTaskCount(1);
        const out1 = (await e.attention(p)).data;
        const g1 = await e.attentionBackward(p);
        assertClose(out1, referenceAttention(p), { ...CPU_TOL, label: `${label} out` });
        const ref = referenceAttentionBackward(p);
        for (const name of ['dq', 'dk', 'dv'] as const) assertClose(g1[name].data, ref[name], { ...CPU_TOL, label: `${label} ${name}` });
        for (const tasks of [2, 3, 7]) {
          forceTaskCount(tasks);
          assertSameBits((await e.attention(p)).data, out1, `${label} out, ${tasks} tasks`);
          const g = await e.attentionBackward(p);
          for (const name of ['dq', 'dk', 'dv'] as const) assertSameBits(g[name].data, g1[name].data, `${label} ${name}, ${tasks} tasks`);
        }
        // both backward schedules, and the two-pass one with one batch·head per chunk (the slot
        // budget smaller than any head's slots)
        const { slotBudgetBytes, backwardSchedule } = attentionTuning;
        try {
          for (const [schedule, budget, tasks] of [
            ['heads', slotBudgetBytes, 1], ['heads', slotBudgetBytes, 2], ['passes', slotBudgetBytes, 1],
            ['passes', slotBudgetBytes, 3], ['passes', 1, 3], ['auto', 1, 2],
          ] as const) {
            attentionTuning.backwardSchedule = schedule;
            attentionTuning.slotBudgetBytes = budget;
            forceTaskCount(tasks);
            const g = await e.attentionBackward(p);
            for (const name of ['dq', 'dk', 'dv'] as const) {
              assertSameBits(g[name].data, g1[name].data, `${label} ${name}, ${schedule} schedule, budget ${budget}, ${tasks} tasks`);
            }
          }
        } finally {
          attentionTuning.slotBudgetBytes = slotBudgetBytes;
          attentionTuning.backwardSchedule = backwardSchedule;
        }
      }
    } finally {
      forceTaskCount(undefined);
    }
  });
}

Attention('a pool of 2 and 3 worker threads gives the bits of one thread', async () => {
  const rng = mulberry32(91);
  const problems: HostAttentionBackwardArgs[] = [
    withDout(args(rng, 2, 2, 6, 16, 40, { density: 0.5, causal: true, keyPaddingMaskMode: 'add' }), rng),
    withDout(args(rng, 1, 1, 5, 32, 24, { density: 0.6, rpe: true }), rng),
    // 537 MFLOP: split into more tasks than threads (dynamicTaskCount), handed out as workers free up
    withDout(args(rng, 1, 2, 16, 64, 64, { density: 1, causal: true }), rng),
  ];
  const one = await engine('simd');
  for (const threads of [2, 3]) {
    const pool = await createEngine({ backend: 'cpu', threads, simd: 'simd' });
    try {
      // Node always has worker_threads: a pool that fell back to one thread is a failure, not a skip
      assert.is(pool.info.threads, threads, `no ${threads}-thread pool (${JSON.stringify(pool.info.fallbacks)})`);
      for (const p of problems) {
        const label = `${describe(p)}, ${threads} threads`;
        assertSameBits((await pool.attention(p)).data, (await one.attention(p)).data, `${label} out`);
        const g = await pool.attentionBackward(p);
        const g1 = await one.attentionBackward(p);
        for (const name of ['dq', 'dk', 'dv'] as const) assertSameBits(g[name].data, g1[name].data, `${label} ${name}`);
      }
    } finally {
      await pool.close();
    }
  }
});

Attention('dynamicTaskCount: up to 4 tasks per thread of at least 32 MFLOP; exact when inline or forced', () => {
  const ctx = (threads: number) => ({ threads }) as CpuContext;
  assert.is(dynamicTaskCount(ctx(2), 1e6), 2, 'small work: one task per thread');
  assert.is(dynamicTaskCount(ctx(2), 160e6), 5, '160 MFLOP: five tasks of 32');
  assert.is(dynamicTaskCount(ctx(2), 537e6), 8, 'capped at 4 per thread');
  assert.is(dynamicTaskCount(ctx(16), 2.6e9), 64, '16 threads');
  assert.is(dynamicTaskCount(ctx(1), 1e12), 1, 'inline: one task');
  forceTaskCount(3);
  try {
    assert.is(dynamicTaskCount(ctx(2), 1e12), 3, 'forced');
  } finally {
    forceTaskCount(undefined);
  }
});

Attention('streamingTaskCount: a task per MiB read, up to 4 per thread; whole on the calling thread where the split saves under two round trips', () => {
  const ctx = (threads: number, ms: number, sample = false) => ({ threads, roundTrips: { ms, sample: () => sample } }) as CpuContext;
  const MiB = 2 ** 20;
  assert.equal(streamingTaskCount(ctx(2, 0), 1e5, 4 * MiB), { tasks: 4, inline: false }, '4 MiB, no round-trip cost');
  assert.equal(streamingTaskCount(ctx(2, 0), 1e5, 64 * MiB), { tasks: 8, inline: false }, 'capped at 4 per thread');
  // 4 MiB is 0.4 ms of one core; on 2 threads a split saves 0.2 ms, on 16 (4 tasks) 0.3 ms
  assert.equal(streamingTaskCount(ctx(2, 0.09), 1e5, 4 * MiB), { tasks: 4, inline: false }, 'saves 0.2 ms, more than 2 × 0.09');
  assert.equal(streamingTaskCount(ctx(2, 0.1), 1e5, 4 * MiB), { tasks: 1, inline: true }, 'saves 0.2 ms, not more than 2 × 0.1: inline');
  assert.equal(streamingTaskCount(ctx(16, 0.3), 1e5, 8 * MiB), { tasks: 8, inline: false }, '8 MiB on 16 threads saves 0.7 ms: split');
  assert.equal(streamingTaskCount(ctx(16, 0.3), 1e5, 4 * MiB), { tasks: 1, inline: true }, '4 MiB on 16 threads saves 0.3 ms: inline');
  assert.equal(streamingTaskCount(ctx(2, 0.25, true), 1e5, 4 * MiB), { tasks: 4, inline: false }, 'sampled: split anyway');
  assert.equal(streamingTaskCount(ctx(2, 0), 16e6, 0), { tasks: 2, inline: false }, 'by flops: a task per thread');
  assert.equal(streamingTaskCount(ctx(2, 0.25), 16e6, 0), { tasks: 1, inline: true }, '16 MFLOP (0.53 ms) on 2 threads saves 0.27 ms: inline');
  forceTaskCount(3);
  try {
    assert.equal(streamingTaskCount(ctx(2, 0.25), 1e5, 4 * MiB), { tasks: 3, inline: false }, 'forced');
  } finally {
    forceTaskCount(undefined);
  }
});

Attention('guidedShares: later tasks smaller (4, 3, 2, 1 per round of threads); partitionByWeight follows the shares', () => {
  const shares = Array.from(guidedShares(8, 2));
  const sizes = shares.slice(1).map((x, i) => +((x - shares[i]) * 20).toFixed(9));
  assert.equal(sizes, [4, 4, 3, 3, 2, 2, 1, 1], 'sizes in twentieths of the work');
  assert.equal(Array.from(guidedShares(3, 4)), [0, 1 / 3, 2 / 3, 1], 'no more tasks than threads: equal');
  const ramp = Array.from(guidedShares(8, 2, true));
  assert.equal(ramp.slice(1).map((x, i) => +((x - ramp[i]) * 14).toFixed(9)), [1, 1, 3, 3, 2, 2, 1, 1], 'rampUp: the first round small too');
  // 20 items of weight 1: the ranges take 4, 4, 3, 3, 2, 2, 1, 1 of them
  const prefix = Array.from({ length: 21 }, (_, i) => i);
  assert.equal(partitionByWeight(prefix, 8, guidedShares(8, 2)).map(([b, e]) => e - b), [4, 4, 3, 3, 2, 2, 1, 1]);
  assert.equal(partitionByWeight(prefix, 4).map(([b, e]) => e - b), [5, 5, 5, 5], 'without shares: equal');
  // weights count, not items: one heavy item first
  const heavy = [0, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  assert.equal(partitionByWeight(heavy, 2, [0, 0.5, 1]), [[0, 1], [1, 11]]);
});

/** An inline CpuContext of our own, for host functions the engine does not reach. */
async function standaloneContext(build: Build): Promise<CpuContext> {
  const { module } = await loadKernelModule(build);
  const memory = createMemory(64);
  const runner = new InlineRunner(instantiate(module, memory));
  const arena = new Arena(memory);
  const uploaded = new Map<CompiledLayout, LayoutTablePointers>();
  return {
    arena,
    threads: 1,
    roundTrips: null,
    persist() {
      throw new Error('standaloneContext: no keepOnDevice here');
    },
    tables(L) {
      let t = uploaded.get(L);
      if (!t) {
        t = uploadLayoutTables(arena, L).pointers;
        uploaded.set(L, t);
      }
      return t;
    },
    run: (kernel, tasks) => runner.run(kernel, tasks),
  };
}

for (const build of BUILDS) {
  Attention(`${build}: the forward's log-sum-exp per row`, async () => {
    const ctx = await standaloneContext(build);
    const rng = mulberry32(build === 'simd' ? 101 : 102);
    const cases = [
      args(rng, 2, 2, 4, 16, 24, { density: 0.5, causal: true, rpe: true, allowEmptyRows: true }),
      args(rng, 1, 3, 3, 8, 7, { keyPaddingMaskMode: 'mul', attnMaskMode: 'add', fullyMaskedRows: [3, 9] }),
      args(rng, 1, 1, 2, 5, 3, { density: 1 }),
    ];
    for (const a of cases) {
      const label = `${build} ${describe(a)}`;
      const { out, lse } = await attentionForwardWithLse(ctx, attentionProblem(a));
      ctx.arena.reset();
      assertClose(out as Float32Array, referenceAttention(a), { ...CPU_TOL, label: `${label} out` });
      assertClose(lse, referenceLse(a), { ...CPU_TOL, label: `${label} lse` });
    }
  });
}

Attention('the kernel modules carry no data segments (every worker instantiates them over one memory)', async () => {
  for (const build of BUILDS) {
    const bytes = await readFile(new URL(`../build/blocksparse.${build}.wasm`, import.meta.url));
    let at = 8;
    const leb = () => {
      let v = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = bytes[at++];
        v += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) return v;
      }
    };
    while (at < bytes.length) {
      const id = bytes[at++];
      const size = leb();
      if (id === 11) {
        const start = at;
        assert.is(leb(), 0, `${build}: the data section has segments`);
        at = start;
      }
      at += size;
    }
  }
});

Attention('both builds agree within tolerance on a benchmark-like shape', async () => {
  const rng = mulberry32(81);
  const layout = randomLayout(2, 4, 4, 0.5, rng, { block: 64, ensureDiagonal: true });
  const a: HostAttentionArgs = {
    q: randomTensor([1, 2, 256, 64], rng), k: randomTensor([1, 2, 256, 64], rng), v: randomTensor([1, 2, 256, 64], rng),
    layout, causal: true,
  };
  const plain = (await (await engine('simd')).attention(a)).data;
  const relaxed = (await (await engine('relaxed')).attention(a)).data;
  assertClose(relaxed, plain, { atol: 1e-6, rtol: 1e-5, label: 'relaxed vs simd' });
});

Attention.run();
