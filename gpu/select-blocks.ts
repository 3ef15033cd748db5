// engine.selectBlocks on WebGPU (src/backend.ts SelectBlocksProblem): three programs in one
// command buffer, nothing N × N anywhere.
//   PoolRowsProgram: the mean of q's rows per (b, h, block row) (times the scale) and of k's
//     valid rows per (b, g, key block), or their min and max for the bound score, [heads, blocks
//     padded to the score tile, D] (a KV cache's summaries stand in for k's where they hold them);
//   BlockScoresProgram: s = qp · kpᵀ per (b, h), or Quest's bound from the min and max, reading kv
//     head h / (Hq / Hkv), a register-tiled matmul (matmul-common.ts) that skips tiles holding no
//     allowed score;
//   SelectRowsProgram (select-rows.ts): each row's blocks, as bytes packed in u32 words.
// Operands past the device's binding size are pooled in parts of whole heads; the scores and the
// selection run over as many (b, h) at a time as the score buffer can bind. selectBlocksResident
// (keepOnDevice) keeps the words and builds the forward's tables from them (resident-layout.ts).
import { keptPerRowBound, type OperandData, type ResidentData, type SelectBlocksProblem } from '../src/backend.js';
import { errors, internal } from '../src/errors.js';
import { wall } from '../src/attention-parts.js';
import { queryBlockRows, queryRuns, SelectedRows } from '../src/layouts/selected-layout.js';
import { padColumns, upload, type LayoutTables } from './buffers.js';
import type { GpuContext, Recorder } from './context.js';
import { KT, ldDense, mmDecls, mmInit, mmStep, mmStoreVec4, mmThreads, type MmTile } from './matmul-common.js';
import { Program, type BindingSpec } from './program.js';
import { isHalf, residentBuffer } from './resident.js';
import { SelectRowsProgram, stagedChunks } from './select-rows.js';
import { GpuLayout, LayoutFillProgram, LayoutScanProgram } from './resident-layout.js';

/** The score tile (and so the padding of the pooled rows and the score rows). */
const TILE: MmTile = { TM: 64, TN: 64, KT };
/** Key blocks per kv head are padded to this in the buffers the scores read (a KV cache's summaries too). */
export const SCORE_TILE = TILE.TN;
const POOL_WG = 64;

/** PoolRowsProgram's rowOff when it pools blocks blkBase … of every batch row alike. */
export const ALL_ROWS = 0xffffffff;

/** What PoolRowsProgram writes per pooled row: the mean (times the scale), the min and max, or all three. */
export type PoolOutputs = 'mean' | 'bounds' | 'all';

/**
 * One workgroup per pooled row (bh, blk): the mean of the rows of x at absolute positions
 * [blk·BLK, blk·BLK + BLK) ∩ [pos0[b], pos0[b] + len[b]), x's row i holding position pos0 + i, and
 * (`outputs`) their elementwise min and max; zeros where there are none. TC threads across the vec4
 * columns, RG row groups summed in a tree. The mean's arithmetic is the same in every variant, so
 * a KV cache's summaries (gpu/kv-cache.ts) are the bits selectBlocks pools from the same keys.
 */
export class PoolRowsProgram extends Program {
  readonly name = 'PoolRowsProgram';
  readonly bindings: readonly BindingSpec[];
  readonly uniforms = [
    ['heads', 'u32'],
    /** Pooled rows per head in this dispatch, from block blkBase; their stride in out (padded to the score tile). */
    ['blocks', 'u32'],
    ['blkBase', 'u32'],
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
    /** Where pos holds each batch row's first pooled block (a selection's row window; then blkBase is
     * not read), or ALL_ROWS. */
    ['rowOff', 'u32'],
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
    readonly outputs: PoolOutputs = 'mean',
  ) {
    super();
    this.TC = Math.min(POOL_WG, d4);
    this.shaderKey = `b${block}/tc${this.TC}${half ? '/f16' : ''}/${outputs}`;
    const f32 = (name: string): BindingSpec => ({ name, access: 'read_write', elem: 'f32' });
    this.bindings = [
      { name: 'x', access: 'read', elem: half ? 'vec4<f16>' : 'vec4<f32>' },
      { name: 'pos', access: 'read', elem: 'i32' },
      ...(outputs === 'bounds' ? [] : [f32('out')]),
      ...(outputs === 'mean' ? [] : [f32('outMin'), f32('outMax')]),
    ];
  }

