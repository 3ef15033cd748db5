// Split-KV attention forward for a few query rows (decode, flash-decoding): the prefill programs
// give one workgroup a row tile and walk its kept blocks alone, so with Nq ≤ 16 only B·H·(block
// rows) workgroups run. Here workgroup (b, h, query block row, chunk) takes one chunk of that
// block row's kept blocks, computes the scores of its (at most 16) query rows against them with
// an online softmax, and writes the chunk's normalised output and log-sum-exp to a scratch buffer;
// AttentionDecodeMergeProgram (attention-decode-merge.ts) then merges the chunks of each row by
// their lse. Each workgroup finds its rows and chunk from the layout tables and the query offsets
// on the GPU: the host writes only uniforms, whatever the cache's length or the layout's size.
import type { AttentionProblem, OperandData } from '../src/backend.js';
import { attentionInputBindings, biasFn, flagsKey, layoutDims, operand, sourceAt, vec4Elem, type AttnFlags } from './attention-common.js';
import { MASKED, qOffsetOf, THRESH, type BiasBuffer, type RowTables } from './buffers.js';
import type { Recorder } from './context.js';
import { AttentionDecodeMergeProgram } from './attention-decode-merge.js';
import { Program, type BindingSpec, type UniformValues } from './program.js';
import { internal } from '../src/errors.js';

/** The most query rows a workgroup takes (query rows × the query heads it groups). */
export const DECODE_MAX_ROWS = 16;
/** Threads per workgroup, and keys per step (one key per thread for the scores). */
const WG = 128;
/** Workgroups to aim for: about as many as an H100 or H200 holds at once (132 SMs × 16). */
const TARGET_WORKGROUPS = 2048;

export const DECODE_UNIFORMS = [
  ['heads', 'u32'],
  ['kvHeads', 'u32'],
  /** Query heads per workgroup (a divisor of the kv group whose heads keep the same blocks; else 1). */
  ['pack', 'u32'],
  /** Query rows Nq, keys Nk, rows between kv heads in k, v (Nk, or a KV cache's capacity). */
  ['n', 'u32'],
  ['nk', 'u32'],
  ['kvs', 'u32'],
  /** The head dim in vec4 (also compiled in; the uniform bounds the score loop, see the body). */
  ['d4', 'u32'],
  /** Block rows of the layout, and 1 for a layout per batch row (slot b·H + h), else 0 (slot h). */
  ['rows', 'u32'],
  ['lbat', 'u32'],
  /** Query block rows per (b, h) (1 or 2), chunks per block row, kept entries per chunk. */
  ['slots', 'u32'],
  ['chunks', 'u32'],
  ['chunkLen', 'u32'],
  ['scale', 'f32'],
  ['ptrOff', 'u32'],
  ['idxOff', 'u32'],
  ['rpeOff', 'u32'],
  ['kpmOff', 'u32'],
  ['amOff', 'u32'],
  ['offOff', 'u32'],
] as const;

/**
 * Compile-time: the block, the flags, NR (rows per workgroup, a power of two ≥ its query heads ×
 * query rows) and d4 (the head dim in vec4). Each step takes WG keys: thread t scores key t against
 * every row (K read once, whichever rows share it), the rows' maxima come from fixed reduction
 * stages over the threads, each thread keeps its own keys' share of the sums, and P·V runs on
 * d4 column threads × floor(WG / d4) key groups, their outputs added at the end. `half`: q, k, v in f16 (a
 * KV cache of dtype float16), widened at the loads; the partial outputs stay f32.
 */
export class AttentionDecodeProgram extends Program {
  readonly name = 'AttentionDecodeProgram';
  readonly bindings: readonly BindingSpec[];
  override readonly half: boolean;
  readonly uniforms = DECODE_UNIFORMS;
  readonly workgroupSize = WG;
  readonly shaderKey: string;

  constructor(
    readonly block: number,
    readonly flags: AttnFlags,
    readonly NR: number,
    readonly d4: number,
    half = false,
  ) {
    super();
    if (d4 > WG) throw internal(`AttentionDecodeProgram: d4 ${d4} > ${WG}`);
    this.half = half;
    this.shaderKey = `b${block}/${flagsKey(flags)}/nr${NR}/d${d4}${half ? '/f16' : ''}`;
    const e = vec4Elem(half);
    this.bindings = [
      ...attentionInputBindings(e),
      { name: 'po', access: 'read_write', elem: 'vec4<f32>' },
      { name: 'pl', access: 'read_write', elem: 'f32' },
    ];
  }

