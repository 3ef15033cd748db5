// engine.selectBlocks on WebGPU (src/backend.ts SelectBlocksProblem): three programs in one
// command buffer, nothing N × N anywhere.
//   PoolRowsProgram: the mean of q's rows per (b, h, block row) (times the scale) and of k's
//     valid rows per (b, g, key block), [heads, blocks padded to the score tile, D];
//   BlockScoresProgram: s = qp · kpᵀ per (b, h), reading kv head h / (Hq / Hkv), a register-tiled
//     matmul (matmul-common.ts) that skips tiles holding no allowed score;
//   SelectRowsProgram (select-rows.ts): each row's blocks, as bytes packed in u32 words.
// Operands past the device's binding size are pooled in parts of whole heads; the scores and the
// selection run over as many (b, h) at a time as the score buffer can bind. selectBlocksResident
// (keepOnDevice) keeps the words and builds the forward's tables from them (resident-layout.ts).
import type { OperandData, SelectBlocksProblem } from '../src/backend.js';
import { errors } from '../src/errors.js';
import { wall } from '../src/attention-parts.js';
import { padColumns, upload, type LayoutTables } from './buffers.js';
import type { GpuContext, Recorder } from './context.js';
import { KT, ldDense, mmDecls, mmInit, mmStep, mmStoreVec4, mmThreads, type MmTile } from './matmul-common.js';
import { Program, type BindingSpec } from './program.js';
import { isHalf, residentBuffer } from './resident.js';
import { SelectRowsProgram } from './select-rows.js';
import { GpuLayout, LayoutCountProgram, LayoutFillProgram, LayoutScanProgram, unpackRows } from './resident-layout.js';

/** The score tile (and so the padding of the pooled rows and the score rows). */
const TILE: MmTile = { TM: 64, TN: 64, KT };
const POOL_WG = 64;

/**
 * One workgroup per pooled row (bh, blk): the mean of the rows of x at absolute positions
 * [blk·BLK, blk·BLK + BLK) ∩ [pos0[b], pos0[b] + len[b]), x's row i holding position pos0 + i;
 * zero where there are none. TC threads across the vec4 columns, RG row groups summed in a tree.
 */
export class PoolRowsProgram extends Program {
  readonly name = 'PoolRowsProgram';
  readonly bindings: readonly BindingSpec[];
  readonly uniforms = [
    ['heads', 'u32'],
    /** Pooled rows per head, and their stride in out (padded to the score tile). */
    ['blocks', 'u32'],
    ['blocksPad', 'u32'],
    /** Rows per head in x; x holds heads xBase …; this dispatch pools heads bhBase …. */
    ['n', 'u32'],
    ['xBase', 'u32'],
    ['bhBase', 'u32'],
    ['d', 'u32'],
    ['d4', 'u32'],
    /** Where pos holds pos0 [B] and len [B]. */
    ['posOff', 'u32'],
    ['lenOff', 'u32'],
    ['scale', 'f32'],
  ] as const;
  readonly workgroupSize = POOL_WG;
  readonly shaderKey: string;
  private readonly TC: number;

  /** `half`: x holds f16 (a float16 KV cache's keys), summed in f32. */
  constructor(
    readonly block: number,
    d4: number,
    override readonly half = false,
  ) {
    super();
    this.TC = Math.min(POOL_WG, d4);
    this.shaderKey = `b${block}/tc${this.TC}${half ? '/f16' : ''}`;
    this.bindings = [
      { name: 'x', access: 'read', elem: half ? 'vec4<f16>' : 'vec4<f32>' },
      { name: 'pos', access: 'read', elem: 'i32' },
      { name: 'out', access: 'read_write', elem: 'f32' },
    ];
  }

