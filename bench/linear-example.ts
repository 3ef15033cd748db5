// README example: sparsify an MLP's weights with BlockSparseLinear.fromDense and compare its
// outputs and speed with the dense MLP. `node --import tsx bench/linear-example.ts`
//
// Two kinds of dense weights: "block-structured" ones, whose block norms vary widely (as trained
// weights often do after magnitude or movement pruning), where keeping the top quarter of the
// blocks keeps most of the energy; and plain uniform random ones (a fresh torch.nn.Linear), which
// have no block structure, so a quarter of the blocks keeps about a quarter of the energy.
import { mulberry32 } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { BlockSparseLinear } from '../src/linear/index.js';
import type { Tensor } from '../src/types.js';

const IN = 1024;
const HIDDEN = 4096;
const ROWS = 256;
const DENSITY = 0.25;
const BLOCK = 32;

/** The seeded uniform [0, 1) source and standard normals from it (Box–Muller). */
function rng(seed: number) {
  const u = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return { u, normal };
}

/** A dense weight [out, in]: uniform ±1/sqrt(in), each block scaled by a log-normal factor when structured. */
function denseWeight(out: number, inF: number, structured: boolean, seed: number): Tensor {
  const r = rng(seed);
  const C = inF / BLOCK;
  const scales = Array.from({ length: (out / BLOCK) * C }, () => (structured ? Math.exp(1.5 * r.normal()) : 1));
  const bound = 1 / Math.sqrt(inF);
  const data = new Float32Array(out * inF);
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < inF; j++) {
      data[i * inF + j] = scales[((i / BLOCK) | 0) * C + ((j / BLOCK) | 0)] * bound * (2 * r.u() - 1);
    }
  }
  return { data, shape: [out, inF] };
}

class Mlp {
  constructor(readonly fc1: BlockSparseLinear, readonly fc2: BlockSparseLinear) {}

  async forward(x: Tensor): Promise<Tensor> {
    const h = await this.fc1.forward(x);
    for (let i = 0; i < h.data.length; i++) if (h.data[i] < 0) h.data[i] = 0; // ReLU
    return this.fc2.forward(h);
  }

  get weightBytes(): number {
    return this.fc1.weightBytes + this.fc2.weightBytes;
  }
}

/** Median times of f and g, run alternately after a warm-up, so that other load weighs on both alike. */
async function medianMs(f: () => Promise<unknown>, g: () => Promise<unknown>, reps = 9): Promise<[number, number]> {
  await f();
  await g();
  const tf: number[] = [];
  const tg: number[] = [];
  for (let i = 0; i < reps; i++) {
    let s = performance.now();
    await f();
    tf.push(performance.now() - s);
    s = performance.now();
    await g();
    tg.push(performance.now() - s);
  }
  return [median(tf), median(tg)];
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const r = rng(99);
const x: Tensor = { data: Float32Array.from({ length: ROWS * IN }, () => 2 * r.u() - 1), shape: [ROWS, IN] };
const bias = (n: number, seed: number): Tensor => {
  const b = rng(seed);
  return { data: Float32Array.from({ length: n }, () => (2 * b.u() - 1) / Math.sqrt(IN)), shape: [n] };
};

console.log(`MLP ${IN} → ${HIDDEN} → ${IN} (ReLU), x [${ROWS}, ${IN}], blocks ${BLOCK}×${BLOCK}, sparse layers keep ${DENSITY * 100}% of the blocks`);
for (const structured of [true, false]) {
  const w1 = denseWeight(HIDDEN, IN, structured, 1);
  const w2 = denseWeight(IN, HIDDEN, structured, 2);
  const b1 = bias(HIDDEN, 3);
  const b2 = bias(IN, 4);
  // no `engine` option: the layers share one CPU engine, made on first use
  const dense = new Mlp(
    BlockSparseLinear.fromDense(w1, { density: 1, block: BLOCK, bias: b1 }),
    BlockSparseLinear.fromDense(w2, { density: 1, block: BLOCK, bias: b2 }),
  );
  const sparse = new Mlp(
    BlockSparseLinear.fromDense(w1, { density: DENSITY, block: BLOCK, bias: b1 }),
    BlockSparseLinear.fromDense(w2, { density: DENSITY, block: BLOCK, bias: b2 }),
  );
  const yDense = await dense.forward(x);
  const ySparse = await sparse.forward(x);
  const [denseMs, sparseMs] = await medianMs(() => dense.forward(x), () => sparse.forward(x));
  console.log(`\n${structured ? 'block-structured weights' : 'uniform random weights (no block structure)'}`);
  console.log(`  energy kept: fc1 ${(100 * sparse.fc1.keptEnergy!).toFixed(1)}%, fc2 ${(100 * sparse.fc2.keptEnergy!).toFixed(1)}%`);
  console.log(`  output relative error ‖y_sparse − y_dense‖ / ‖y_dense‖: ${relativeError(ySparse.data, yDense.data).toFixed(3)}`);
  console.log(`  forward: dense ${denseMs.toFixed(1)} ms, sparse ${sparseMs.toFixed(1)} ms (${(denseMs / sparseMs).toFixed(2)}× faster)`);
  console.log(`  weights: dense ${(dense.weightBytes / 2 ** 20).toFixed(1)} MiB, sparse ${(sparse.weightBytes / 2 ** 20).toFixed(1)} MiB`);
}
await BlockSparseLinear.closeSharedEngine();
