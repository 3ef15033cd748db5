// The CPU block-sparse Softmax and its backward beyond the op suite (test/ops.test.ts, whose case
// table test/ops/cases.ts holds every mask, scale, causal and block size checked against float64):
// results bitwise identical whatever the number of tasks and on a worker pool, inputs left alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createEngine, type Engine } from '../src/engine.js';
import { forceTaskCount } from '../src/cpu/tasks.js';
import type { BlockSparseTensor, Layout, MaskMode, SoftmaxArgs } from '../src/types.js';
import { layoutNonZeros } from './reference/index.js';
import {
  mulberry32, pick, randomInt, randomLayout, randomScoreTerms, randomTensor, type Rng,
} from './helpers/random.js';

const BUILDS = ['simd', 'relaxed'] as const;
type Build = (typeof BUILDS)[number];
type MaskChoice = MaskMode | 'none';

function blockSparse(rng: Rng, B: number, layout: Layout, range = 3): BlockSparseTensor {
  const nnz = layoutNonZeros(layout).length;
  const shape: [number, number, number, number] = [B, nnz, layout.block, layout.block];
  return { layout, data: randomTensor(shape, rng, { min: -range, max: range }).data, shape };
}

interface SoftmaxCase {
  B: number;
  H: number;
  R: number;
  block: number;
  density?: number;
  causal?: boolean;
  rpe?: boolean;
  kpm?: MaskChoice;
  am?: MaskChoice;
  scale?: number;
  fullyMaskedRows?: number[];
  fullyMaskedBatches?: number[];
  /** Keep every block row non-empty (default: empty rows allowed). */
  rowsNonEmpty?: boolean;
}

function makeArgs(rng: Rng, c: SoftmaxCase): SoftmaxArgs {
  const { B, H, R, block } = c;
  const N = R * block;
  const layout = randomLayout(H, R, R, c.density ?? 0.5, rng, {
    block, ensureRowNonEmpty: c.rowsNonEmpty ?? false, ensureDiagonal: (c.causal ?? false) && rng() < 0.5,
  });
  if (!layout.data.some((x) => x !== 0)) layout.data[0] = 1; // the engine rejects nothing kept
  const args: SoftmaxArgs = { x: blockSparse(rng, B, layout) };
  if (c.scale !== undefined) args.scale = c.scale;
  if (c.causal) args.causal = true;
  Object.assign(args, randomScoreTerms(rng, B, H, N, N, {
    rpe: c.rpe, keyPaddingMaskMode: c.kpm, attnMaskMode: c.am, fullyMaskedBatches: c.fullyMaskedBatches, fullyMaskedRows: c.fullyMaskedRows,
  }));
  return args;
}

function label(c: SoftmaxCase): string {
  return Object.entries(c).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v}]` : v}`).join(' ');
}

function randomCase(rng: Rng, extra: Partial<SoftmaxCase> = {}): SoftmaxCase {
  const block = pick(rng, [1, 2, 3, 4, 5, 7, 8, 16, 16, 32]);
  return {
    B: randomInt(rng, 1, 2),
    H: randomInt(rng, 1, 2),
    R: randomInt(rng, 1, block >= 16 ? 3 : 5),
    block,
    density: pick(rng, [0.3, 0.6, 1]),
    scale: pick(rng, [1, 0.125, 0.7, -1.5]),
    ...extra,
  };
}

const engines: Partial<Record<Build, Engine>> = {};

test.before(async () => {
  for (const simd of BUILDS) engines[simd] = await createEngine({ backend: 'cpu', simd, threads: 1 });
});

test.after(async () => {
  forceTaskCount(undefined);
  for (const e of Object.values(engines)) await e?.close();
});

test('forward and backward are bitwise identical for 1, 2, 3 and 7 tasks', async () => {
  const rng = mulberry32(7);
  try {
    for (const simd of BUILDS) {
      for (let i = 0; i < 4; i++) {
        const c = randomCase(rng, { R: 6, H: 2, B: 2, causal: i % 2 === 0, rpe: i === 1, kpm: 'mul', am: 'add', block: pick(rng, [3, 8, 16]) });
        const args = makeArgs(rng, c);
        const dy = blockSparse(rng, c.B, args.x.layout, 1);
        forceTaskCount(1);
        const y1 = (await engines[simd]!.softmax(args)).data;
        const dx1 = (await engines[simd]!.softmaxBackward({ y: { ...args.x, data: y1 }, dy, scale: 0.5 })).data;
        for (const n of [2, 3, 7]) {
          forceTaskCount(n);
          const y = (await engines[simd]!.softmax(args)).data;
          const dx = (await engines[simd]!.softmaxBackward({ y: { ...args.x, data: y1 }, dy, scale: 0.5 })).data;
          assert.ok(y.every((v, j) => Object.is(v, y1[j])), `${simd} forward ${label(c)}: ${n} tasks differ`);
          assert.ok(dx.every((v, j) => Object.is(v, dx1[j])), `${simd} backward ${label(c)}: ${n} tasks differ`);
        }
      }
    }
  } finally {
    forceTaskCount(undefined);
  }
});

test('a worker pool of 3 threads gives the inline results bit for bit', async () => {
  const rng = mulberry32(9);
  const pool = await createEngine({ backend: 'cpu', simd: 'relaxed', threads: 3 });
  try {
    for (let i = 0; i < 4; i++) {
      const c = randomCase(rng, { R: 5, H: 2, B: 2, causal: i % 2 === 0, rpe: i === 1, kpm: 'add', am: 'mul' });
      const args = makeArgs(rng, c);
      const y1 = await engines.relaxed!.softmax(args);
      const y = await pool.softmax(args);
      assert.ok(y.data.every((v, j) => Object.is(v, y1.data[j])), `forward ${label(c)}: pool differs`);
      const dy = blockSparse(rng, c.B, args.x.layout, 1);
      const dx1 = await engines.relaxed!.softmaxBackward({ y: y1, dy, scale: 0.5 });
      const dx = await pool.softmaxBackward({ y: y1, dy, scale: 0.5 });
      assert.ok(dx.data.every((v, j) => Object.is(v, dx1.data[j])), `backward ${label(c)}: pool differs`);
    }
  } finally {
    await pool.close();
  }
});

test('inputs are left unmodified', async () => {
  const rng = mulberry32(8);
  const args = makeArgs(rng, { B: 1, H: 1, R: 2, block: 8, rpe: true, kpm: 'mul', am: 'mul' });
  const x = args.x.data.slice();
  const kpm = args.keyPaddingMask!.data.slice();
  const y = await engines.simd!.softmax(args);
  assert.equal(args.x.data, x);
  assert.equal(args.keyPaddingMask!.data, kpm);
  const dy = blockSparse(rng, 1, args.x.layout, 1);
  const dyCopy = dy.data.slice();
  const yCopy = y.data.slice();
  await engines.simd!.softmaxBackward({ y, dy });
  assert.equal(dy.data, dyCopy);
  assert.equal(y.data, yCopy);
});

test.run();