  body(): string {
    const { NR, d4 } = this;
    const f = this.flags;
    const [q, k, v] = ['q', 'k', 'v'].map((name) => operand(name, this.half));
    const TC = d4;
    const KG = Math.floor(WG / TC);
    const bias = f.hasRpe || f.hasKpm || f.hasAm;
    const at = (r: string, j: string) => `ps[${r} * TK4 + (${j}) / 4u][(${j}) % 4u]`;
    const scaled = bias ? '(sa[r] * u.scale + biasAt(rh[r], b, rx[r], kr)) * LOG2E' : 'sa[r] * sc';
    // Folds `len` values of each row (read(row, j)) into rowRed[row] in two fixed stages, 8 threads
    // a row and then one, so that a step's barriers do not depend on NR.
    const foldRows = (op: 'max' | 'add', read: (row: string, j: string) => string, len: number): string => {
      const [init, fold] = op === 'max' ? ['MASKED', (a: string, b: string) => `max(${a}, ${b})`] : ['0.0', (a: string, b: string) => `${a} + ${b}`];
      return `if (lid < NR * 8u) {
      var acc = ${init};
      for (var x = 0u; x < ${len / 8}u; x++) { acc = ${fold('acc', read('lid / 8u', `(lid % 8u) * ${len / 8}u + x`))}; }
      red8[lid] = acc;
    }
    workgroupBarrier();
    if (lid < NR) {
      var acc = ${init};
      for (var x = 0u; x < 8u; x++) { acc = ${fold('acc', 'red8[lid * 8u + x]')}; }
      rowRed[lid] = acc;
    }`;
    };
    // Rows are loops over private arrays, not unrolled code: lavapipe's compile time grows steeply
    // with unrolled rows, and GPU compilers unroll these constant-count loops themselves.
    return `
const BLK = ${this.block}u;
const TK = ${WG}u;
const TK4 = ${WG / 4}u;
const D4 = ${d4}u;
const NR = ${NR}u;
const SEG = ${WG / NR}u;
const TC = ${TC}u;
const KG = ${KG}u;
const MASKED = ${MASKED.toExponential()};
const THRESH = ${THRESH.toExponential()};
const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;
// scores, then P, of row r and step key j at [r·TK/4 + j/4][j % 4]: vec4 elements, since lavapipe's
// compile time grows with the element count of a workgroup array
var<workgroup> ps: array<vec4<f32>, ${(NR * WG) / 4}>;
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> red4: array<vec4<f32>, ${WG}>;
var<workgroup> red8: array<f32, ${NR * 8}>;
// each row's reduced value: the step's max, at the end its sum
var<workgroup> rowRed: array<f32, ${NR}>;
var<workgroup> keys: array<u32, ${WG}>;
${biasFn({ ...f, general: true })}

fn run(wg: u32, lid: u32) {
  let c = wg % u.chunks;
  let t1 = wg / u.chunks;
  let s = t1 % u.slots;
  let t2 = t1 / u.slots;
  let packs = u.heads / u.pack;
  let b = t2 / packs;
  let h0 = (t2 % packs) * u.pack;
  let bh0 = b * u.heads + h0;
  let qoff = ${qOffsetOf('b')};
  // the rows of q in query block row rb: positions [lo, hi), query indices i0 ..
  let rb = qoff / BLK + s;
  let lo = max(rb * BLK, qoff);
  let hi = min(rb * BLK + BLK, qoff + u.n);
  if (lo >= hi || rb >= u.rows) { return; }
  let i0 = lo - qoff;
  let nr = hi - lo;
  // row r of the workgroup: query head h0 + r / nr, query row i0 + r % nr (rows past np repeat the last)
  let np = u.pack * nr;
  var rh: array<u32, NR>;
  var rx: array<u32, NR>;
  var rq: array<u32, NR>;
  for (var r = 0u; r < NR; r++) {
    let e = min(r, np - 1u);
    rh[r] = bh0 + e / nr;
    rx[r] = i0 + e % nr;
    rq[r] = (rh[r] * u.n + rx[r]) * D4;
  }
  // the grouped heads keep the same blocks: the first one's list serves them all
  let list = select(h0, bh0, u.lbat == 1u) * u.rows + rb;
  let e0 = u32(lut[u.ptrOff + list]);
  // Kept columns ascend: those at or past the limit (the keys; causal: the last row's position)
  // add nothing, so the list ends at the first of them (the layout may run past Nk: a cache's capacity).
  let limit = ${f.causal ? 'min(u.nk, hi)' : 'u.nk'};
  var a0 = e0;
  var a1 = u32(lut[u.ptrOff + list + 1u]);
  while (a0 < a1) {
    let mid = (a0 + a1) / 2u;
    if (u32(lut[u.idxOff + mid]) * BLK < limit) { a0 = mid + 1u; } else { a1 = mid; }
  }
  let ca = min(e0 + c * u.chunkLen, a0);
  let cb = min(ca + u.chunkLen, a0);
  let nkeys = (cb - ca) * BLK;
  let kvBase = (b * u.kvHeads + h0 / (u.heads / u.kvHeads)) * u.kvs;
  let sc = u.scale * LOG2E;
  let cg = lid % TC;
  let kg = lid / TC;
  let seg = lid % SEG;
  // per row: the running max (the same in every thread), this thread's keys' share of the sum,
  // and this thread's share of the output (column cg over keys kg, kg + KG, ...)
  var rm: array<f32, NR>;
  var rl: array<f32, NR>;
  var ro: array<vec4<f32>, NR>;
  var al: array<f32, NR>;
  for (var r = 0u; r < NR; r++) { rm[r] = MASKED; rl[r] = 0.0; ro[r] = vec4<f32>(0.0); }
  for (var l0 = 0u; l0 < nkeys; l0 += TK) {
    workgroupBarrier();
    {
      // the scores of key lid against every row: its K row read once
      let l = l0 + lid;
      let valid0 = l < nkeys;
      var key = 0xffffffffu;
      if (valid0) { key = u32(lut[u.idxOff + ca + l / BLK]) * BLK + l % BLK; }
      let valid = valid0 && key < u.nk;
      let kr = min(key, u.nk - 1u);
      keys[lid] = kr;
      let krow = (kvBase + kr) * D4;
      var sa: array<f32, NR>;
      // bounded by the uniform d4, as the kernel this one replaced was (and was measured so)
      for (var dv = 0u; dv < u.d4; dv++) {
        let kv = ${sourceAt(k, 'krow + dv')};
        for (var r = 0u; r < NR; r++) { sa[r] = sa[r] + dot(${sourceAt(q, 'rq[r] + dv')}, kv); }
      }
      for (var r = 0u; r < NR; r++) {
        var sv = MASKED;
        if (valid${f.causal ? ' && key <= qoff + rx[r]' : ''}) { sv = ${scaled}; }
        ${at('r', 'lid')} = select(MASKED, sv, sv > THRESH);
      }
    }
    workgroupBarrier();
    // each row's max over the step: NR keys of row lid / SEG per thread, then foldRows over those
    {
      let rr = lid / SEG;
      var mx = MASKED;
      for (var x = 0u; x < NR; x++) { mx = max(mx, ${at('rr', 'seg * NR + x')}); }
      red[lid] = mx;
    }
    workgroupBarrier();
    ${foldRows('max', (row, j) => `red[${row} * SEG + ${j}]`, WG / NR)}
    workgroupBarrier();
    // P = exp2(S − m) of this thread's key in place, and the rescale of what came before
    for (var r = 0u; r < NR; r++) {
      let mn = max(rm[r], rowRed[r]);
      al[r] = exp2(rm[r] - mn);
      rm[r] = mn;
      let sv = ${at('r', 'lid')};
      let p = select(0.0, exp2(sv - mn), sv > THRESH);
      ${at('r', 'lid')} = p;
      rl[r] = fma(rl[r], al[r], p);
    }
    workgroupBarrier();
    if (lid < TC * KG) {
      for (var r = 0u; r < NR; r++) { ro[r] = ro[r] * al[r]; }
      let jn = min(TK, nkeys - l0);
      for (var j = kg; j < jn; j += KG) {
        let w = ${sourceAt(v, '(kvBase + keys[j]) * D4 + cg')};
        for (var r = 0u; r < NR; r++) { ro[r] = fma(vec4<f32>(${at('r', 'j')}), w, ro[r]); }
      }
    }
  }
  // each row's sum over the threads (foldRows over ps), then its output over the key groups (in red4)
  workgroupBarrier();
  for (var r = 0u; r < NR; r++) { ${at('r', 'lid')} = rl[r]; }
  workgroupBarrier();
  ${foldRows('add', at, WG)}
  for (var r = 0u; r < NR; r++) {
    workgroupBarrier();
    red4[lid] = ro[r];
    workgroupBarrier();
    if (r < np && lid < TC) {
      let lsum = rowRed[r];
      var acc = vec4<f32>(0.0);
      for (var g = 0u; g < KG; g++) { acc = acc + red4[g * TC + lid]; }
      let row = rh[r] * u.n + rx[r];
      po[(row * u.chunks + c) * D4 + lid] = acc * select(0.0, 1.0 / max(lsum, 1e-30), lsum > 0.0);
      if (lid == 0u) { pl[row * u.chunks + c] = select(MASKED, rm[r] * LN2 + log(max(lsum, 1e-30)), lsum > 0.0); }
    }
  }
}
`;
  }
}