  body(): string {
    const TC = this.TC;
    const RG = Math.floor(POOL_WG / TC);
    const mean = this.outputs !== 'bounds';
    const bounds = this.outputs !== 'mean';
    const row = (i: string) => `vec4<f32>(x[(xRow + ${i} - pos0) * u.d4 + c])`;
    const take = (v: string) => [mean ? `acc = acc + ${v};` : '', bounds ? `mn = min(mn, ${v}); mx = max(mx, ${v});` : ''].join(' ');
    const store = (buf: string, v: string) => `for (var j = 0u; j < 4u; j++) { if (c * 4u + j < u.d) { ${buf}[o + c * 4u + j] = ${v}[j]; } }`;
    return `
const BLK = ${this.block}u;
const TC = ${TC}u;
const RG = ${RG}u;
${mean ? `var<workgroup> red: array<vec4<f32>, ${POOL_WG}>;` : ''}
${bounds ? `var<workgroup> redLo: array<vec4<f32>, ${POOL_WG}>;
var<workgroup> redHi: array<vec4<f32>, ${POOL_WG}>;` : ''}

fn run(wg: u32, lid: u32) {
  let bh = u.bhBase + wg / u.blocks;
  let b = bh / u.heads;
  var blk = u.blkBase + wg % u.blocks;
  if (u.rowOff != ${ALL_ROWS}u) { blk = u32(pos[u.rowOff + b]) + wg % u.blocks; }
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
  // the loop and its barriers run in uniform control flow: every bound is a uniform
  for (var c0 = 0u; c0 < u.d4; c0 += TC) {
    let c = c0 + cv;
    var acc = vec4<f32>(0.0);
    // a row group's min and max start at its first row (none: zeros, never combined)
    var mn = vec4<f32>(0.0);
    var mx = vec4<f32>(0.0);
    if (rg < RG && c < u.d4) {
      ${bounds ? `if (lo + rg < hi) {
        mn = ${row('lo + rg')};
        mx = mn;
      }` : ''}
      // four rows' loads in flight at a time, summed in row order (the bits of the plain loop)
      var i = lo + rg;
      for (; i + 3u * RG < hi; i += 4u * RG) {
        ${[0, 1, 2, 3].map((j) => `let x${j} = ${row(`i + ${j}u * RG`)};`).join('\n        ')}
        ${[0, 1, 2, 3].map((j) => take(`x${j}`)).join('\n        ')}
      }
      for (; i < hi; i += RG) {
        let xi = ${row('i')};
        ${take('xi')}
      }
    }
    ${mean ? 'red[lid] = acc;' : ''}
    ${bounds ? 'redLo[lid] = mn;\n    redHi[lid] = mx;' : ''}
    workgroupBarrier();
    if (rg == 0u && c < u.d4) {
      ${mean ? `var sum = red[cv];
      for (var g = 1u; g < RG; g++) { sum = sum + red[g * TC + cv]; }
      let v = sum * f;
      ${store('out', 'v')}` : ''}
      ${bounds ? `var l = redLo[cv];
      var h = redHi[cv];
      for (var g = 1u; g < min(RG, count); g++) {
        l = min(l, redLo[g * TC + cv]);
        h = max(h, redHi[g * TC + cv]);
      }
      ${store('outMin', 'l')}
      ${store('outMax', 'h')}` : ''}
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
 * keyLengths) or whose rows hold no query is skipped: the selection never reads it. `bound`: Quest's
 * upper bound scale · Σ_d max(qp_d · kmin_d, qp_d · kmax_d) instead, from the key blocks' min and
 * max (qp pooled without the scale). Its products cannot fuse with the sum (each goes through a
 * max first) and are summed along d in order, but WGSL promises no rounding mode: the bound may
 * round an ulp either way (API.md: ≥ q·k·scale within the WebGPU tolerance).
 */
export class BlockScoresProgram extends Program {
  readonly name = 'BlockScoresProgram';
  readonly bindings: readonly BindingSpec[];
  readonly uniforms = [
    ['heads', 'u32'],
    ['kvHeads', 'u32'],
    ['nq', 'u32'],
    /** Tiles per (b, h) along the window's rows and along columns; score rows and columns per (b, h) (padded). */
    ['mTiles', 'u32'],
    ['nTiles', 'u32'],
    ['M', 'u32'],
    ['N', 'u32'],
    /** Pooled query rows per (b, h) in a (a window's last tile may reach past them: read as zeros). */
    ['qRows', 'u32'],
    /** Where pos holds each batch row's first block row of the window (score row 0). */
    ['rowOff', 'u32'],
    /** Key blocks per kv head in the key buffers (≥ N: a KV cache's summaries hold its capacity's). */
    ['kvRows', 'u32'],
    /** The head dim (the depth of the product). */
    ['K', 'u32'],
    ['causal', 'u32'],
    ['bhBase', 'u32'],
    ['offOff', 'u32'],
    ['lenOff', 'u32'],
    /** The bound's scale (the mean's is in qp). */
    ['scale', 'f32'],
  ] as const;
  readonly workgroupSize = mmThreads(TILE);
  readonly shaderKey: string;

  constructor(
    readonly block: number,
    readonly bound = false,
  ) {
    super();
    this.shaderKey = `b${block}/${TILE.TM}x${TILE.TN}x${TILE.KT}${bound ? '/bound' : ''}`;
    const read = (name: string): BindingSpec => ({ name, access: 'read', elem: 'f32' });
    this.bindings = [
      read('a'),
      ...(bound ? [read('kmin'), read('kmax')] : [read('b')]),
      { name: 'pos', access: 'read', elem: 'i32' },
      { name: 'c', access: 'read_write', elem: 'vec4<f32>' },
    ];
  }

  body(): string {
    const bound = this.bound;
    return `
const BLK = ${this.block}u;
${mmDecls(TILE)}
${bound ? `var<workgroup> bh_: array<vec4<f32>, ${(TILE.KT * TILE.TN) / 4}>;` : ''}
var<private> aBase: u32;
var<private> bBase: u32;
var<private> m0: u32;
var<private> n0: u32;
var<private> k0: u32;
fn ldA(mm: u32, kk: u32) -> f32 {
  let m = m0 + mm;
  let k = k0 + kk;
  if (k >= u.K || m >= u.qRows) { return 0.0; }
  return a[aBase + m * u.K + k];
}
${bound ? `${keyLoader('kmin')}
${keyLoader('kmax')}` : ldDense('B', true, 'k0', true)}
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
  let mLocal = mt * TM; // the tile's first row in the window (its scores' row)
  let mRow = u32(pos[u.rowOff + bb]) + mLocal; // and in the layout
  let nCol = nt * TN;
  if (nCol * BLK >= klen || (u.causal == 1u && nCol > mRow + TM - 1u)) { return; }
  if (mRow * BLK >= qoff + u.nq || (mRow + TM) * BLK <= qoff) { return; }
  m0 = mRow;
  n0 = nCol;
  aBase = bh * u.qRows * u.K;
  bBase = (bb * u.kvHeads + (bh % u.heads) / (u.heads / u.kvHeads)) * u.kvRows * u.K;
  ${mmInit()}
  for (var kb = 0u; kb < u.K; kb += KT) {
    k0 = kb;
    ${bound ? boundStep() : mmStep(true, false)}
  }
  ${bound ? 'c0 = c0 * u.scale;\n  c1 = c1 * u.scale;\n  c2 = c2 * u.scale;\n  c3 = c3 * u.scale;' : ''}
  let o = ((bhl * u.M + mLocal + ty * 4u) * u.N + n0) / 4u + tx;
  ${mmStoreVec4('u.N / 4u')}
}
`;
  }
}

/** `fn ld_<name>(kk, nn)`: key block n0 + nn, depth k0 + kk, of a [blocks, K] operand (zero past K). */
function keyLoader(name: string): string {
  return `fn ld_${name}(kk: u32, nn: u32) -> f32 {
  let k = k0 + kk;
  if (k >= u.K) { return 0.0; }
  return ${name}[bBase + (n0 + nn) * u.K + k];
}`;
}

/**
 * mmStep(true, false) for the bound: stages a KT slice of qp and of the blocks' min (bs_) and max
 * (bh_), then adds max(q · kmin, q · kmax) per depth, in order.
 */
function boundStep(): string {
  const acc = (c: number, lane: string) => `c${c} = c${c} + max(vec4<f32>(av.${lane}) * lv, vec4<f32>(av.${lane}) * hv);`;
  return `workgroupBarrier();
    for (var idx = lid; idx < TM * KT; idx += WG) {
      let mm = idx / KT;
      let kk = idx % KT;
      as_[kk * TM4 + mm / 4u][mm % 4u] = ldA(mm, kk);
    }
    for (var idx = lid; idx < KT * TN; idx += WG) {
      let nn = idx / KT;
      let kk = idx % KT;
      bs_[kk * TN4 + nn / 4u][nn % 4u] = ld_kmin(kk, nn);
      bh_[kk * TN4 + nn / 4u][nn % 4u] = ld_kmax(kk, nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      let av = as_[kk * TM4 + ty];
      let lv = bs_[kk * TN4 + tx];
      let hv = bh_[kk * TN4 + tx];
      ${acc(0, 'x')}
      ${acc(1, 'y')}
      ${acc(2, 'z')}
      ${acc(3, 'w')}
    }`;
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
 * The block rows a selection computes: per batch row b, `span` rows from r0[b] (those past R
 * skipped). The whole layout (r0 0, span R), or the rows holding a query (queryBlockRows).
 */
interface RowWindow {
  r0: Int32Array;
  span: number;
}

const wholeWindow = (p: SelectBlocksProblem): RowWindow => ({ r0: new Int32Array(p.B), span: p.R });

/** The rows holding a query: a decode step's one block row, not the R of the layout. */
function queryWindow(p: SelectBlocksProblem): RowWindow {
  const rows = queryBlockRows(p);
  return { r0: Int32Array.from(rows, ([r0]) => r0), span: Math.max(1, ...rows.map(([r0, r1]) => r1 - r0)) };
}

/** What encodeScores leaves for the selection: the offsets, lengths and window, and the scores' encoder. */
interface Scores {
  metaBuf: GPUBuffer;
  offOff: number;
  lenOff: number;
  rowOff: number;
  /** Score rows (the window's, padded) and columns per (b, h). */
  Rp: number;
  Cp: number;
  /** Encodes the scores of (b, h) h0 … h0 + n − 1 into `out` ([n, Rp, Cp] floats). */
  encode(h0: number, n: number, out: GPUBuffer): void;
}

/**
 * Pools q and the key blocks (a KV cache's summaries stand in for the key blocks where they hold
 * them: p.summaries), and returns the encoder of the block scores.
 */
function encodeScores(ctx: GpuContext, rec: Recorder, p: SelectBlocksProblem, window: RowWindow): Scores {
  const { B, Hq, Hkv, Nq, D, R, C, block } = p;
  const bound = p.score === 'bound';
  const d4 = Math.ceil(D / 4);
  const [Rp, Cp] = [roundUp(window.span, TILE.TM), roundUp(C, TILE.TN)];
  // pooled q's rows per (b, h): block rows, absolute; only the window's are pooled (a window that
  // starts late may reach past R: its rows beyond hold no query, pooled as zeros)
  const qRows = roundUp(Math.max(R, ...Array.from(window.r0, (r0) => r0 + window.span)), TILE.TM);
  const meta = Int32Array.of(...p.qOffset, ...new Int32Array(B), ...new Int32Array(B).fill(Nq), ...p.keyLengths, ...window.r0);
  const metaBuf = rec.input('select offsets, lengths and rows', [meta]);
  const [offOff, zeroOff, nqOff, lenOff, rowOff] = [0, B, 2 * B, 3 * B, 4 * B];
  const poolInto = (outs: GPUBuffer[], outputs: PoolOutputs, x: OperandData, heads: number, perBatch: number, rows: number, blocks: number, blocksPad: number, posOff: number, lenOff: number, windowOff: number, scale: number) => {
    const pool = new PoolRowsProgram(block, d4, isHalf(x), outputs);
    for (const part of operandParts(ctx, rec, outs[0]!.label, x, heads, rows, D)) {
      const u = { heads: perBatch, blocks, blkBase: 0, blocksPad, n: rows, xBase: part.h0, bhBase: part.h0, d: D, d4, posOff, lenOff, rowOff: windowOff, scale };
      rec.dispatch(pool, [part.buffer, metaBuf, ...outs], u, (part.h1 - part.h0) * blocks);
    }
  };
  // the bound's scale comes after its max, where the CPU's does (a negative one flips the max)
  const qp = rec.output('select pooled q', B * Hq * qRows * D * 4);
  poolInto([qp], 'mean', p.q, B * Hq, Hq, Nq, window.span, qRows, offOff, nqOff, rowOff, bound ? 1 : p.scale);
  let keys: GPUBuffer[];
  let kvRows: number;
  const held = p.summaries;
  if (held) {
    const at = (r: ResidentData) => residentBuffer(r) ?? (() => { throw internal('the WebGPU backend got summaries another backend holds'); })();
    keys = bound ? [at(held.min), at(held.max)] : [at(held.mean)];
    kvRows = held.blocks;
  } else {
    const bytes = B * Hkv * Cp * D * 4;
    keys = bound ? [rec.output('select pooled k min', bytes), rec.output('select pooled k max', bytes)] : [rec.output('select pooled k', bytes)];
    kvRows = Cp;
    // a KV cache's keys (kvStride its capacity) are pooled as a tensor's
    poolInto(keys, bound ? 'bounds' : 'mean', p.k, B * Hkv, Hkv, p.kvStride, C, Cp, zeroOff, lenOff, ALL_ROWS, 1);
  }
  const program = new BlockScoresProgram(block, bound);
  const [mTiles, nTiles] = [Rp / TILE.TM, Cp / TILE.TN];
  return {
    metaBuf, offOff, lenOff, rowOff, Rp, Cp,
    encode: (h0, n, out) =>
      rec.dispatch(
        program,
        [qp, ...keys, metaBuf, out],
        { heads: Hq, kvHeads: Hkv, nq: Nq, mTiles, nTiles, M: Rp, N: Cp, qRows, rowOff, kvRows, K: D, causal: +p.causal, bhBase: h0, offOff, lenOff, scale: p.scale },
        n * mTiles * nTiles,
      ),
  };
}

/** (b, h) per score buffer: as many as one binds. */
function scoreGroup(ctx: GpuContext, p: SelectBlocksProblem, s: Scores, span: number): number {
  const max = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const perHead = Math.max(s.Rp * s.Cp * 4, span * Math.ceil(p.C / 4) * 4);
  if (perHead > max) throw wall(errors.gpuBufferTooLarge('select block scores of one head', perHead, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize));
  return Math.min(p.B * p.Hq, Math.floor(max / perHead));
}

/**
 * Encodes the selection of the window's rows, at most `group` (b, h) at a time (as many as one score
 * buffer binds): each group's rows of words ([n, span, words]) to a buffer of its own, or, given
 * `counts` (a held layout's kvPtr), all of them to one [B·Hq, R, words] (rows outside the window
 * left zero) and each row's kept blocks to counts[row + 1].
 */
function encodeSelection(ctx: GpuContext, rec: Recorder, p: SelectBlocksProblem, window: RowWindow, counts: GPUBuffer | null): { outs: { buffer: GPUBuffer; bytes: number }[]; words: number; group: number } {
  const { B, Hq, Nq, R, C, block } = p;
  const { span } = window;
  const words = Math.ceil(C / 4);
  const s = encodeScores(ctx, rec, p, window);
  const { metaBuf, offOff, lenOff, rowOff, Rp, Cp } = s;
  const bh = B * Hq;
  const group = scoreGroup(ctx, p, s, span);
  const all = counts ? rec.output('select layout words', bh * R * words * 4) : null;
  const scores = rec.output('select block scores', group * Rp * Cp * 4);
  const select = new SelectRowsProgram(block, p.topK > 0 ? 'topK' : 'threshold', stagedChunks(C), counts !== null);
  const outs: { buffer: GPUBuffer; bytes: number }[] = [];
  for (let h0 = 0; h0 < bh; h0 += group) {
    const n = Math.min(group, bh - h0);
    const out = all ?? rec.output('select layout words', n * span * words * 4);
    s.encode(h0, n, scores);
    rec.dispatch(
      select,
      counts ? [scores, metaBuf, out, counts] : [scores, metaBuf, out],
      {
        heads: Hq, nq: Nq, rows: R, cols: C, rowsPad: Rp, colsPad: Cp, span, rowOff, words, outOff: all ? h0 * span * words : 0, causal: +p.causal, topK: p.topK, threshold: p.threshold,
        keepDiagonal: +p.keepDiagonal, keepFirst: p.keepFirst, keepLocal: p.keepLocal, bhBase: h0, offOff, lenOff,
      },
      n * span,
    );
    if (!all) outs.push({ buffer: out, bytes: n * span * words * 4 });
  }
  if (all) outs.push({ buffer: all, bytes: bh * R * words * 4 });
  return { outs, words, group };
}

/**
 * The block scores the selection cuts, [B·Hq, R, C] (tests: the bound against q·k). Only the tiles
 * holding an allowed score are computed: the others read as zeros. Needs every head's scores in one
 * buffer (RangeError otherwise).
 */
export async function blockScores(ctx: GpuContext, p: SelectBlocksProblem): Promise<Float32Array> {
  const rec = ctx.recorder('selectBlocks scores');
  const window = wholeWindow(p);
  const s = encodeScores(ctx, rec, p, window);
  const bh = p.B * p.Hq;
  if (scoreGroup(ctx, p, s, window.span) < bh) throw errors.gpuBufferTooLarge('select block scores of every head', bh * s.Rp * s.Cp * 4, ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const scores = rec.output('select block scores', bh * s.Rp * s.Cp * 4);
  s.encode(0, bh, scores);
  const padded = new Float32Array((await rec.run([{ buffer: scores, bytes: bh * s.Rp * s.Cp * 4 }]))[0]!);
  const out = new Float32Array(bh * p.R * p.C);
  for (let r = 0; r < bh * p.R; r++) {
    const at = (Math.floor(r / p.R) * s.Rp + (r % p.R)) * s.Cp;
    out.set(padded.subarray(at, at + p.C), r * p.C);
  }
  return out;
}

/**
 * The selected layout [B, Hq, R, C] as its rows that hold a query (the others are empty): only
 * those are scored, selected and read back (a decode step's one block row per head).
 */
export async function selectBlocks(ctx: GpuContext, p: SelectBlocksProblem): Promise<SelectedRows> {
  const rec = ctx.recorder('selectBlocks');
  const window = queryWindow(p);
  const { outs, words, group } = encodeSelection(ctx, rec, p, window, null);
  const data = await rec.run(outs);
  const { B, Hq, R, C } = p;
  const runs = queryRuns(queryBlockRows(p), Hq, R);
  // row t = bh·R + r is row (bh mod group)·span + r − r0 of buffer ⌊bh / group⌋ (C bytes of `words` u32)
  const bytes = new Uint8Array(runs.reduce((n, [t0, t1]) => n + t1 - t0, 0) * C);
  let at = 0;
  for (const [t0, t1] of runs) {
    for (let t = t0; t < t1; t++, at++) {
      const bh = Math.floor(t / R);
      const row = (bh % group) * window.span + (t % R) - window.r0[Math.floor(bh / Hq)]!;
      bytes.set(new Uint8Array(data[Math.floor(bh / group)]!, row * words * 4, C), at * C);
    }
  }
  return new SelectedRows(p.block, [B, Hq, R, C], runs, bytes);
}

/** The most bytes of tables sized by keptPerRowBound rather than by the counts (one submission instead of two). */
const BOUNDED_TABLE_BYTES = 64 << 20;

/**
 * The selection kept on the device, with the forward tables built there from it (resident-layout.ts).
 * Under topK the tables are sized by its bound and filled in the same submission, and nothing is
 * read back: the bound stands for the longest row, so a call with timings off returns once its work
 * is submitted. Under a threshold the counts size them: nnz and the longest row (8 bytes) are read
 * back before a second submission fills them.
 */
export async function selectBlocksResident(ctx: GpuContext, p: SelectBlocksProblem, reader: (b: GPUBuffer, bytes: number) => Promise<ArrayBuffer>): Promise<GpuLayout> {
  const rec = ctx.recorder('selectBlocks');
  const n = p.B * p.Hq * p.R;
  const ptr = rec.output('layout kvPtr (counts, then their sums)', (n + 1) * 4);
  // only the block rows holding a query are scored and selected (a decode step's one): the others stay empty
  const { outs, words } = encodeSelection(ctx, rec, p, queryWindow(p), ptr);
  const wordsBuf = outs[0]!.buffer;
  const stats = rec.output('layout nnz and longest row', 8);
  rec.dispatch(new LayoutScanProgram(), [ptr, stats], { n }, 1);
  rec.disown(wordsBuf);
  const [ordOff, idxOff] = [n + 1, 2 * n + 1];
  // the tables: kvPtr, row order, kvIndices and causalKind (`room` entries each) in one buffer
  const encodeFill = (r: Recorder, room: number): GPUBuffer => {
    const lut = r.output('layout tables (on the device)', (idxOff + 2 * room) * 4);
    r.disown(lut);
    r.dispatch(new LayoutFillProgram(), [wordsBuf, ptr, lut], { n, words_: words, rows: p.R, ordOff, idxOff, kindOff: idxOff + room }, n);
    return lut;
  };
  const perRow = keptPerRowBound(p);
  const bounded = perRow !== null && (idxOff + 2 * n * perRow) * 4 <= BOUNDED_TABLE_BYTES;
  let lut: GPUBuffer | null = null;
  let room: number;
  let maxRow: number;
  try {
    if (bounded) {
      room = n * perRow!;
      lut = encodeFill(rec, room);
      await rec.run([]);
      maxRow = perRow!;
    } else {
      rec.disown(ptr);
      try {
        [room, maxRow] = new Int32Array((await rec.run([{ buffer: stats, bytes: 8 }]))[0]!);
      } catch (e) {
        ptr.destroy();
        throw e;
      }
      const counted = ctx.lastTimings;
      const fill = ctx.recorder('selectBlocks tables');
      fill.own(ptr);
      lut = encodeFill(fill, room);
      await fill.run([]);
      ctx.joinTimings(counted);
    }
  } catch (e) {
    wordsBuf.destroy();
    lut?.destroy();
    throw e;
  }
  const kindOff = idxOff + room;
  const tables: LayoutTables = {
    buffer: lut, kvPtr: 0, kvIndices: idxOff, causalKind: kindOff, rowOrder: [ordOff, ordOff],
    // the transposed tables (q*) are not built: the backward does not take a layout held here
    qPtr: 0, qIndices: 0, qEntries: 0, entryRow: 0, colOrder: [0, 0],
  };
  return new GpuLayout(wordsBuf, tables, p.block, [p.B, p.Hq, p.R, p.C], maxRow, ctx.life, reader, (b) => ctx.bufferPool.give(b));
}
