// Hashes every op's output over a fixed table of cases, through the public API only, so that two
// builds (before and after a refactor) can be compared bit for bit on one machine:
//   node --import tsx bench/output-hash.ts [path/to/dist/src/index.js] [--backend cpu|webgpu] [--simd simd|relaxed] [--threads N]
//   deno run -A --unstable-webgpu --unstable-sloppy-imports bench/output-hash.ts dist/src/index.js --backend webgpu
// Prints one line per case (`name sha256`) and a last line hashing them all. Inputs come from the
// seeded generator of cli/random.ts, so nothing here depends on the code under comparison but its
// public API.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseFlags } from '../cli/flags.js';
import { mulberry32 } from '../cli/random.js';
import type * as Lib from '../src/index.js';

const flags = parseFlags({ backend: 'string', simd: 'string', threads: 'int' });
const entry = flags.positionals[0] ?? 'dist/src/index.js';
const lib = (await import(pathToFileURL(entry).href)) as typeof Lib;
const backend = flags.string('backend', 'cpu') as 'cpu' | 'webgpu';
const simd = flags.string('simd') as 'simd' | 'relaxed' | undefined;
const threads = flags.has('threads') ? flags.int('threads', 1) : undefined;

const rand = mulberry32(12345);
const tensor = (shape: number[]): Lib.Tensor => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rand() * 2 - 1;
  return { data, shape };
};
const layout = (H: number, R: number, C: number, block: number, density: number): Lib.Layout => {
  const data = new Uint8Array(H * R * C);
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) data[(h * R + r) * C + c] = rand() < density || (R === C && r === c) ? 1 : 0;
    }
  }
  return { block, shape: [H, R, C], data };
};
const hash = (...arrays: Float32Array[]): string => {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex').slice(0, 16);
};

const engine = await lib.createEngine({ backend, ...(simd ? { simd } : {}), ...(threads ? { threads } : {}) });
const lines: string[] = [];
const put = (name: string, digest: string): void => {
  lines.push(`${name} ${digest}`);
  console.log(`${name} ${digest}`);
};

const attentionCases: [string, number, number, number, number, number, Record<string, unknown>][] = [
  // name, B, H, block, R, D, options
  ['b16 D16', 1, 2, 16, 8, 16, {}],
  ['b32 D64 causal', 2, 2, 32, 6, 64, { causal: true }],
  ['b64 D64 rpe kpm-mul', 1, 2, 64, 4, 64, { rpe: true, kpm: 'mul' }],
  ['b64 D128 causal am-add', 1, 2, 64, 4, 128, { causal: true, am: 'add' }],
  ['b128 D64 causal', 1, 2, 128, 3, 64, { causal: true }],
  ['b32 D80 all masks', 2, 3, 32, 5, 80, { causal: true, rpe: true, kpm: 'add', am: 'mul' }],
  ['b16 D18 scale', 1, 1, 16, 4, 18, { scale: 0.3 }],
];
for (const [name, B, H, block, R, D, o] of attentionCases) {
  const N = block * R;
  const args: Lib.AttentionArgs = {
    q: tensor([B, H, N, D]), k: tensor([B, H, N, D]), v: tensor([B, H, N, D]),
    layout: layout(H, R, R, block, 0.4), causal: Boolean(o.causal),
    ...(o.scale ? { scale: o.scale as number } : {}),
    ...(o.rpe ? { rpe: tensor([B, H, N, N]) } : {}),
  };
  if (o.kpm) {
    const m = tensor([B, N]);
    if (o.kpm === 'mul') for (let i = 0; i < m.data.length; i++) m.data[i] = m.data[i] > -0.8 ? 1 : 0;
    Object.assign(args, { keyPaddingMask: m, keyPaddingMaskMode: o.kpm });
  }
  if (o.am) {
    const m = tensor([N, N]);
    if (o.am === 'mul') for (let i = 0; i < m.data.length; i++) m.data[i] = m.data[i] > -0.8 ? 1 : 0;
    Object.assign(args, { attnMask: m, attnMaskMode: o.am });
  }
  const out = await engine.attention(args);
  put(`attention ${name}`, hash(out.data));
  const g = await engine.attentionBackward({ ...args, dout: tensor([B, H, N, D]) });
  put(`attentionBackward ${name}`, hash(g.dq.data, g.dk.data, g.dv.data));
}

const sl = layout(2, 4, 3, 64, 0.6);
let nnz = 0;
for (const x of sl.data) nnz += x;
for (const [transA, transB] of [[false, false], [true, true], [false, true], [true, false]]) {
  const sdd = await engine.matmul({
    mode: 'sdd', a: tensor(transA ? [2, 2, 72, 256] : [2, 2, 256, 72]), b: tensor(transB ? [2, 2, 192, 72] : [2, 2, 72, 192]),
    layout: sl, transA, transB,
  });
  put(`sdd tA${+transA} tB${+transB}`, hash(sdd.data));
  const sp: Lib.BlockSparseTensor = { layout: sl, data: tensor([2, nnz, 64, 64]).data, shape: [2, nnz, 64, 64] };
  const K = transA ? 256 : 192;
  const dsd = await engine.matmul({ mode: 'dsd', a: sp, b: tensor(transB ? [2, 2, 100, K] : [2, 2, K, 100]), transA, transB });
  put(`dsd tA${+transA} tB${+transB}`, hash(dsd.data));
  const K2 = transB ? 192 : 256;
  const dds = await engine.matmul({ mode: 'dds', a: tensor(transA ? [2, 2, K2, 90] : [2, 2, 90, K2]), b: sp, transA, transB });
  put(`dds tA${+transA} tB${+transB}`, hash(dds.data));
}
const sq = layout(2, 4, 4, 32, 0.5);
let nz = 0;
for (const x of sq.data) nz += x;
const x: Lib.BlockSparseTensor = { layout: sq, data: tensor([2, nz, 32, 32]).data, shape: [2, nz, 32, 32] };
const y = await engine.softmax({ x, scale: 0.3, causal: true, rpe: tensor([2, 2, 128, 128]) });
put('softmax causal rpe', hash(y.data));
const y2 = await engine.softmax({ x, keyPaddingMask: tensor([2, 128]), attnMask: tensor([128, 128]), attnMaskMode: 'add' });
put('softmax kpm am-add', hash(y2.data));
const dy: Lib.BlockSparseTensor = { layout: sq, data: tensor([2, nz, 32, 32]).data, shape: [2, nz, 32, 32] };
put('softmaxBackward', hash((await engine.softmaxBackward({ y, dy, scale: 0.7 })).data));

const layer = new lib.BlockSparseLinear({ inFeatures: 128, outFeatures: 96, density: 0.5, block: 32, seed: 7, engine });
const xin = tensor([5, 128]);
const yl = await layer.forward(xin);
const gl = await layer.backward(xin, tensor([5, 96]));
put('linear forward', hash(yl.data));
put('linear backward', hash(gl.dx.data, gl.dWeight.data, gl.dBias!.data));

await engine.close();
console.log(`all ${backend}${simd ? ` ${simd}` : ''}${threads ? ` ${threads}t` : ''} ${createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16)}`);
process.exit(0);