/**
 * Whether the split path takes this call: beyond self-attention (so self-attention keeps its bits),
 * few rows, and a head dim that the workgroup's threads cover one vec4 column each (D ≤ 4·WG).
 */
export function takesDecodePath(p: AttentionProblem<OperandData>, flags: AttnFlags): boolean {
  return flags.general && p.N <= DECODE_MAX_ROWS && Math.ceil(p.D / 4) <= WG;
}

/** Per compiled layout: the head packs already decided, by rows read and the largest pack wanted. */
const packCache = new WeakMap<object, Map<string, number>>();

/**
 * Query heads per workgroup: the largest divisor of the kv group (H / Hkv) whose heads keep the
 * same blocks in every block row this call's queries read, and whose rows fit DECODE_MAX_ROWS
 * together; so a kv head's K/V blocks are read once for those query heads (GQA, MQA). 1 for a
 * layout held on the device (its rows are not on the host) or a group whose heads differ.
 */
export function decodePack(p: AttentionProblem<OperandData>): number {
  if (p.residentLayout) return 1;
  const G = p.H / p.Hkv;
  const l = p.layout;
  const perHead = Math.min(p.N, l.block);
  let want = 1;
  for (let g = G; g > 1; g--) if (G % g === 0 && g * perHead <= DECODE_MAX_ROWS) { want = g; break; }
  if (want === 1) return 1;
  const R = l.rows;
  // the block rows read, as (first slot of the batch row's heads)·R + block row
  const reads = new Set<number>();
  for (let b = 0; b < p.B; b++) {
    const base = (l.batches > 1 ? b * p.H : 0) * R;
    const last = Math.min(Math.floor((p.qOffset[b] + p.N - 1) / l.block), R - 1);
    for (let rb = Math.floor(p.qOffset[b] / l.block); rb <= last; rb++) reads.add(base + rb);
  }
  const key = `${want}:${[...reads].join(',')}`;
  let byKey = packCache.get(l);
  const hit = byKey?.get(key);
  if (hit !== undefined) return hit;
  if (!byKey) packCache.set(l, (byKey = new Map()));
  // row i + h·R is head h's copy of read i
  const shares = (g: number) => [...reads].every((i) => {
    for (let h0 = 0; h0 < p.H; h0 += g) {
      for (let h = h0 + 1; h < h0 + g; h++) if (!l.sameRow(i + h0 * R, i + h * R)) return false;
    }
    return true;
  });
  let pack = want;
  while (pack > 1 && !shares(pack)) {
    let g = pack - 1;
    while (pack % g !== 0) g--;
    pack = g;
  }
  byKey.set(key, pack);
  return pack;
}

