// The CPU block-sparse MatMul (sdd, dsd, dds) beyond the op suite (test/ops.test.ts, whose case
// table test/ops/cases.ts holds every mode × transpose, shape and layout checked against float64):
// results bitwise identical whatever the number of tasks and on a worker pool, inputs left alone,
// and a layout with nothing kept at the backend level (the engine rejects it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine, type Engine } from '../src/engine.js';
import type { MatmulProblem } from '../src/backend.js';
import { createCpuBackend } from '../src/cpu/backend.js';
import { compileLayout } from '../src/layouts/compile.js';
import { forceTaskCount } from '../src/cpu/tasks.js';
import type { Layout, MatmulArgs, MatmulMode, Tensor } from '../src/types.js';
import { referenceMatmul, layoutNonZeros } from './reference/index.js';
import { mulberry32, pick, randomInt, randomLayout, randomTensor, type Rng } from './helpers/random.js';

const BUILDS = ['simd', 'relaxed'] as const;
const MODES: MatmulMode[] = ['sdd', 'dsd', 'dds'];
const TRANS: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];
const TASK_COUNTS = [1, 2, 3, 7];

type LayoutKind = 'random' | 'sparse' | 'dense' | 'single' | 'empty';

function makeLayout(rng: Rng, kind: LayoutKind, H: number, R: number, C: number, block: number): Layout {
  const l = layoutOfKind(rng, kind, H, R, C, block);
  // only 'empty' keeps nothing (the engine rejects block-sparse operands without blocks)
  if (kind !== 'empty' && !l.data.some((x) => x !== 0)) l.data[randomInt(rng, 0, l.data.length - 1)] = 1;
  return l;
}

function layoutOfKind(rng: Rng, kind: LayoutKind, H: number, R: number, C: number, block: number): Layout {
  switch (kind) {
    case 'random':
      return randomLayout(H, R, C, 0.5, rng, { block });
    case 'sparse': // empty rows and columns likely
      return randomLayout(H, R, C, 0.2, rng, { block });
    case 'dense':
      return randomLayout(H, R, C, 1, rng, { block });
    case 'empty':
      return randomLayout(H, R, C, 0, rng, { block });
    case 'single': {
      const l = randomLayout(H, R, C, 0, rng, { block });
      l.data[randomInt(rng, 0, l.data.length - 1)] = 1;
      return l;
    }
  }
}

function blockSparse(rng: Rng, B: number, layout: Layout) {
  const nnz = layoutNonZeros(layout).length;
  const shape: [number, number, number, number] = [B, nnz, layout.block, layout.block];
  return { layout, data: randomTensor(shape, rng).data, shape };
}

/** Stored shape of a dense operand whose op() is [rows × cols]. */
function dense(rng: Rng, B: number, H: number, rows: number, cols: number, trans: boolean): Tensor {
  return randomTensor(trans ? [B, H, cols, rows] : [B, H, rows, cols], rng);
}

interface Case {
  label: string;
  args: MatmulArgs;
}

/**
 * A random problem: layout [H, R, C] of `block` describes the sparse operand's stored matrix
 * (sdd: the output); `inner` is the free dense dimension (K for sdd, N for dsd, M for dds).
 */
function makeCase(rng: Rng, mode: MatmulMode, transA: boolean, transB: boolean, o: {
  B: number; H: number; R: number; C: number; block: number; inner: number; kind: LayoutKind;
}): Case {
  const { B, H, R, C, block, inner, kind } = o;
  const layout = makeLayout(rng, kind, H, R, C, block);
  const label = `${mode} transA=${transA} transB=${transB} B=${B} H=${H} R=${R} C=${C} block=${block} inner=${inner} ${kind}`;
  if (mode === 'sdd') {
    const M = R * block;
    const N = C * block;
    return {
      label,
      args: { mode, layout, transA, transB, a: dense(rng, B, H, M, inner, transA), b: dense(rng, B, H, inner, N, transB) },
    };
  }
  if (mode === 'dsd') {
    const K = (transA ? R : C) * block;
    return { label, args: { mode, transA, transB, a: blockSparse(rng, B, layout), b: dense(rng, B, H, K, inner, transB) } };
  }
  const K = (transB ? C : R) * block;
  return { label, args: { mode, transA, transB, a: dense(rng, B, H, inner, K, transA), b: blockSparse(rng, B, layout) } };
}

const engines: Partial<Record<(typeof BUILDS)[number], Engine>> = {};

test.before(async () => {
  for (const simd of BUILDS) engines[simd] = await createEngine({ backend: 'cpu', simd, threads: 1 });
});

test.after(async () => {
  forceTaskCount(undefined);
  for (const e of Object.values(engines)) await e?.close();
});