  body(): string {
    const TC = this.TC;
    const RG = Math.floor(POOL_WG / TC);
    return `
const BLK = ${this.block}u;
const TC = ${TC}u;
const RG = ${RG}u;
var<workgroup> red: array<vec4<f32>, ${POOL_WG}>;

fn run(wg: u32, lid: u32) {
  let blk = wg % u.blocks;
  let bh = u.bhBase + wg / u.blocks;
  let b = bh / u.heads;
  let pos0 = u32(pos[u.posOff + b]);
  let len = u32(pos[u.lenOff + b]);
  let lo = max(blk * BLK, pos0);
  let hi = min(blk * BLK + BLK, pos0 + len);
  let count = select(0u, hi - lo, hi > lo);
  let f = select(0.0, u.scale / f32(max(count, 1u)), count > 0u);
  let cv = lid % TC;
  let rg = lid / TC;
  let xRow = (bh - u.xBase) * u.n;
  let o = (bh * u.blocksPad + blk) * u.d;
  for (var c0 = 0u; c0 < u.d4; c0 += TC) {
    let c = c0 + cv;
    var acc = vec4<f32>(0.0);
    if (rg < RG && c < u.d4) {
      for (var i = lo + rg; i < hi; i += RG) { acc = acc + vec4<f32>(x[(xRow + i - pos0) * u.d4 + c]); }
    }
    red[lid] = acc;
    workgroupBarrier();
    if (rg == 0u && c < u.d4) {
      var sum = red[cv];
      for (var g = 1u; g < RG; g++) { sum = sum + red[g * TC + cv]; }
      let v = sum * f;
      for (var j = 0u; j < 4u; j++) { if (c * 4u + j < u.d) { out[o + c * 4u + j] = v[j]; } }
    }
    workgroupBarrier();
  }
}
`;
  }
}

/**
 * s[bh, r, c] = qp[bh, r] · kp[kv head of bh, c] over tiles of 64 × 64 (rows and columns of the
 * pooled buffers padded to them); a tile whose columns are all past the allowed ones (causal,
 * keyLengths) or whose rows hold no query is skipped: the selection never reads it.
 */
export class BlockScoresProgram extends Program {
  readonly name = 'BlockScoresProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 'a', access: 'read', elem: 'f32' },
    { name: 'b', access: 'read', elem: 'f32' },
    { name: 'pos', access: 'read', elem: 'i32' },
    { name: 'c', access: 'read_write', elem: 'vec4<f32>' },
  ];
  readonly uniforms = [
    ['heads', 'u32'],
    ['kvHeads', 'u32'],
    ['nq', 'u32'],
    /** Tiles per (b, h) along rows and columns; score rows and columns (padded). */
    ['mTiles', 'u32'],
    ['nTiles', 'u32'],
    ['M', 'u32'],
    ['N', 'u32'],
    /** The head dim (the depth of the product). */
    ['K', 'u32'],
    ['causal', 'u32'],
    ['bhBase', 'u32'],
    ['offOff', 'u32'],
    ['lenOff', 'u32'],
  ] as const;
  readonly workgroupSize = mmThreads(TILE);
  readonly shaderKey: string;

  constructor(readonly block: number) {
    super();
    this.shaderKey = `b${block}/${TILE.TM}x${TILE.TN}x${TILE.KT}`;
  }

  body(): string {
    return `
const BLK = ${this.block}u;
${mmDecls(TILE)}
var<private> aBase: u32;
var<private> bBase: u32;
var<private> m0: u32;
var<private> n0: u32;
var<private> k0: u32;
${ldDense('A', false, 'k0', true)}
${ldDense('B', true, 'k0', true)}
fn run(wg: u32, lid: u32) {
  let nt = wg % u.nTiles;
  let t1 = wg / u.nTiles;
  let mt = t1 % u.mTiles;
  let bhl = t1 / u.mTiles;
  let bh = u.bhBase + bhl;
  let bb = bh / u.heads;
  let qoff = u32(pos[u.offOff + bb]);
  let klen = u32(pos[u.lenOff + bb]);
  // the early returns test lets: reads of private variables count as non-uniform (WGSL's uniformity analysis, which Tint applies to the barriers below)
  let mRow = mt * TM;
  let nCol = nt * TN;
  if (nCol * BLK >= klen || (u.causal == 1u && nCol > mRow + TM - 1u)) { return; }
  if (mRow * BLK >= qoff + u.nq || (mRow + TM) * BLK <= qoff) { return; }
  m0 = mRow;
  n0 = nCol;
  aBase = bh * u.M * u.K;
  bBase = (bb * u.kvHeads + (bh % u.heads) / (u.heads / u.kvHeads)) * u.N * u.K;
  ${mmInit()}
  for (var kb = 0u; kb < u.K; kb += KT) {
    k0 = kb;
    ${mmStep(true, false)}
  }
  let o = ((bhl * u.M + m0 + ty * 4u) * u.N + n0) / 4u + tx;
  ${mmStoreVec4('u.N / 4u')}
}
`;
  }
}