/**
 * Encodes the split and the merge: out [B·H·N·d4 vec4] and the lse of every row at stats[0 ..).
 * Chunks: the kept blocks a row can read below Nk, split so that about TARGET_WORKGROUPS run.
 */
export function encodeAttentionDecode(
  rec: Recorder,
  p: AttentionProblem<OperandData>,
  flags: AttnFlags,
  inp: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; tables: RowTables; bias: BiasBuffer; d4: number; half: boolean },
  out: GPUBuffer,
  stats: GPUBuffer,
): void {
  const { d4, tables, bias } = inp;
  const l = layoutDims(p);
  const block = l.block;
  const pack = decodePack(p);
  // a block row holds at most min(N, block) of a head's rows, and the rows span at most `slots` block rows
  const NR = 2 ** Math.ceil(Math.log2(pack * Math.min(p.N, block)));
  const slots = Math.ceil((p.N - 1) / block) + 1;
  const rows = p.B * p.H * p.N;
  const reach = Math.min(l.maxRowBlocks(), Math.ceil(p.Nk / block));
  const lists = p.B * (p.H / pack) * slots;
  const wanted = Math.max(1, Math.min(reach, Math.ceil(TARGET_WORKGROUPS / lists)));
  const chunkLen = Math.max(Math.ceil(reach / wanted), Math.ceil(WG / block), 1);
  const chunks = Math.max(1, Math.ceil(reach / chunkLen));
  const po = rec.output('decode partial out', rows * chunks * d4 * 16);
  const pl = rec.output('decode partial lse', rows * chunks * 4);
  const uniforms: UniformValues = {
    heads: p.H, kvHeads: p.Hkv, pack, n: p.N, nk: p.Nk, kvs: p.kvStride, d4, rows: l.rows, lbat: l.batches > 1 ? 1 : 0,
    slots, chunks, chunkLen, scale: p.scale, ptrOff: tables.kvPtr, idxOff: tables.kvIndices,
    rpeOff: bias.rpeOff, kpmOff: bias.kpmOff, amOff: bias.amOff, offOff: bias.offOff,
  };
  rec.dispatch(new AttentionDecodeProgram(block, flags, NR, d4, inp.half), [inp.q, inp.k, inp.v, tables.buffer, bias.buffer, po, pl], uniforms, lists * chunks);
  rec.dispatch(new AttentionDecodeMergeProgram(inp.half), [po, pl, out, stats], { chunks, d4 }, rows);
}