async function run(simd: (typeof BUILDS)[number], args: MatmulArgs): Promise<Float32Array> {
  const out = await engines[simd]!.matmul(args);
  return out.data;
}

test('results are bitwise identical for 1, 2, 3 and 7 tasks', async () => {
  const rng = mulberry32(23);
  try {
    for (const simd of BUILDS) {
      for (const mode of MODES) {
        for (const [transA, transB] of TRANS) {
          const c = makeCase(rng, mode, transA, transB, {
            B: 2, H: 2, R: 5, C: 4, block: pick(rng, [3, 8, 16]), inner: pick(rng, [5, 12, 19]),
            kind: pick(rng, ['random', 'sparse'] as const),
          });
          forceTaskCount(1);
          const one = await run(simd, c.args);
          for (const n of TASK_COUNTS.slice(1)) {
            forceTaskCount(n);
            const got = await run(simd, c.args);
            assert.ok(
              got.length === one.length && got.every((x, i) => Object.is(x, one[i])),
              `${simd} ${c.label}: ${n} tasks differ from 1 task`,
            );
          }
        }
      }
    }
  } finally {
    forceTaskCount(undefined);
  }
});

test('inputs are left unmodified and outputs are fresh arrays', async () => {
  const rng = mulberry32(5);
  for (const mode of MODES) {
    const c = makeCase(rng, mode, false, true, { B: 1, H: 1, R: 2, C: 2, block: 8, inner: 8, kind: 'random' });
    const a = c.args.a.data.slice();
    const b = c.args.b.data.slice();
    const out1 = await run('simd', c.args);
    const out2 = await run('simd', c.args);
    assert.equal(c.args.a.data, a);
    assert.equal(c.args.b.data, b);
    assert.ok(out1 !== out2 && out1.buffer !== out2.buffer);
    assert.equal(out1, out2);
  }
});

test('a worker pool of 3 threads gives the inline results bit for bit', async () => {
  const rng = mulberry32(29);
  const pool = await createEngine({ backend: 'cpu', simd: 'relaxed', threads: 3 });
  try {
    for (const mode of MODES) {
      for (const [transA, transB] of TRANS) {
        const c = makeCase(rng, mode, transA, transB, {
          B: 2, H: 2, R: 4, C: 3, block: pick(rng, [5, 16]), inner: pick(rng, [7, 24]), kind: 'random',
        });
        const one = await run('relaxed', c.args);
        for (const n of [undefined, 7]) {
          forceTaskCount(n);
          const got = (await pool.matmul(c.args)).data;
          assert.ok(got.every((x, i) => Object.is(x, one[i])), `${c.label}: pool (${n ?? 'threads'} tasks) differs`);
        }
        forceTaskCount(undefined);
      }
    }
  } finally {
    forceTaskCount(undefined);
    await pool.close();
  }
});

/** The normalised problem of public args, unvalidated (for what the engine rejects up front). */
function problemOf(args: MatmulArgs): MatmulProblem {
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const layout = args.mode === 'sdd' ? args.layout : args.mode === 'dsd' ? args.a.layout : args.b.layout;
  const [H, R, C] = layout.shape;
  const blk = layout.block;
  const B = args.a.shape[0];
  const opDims = (shape: number[], trans: boolean) => (trans ? [shape[3], shape[2]] : [shape[2], shape[3]]);
  const sparseDims = (trans: boolean) => (trans ? [C * blk, R * blk] : [R * blk, C * blk]);
  const [M, K] = args.mode === 'dsd' ? sparseDims(transA) : opDims(args.a.shape, transA);
  const N = args.mode === 'dds' ? sparseDims(transB)[1] : opDims(args.b.shape, transB)[1];
  return { mode: args.mode, B, H, M, K, N, a: args.a.data, b: args.b.data, transA, transB, layout: compileLayout(layout) };
}

test('a layout with nothing kept: dsd and dds give zeros, sdd an empty block list (backend level)', async () => {
  const rng = mulberry32(3);
  const backend = await createCpuBackend({ simd: 'simd' });
  try {
    for (const mode of MODES) {
      for (const [transA, transB] of TRANS) {
        const c = makeCase(rng, mode, transA, transB, { B: 2, H: 2, R: 3, C: 2, block: 4, inner: 5, kind: 'empty' });
        const out = await backend.matmul(problemOf(c.args));
        const ref = referenceMatmul(c.args);
        assert.is(out.length, ref.length, c.label);
        assert.ok(out.every((x) => Object.is(x, 0)), `${c.label}: zeros expected`);
      }
    }
  } finally {
    await backend.close();
  }
});

test.run();