/** The heads of x [heads, rows, D] bound as one buffer each: x itself where it is on the device. */
function operandParts(ctx: GpuContext, rec: Recorder, label: string, x: OperandData, heads: number, rows: number, D: number): { buffer: GPUBuffer; h0: number; h1: number }[] {
  const held = residentBuffer(x);
  if (held) return [{ buffer: held, h0: 0, h1: heads }];
  const host = x as Float32Array;
  const d4 = Math.ceil(D / 4);
  const max = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const per = Math.max(1, Math.floor(max / Math.max(1, rows * d4 * 16)));
  const parts: { buffer: GPUBuffer; h0: number; h1: number }[] = [];
  for (let h0 = 0; h0 < heads; h0 += per) {
    const h1 = Math.min(heads, h0 + per);
    const data = padColumns(host.subarray(h0 * rows * D, h1 * rows * D), (h1 - h0) * rows, D, d4 * 4);
    parts.push({ buffer: rec.own(upload(ctx.device, ctx.limits, `${label} [heads ${h0}..${h1})`, data)), h0, h1 });
  }
  return parts;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * Encodes the selection, at most `group` (b, h) at a time (as many as one score buffer binds): each
 * group's rows of words to a buffer of its own, or with `whole` all of them to one.
 */
function encodeSelection(ctx: GpuContext, rec: Recorder, p: SelectBlocksProblem, whole: boolean): { outs: { buffer: GPUBuffer; bytes: number }[]; words: number } {
  const { B, Hq, Hkv, Nq, D, R, C, block } = p;
  if (p.score === 'bound') throw errors.gpuBoundScore();
  const d4 = Math.ceil(D / 4);
  const [Rp, Cp] = [roundUp(R, TILE.TM), roundUp(C, TILE.TN)];
  const words = Math.ceil(C / 4);
  const meta = Int32Array.of(...p.qOffset, ...new Int32Array(B), ...new Int32Array(B).fill(Nq), ...p.keyLengths);
  const metaBuf = rec.own(upload(ctx.device, ctx.limits, 'select offsets and lengths', meta));
  const [offOff, zeroOff, nqOff, lenOff] = [0, B, 2 * B, 3 * B];
  const qp = rec.output('select pooled q', B * Hq * Rp * D * 4);
  const kp = rec.output('select pooled k', B * Hkv * Cp * D * 4);
  const poolInto = (out: GPUBuffer, x: OperandData, heads: number, perBatch: number, rows: number, blocks: number, blocksPad: number, posOff: number, lenOff: number, scale: number) => {
    const pool = new PoolRowsProgram(block, d4, isHalf(x));
    for (const part of operandParts(ctx, rec, out.label, x, heads, rows, D)) {
      const u = { heads: perBatch, blocks, blocksPad, n: rows, xBase: part.h0, bhBase: part.h0, d: D, d4, posOff, lenOff, scale };
      rec.dispatch(pool, [part.buffer, metaBuf, out], u, (part.h1 - part.h0) * blocks);
    }
  };
  poolInto(qp, p.q, B * Hq, Hq, Nq, R, Rp, offOff, nqOff, p.scale);
  // a KV cache's keys (kvStride its capacity) are pooled on the fly: its summaries stay on the CPU for now
  poolInto(kp, p.k, B * Hkv, Hkv, p.kvStride, C, Cp, zeroOff, lenOff, 1);

  const bh = B * Hq;
  const max = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const perHead = Math.max(Rp * Cp * 4, R * words * 4);
  if (perHead > max) throw wall(errors.gpuBufferTooLarge('select block scores of one head', perHead, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize));
  const group = Math.min(bh, Math.floor(max / perHead));
  const all = whole ? rec.output('select layout words', bh * R * words * 4) : null;
  const scores = rec.output('select block scores', group * Rp * Cp * 4);
  const scoreProgram = new BlockScoresProgram(block);
  const select = new SelectRowsProgram(block, p.topK > 0 ? 'topK' : 'threshold');
  const [mTiles, nTiles] = [Rp / TILE.TM, Cp / TILE.TN];
  const outs: { buffer: GPUBuffer; bytes: number }[] = [];
  for (let h0 = 0; h0 < bh; h0 += group) {
    const n = Math.min(group, bh - h0);
    const out = all ?? rec.output('select layout words', n * R * words * 4);
    rec.dispatch(
      scoreProgram,
      [qp, kp, metaBuf, scores],
      { heads: Hq, kvHeads: Hkv, nq: Nq, mTiles, nTiles, M: Rp, N: Cp, K: D, causal: +p.causal, bhBase: h0, offOff, lenOff },
      n * mTiles * nTiles,
    );
    rec.dispatch(
      select,
      [scores, metaBuf, out],
      {
        heads: Hq, nq: Nq, rows: R, cols: C, rowsPad: Rp, colsPad: Cp, words, outOff: all ? h0 * R * words : 0, causal: +p.causal, topK: p.topK, threshold: p.threshold,
        keepDiagonal: +p.keepDiagonal, keepFirst: p.keepFirst, keepLocal: p.keepLocal, bhBase: h0, offOff, lenOff,
      },
      n * R,
    );
    if (!all) outs.push({ buffer: out, bytes: n * R * words * 4 });
  }
  if (all) outs.push({ buffer: all, bytes: bh * R * words * 4 });
  return { outs, words };
}

/** The selected layout [B, Hq, R, C] (0 / 1 bytes). */
export async function selectBlocks(ctx: GpuContext, p: SelectBlocksProblem): Promise<Uint8Array> {
  const rec = ctx.recorder('selectBlocks');
  const { outs, words } = encodeSelection(ctx, rec, p, false);
  const data = await rec.run(outs);
  const layout = new Uint8Array(p.B * p.Hq * p.R * p.C);
  let row = 0;
  for (const d of data) {
    const rows = d.byteLength / (words * 4);
    layout.set(unpackRows(d, rows, p.C, words), row * p.C);
    row += rows;
  }
  return layout;
}

/**
 * The selection kept on the device, with the forward tables built there from it (resident-layout.ts).
 * The host learns only nnz and the longest row (8 bytes read back), which size the tables.
 */
export async function selectBlocksResident(ctx: GpuContext, p: SelectBlocksProblem, reader: (b: GPUBuffer, bytes: number) => Promise<ArrayBuffer>): Promise<GpuLayout> {
  const rec = ctx.recorder('selectBlocks');
  const { outs, words } = encodeSelection(ctx, rec, p, true);
  const wordsBuf = outs[0]!.buffer;
  const n = p.B * p.Hq * p.R;
  const ptr = rec.output('layout kvPtr (counts, then their sums)', (n + 1) * 4);
  const stats = rec.output('layout nnz and longest row', 8);
  rec.dispatch(new LayoutCountProgram(), [wordsBuf, ptr], { n, words_: words }, Math.ceil(n / 64));
  rec.dispatch(new LayoutScanProgram(), [ptr, stats], { n }, 1);
  rec.disown(wordsBuf);
  rec.disown(ptr);
  let nnz: number;
  let maxRow: number;
  try {
    [nnz, maxRow] = new Int32Array((await rec.run([{ buffer: stats, bytes: 8 }]))[0]!);
  } catch (e) {
    wordsBuf.destroy();
    ptr.destroy();
    throw e;
  }
  const fill = ctx.recorder('selectBlocks tables');
  fill.own(ptr);
  const [ordOff, idxOff] = [n + 1, 2 * n + 1];
  const kindOff = idxOff + nnz;
  let lut: GPUBuffer;
  try {
    lut = fill.output('layout tables (on the device)', (kindOff + nnz) * 4);
  } catch (e) {
    wordsBuf.destroy();
    ptr.destroy();
    throw e;
  }
  fill.disown(lut);
  fill.dispatch(new LayoutFillProgram(), [wordsBuf, ptr, lut], { n, words_: words, rows: p.R, ordOff, idxOff, kindOff }, Math.ceil(n / 64));
  try {
    await fill.run([]);
  } catch (e) {
    wordsBuf.destroy();
    lut.destroy();
    throw e;
  }
  const tables: LayoutTables = {
    buffer: lut, kvPtr: 0, kvIndices: idxOff, causalKind: kindOff, rowOrder: [ordOff, ordOff],
    // the transposed tables (q*) are not built: the backward does not take a layout held here
    qPtr: 0, qIndices: 0, qEntries: 0, entryRow: 0, colOrder: [0, 0],
  };
  return new GpuLayout(wordsBuf, tables, p.block, [p.B, p.Hq, p.R, p.C], nnz, maxRow, ctx.life, reader, (b) => ctx.bufferPool.give(b));
}
