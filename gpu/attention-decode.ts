// Split-KV attention forward for a few query rows (decode, flash-decoding): the prefill programs
// give one workgroup a row tile and walk its kept blocks alone, so with Nq ≤ 16 only B·H·(block
// rows) workgroups run. Here workgroup (b, h, query block row, chunk) takes one chunk of that
// block row's kept blocks, computes the scores of its (at most 16) query rows against them with
// an online softmax, and writes the chunk's normalised output and log-sum-exp to a scratch buffer;
// AttentionDecodeMergeProgram (attention-decode-merge.ts) then merges the chunks of each row by
// their lse. Each workgroup finds its rows and chunk from the layout tables and the query offsets
// on the GPU: the host writes only uniforms, whatever the cache's length or the layout's size.
import type { AttentionProblem, OperandData } from '../src/backend.js';
import { attentionInputBindings, biasFn, flagsKey, layoutDims, operand, range, sourceAt, vec4Elem, type AttnFlags } from './attention-common.js';
import { MASKED, THRESH, type BiasBuffer, type RowTables } from './buffers.js';
import type { Recorder } from './context.js';
import { AttentionDecodeMergeProgram } from './attention-decode-merge.js';
import { Program, type BindingSpec, type UniformValues } from './program.js';

/** The most query rows the split path takes: a workgroup holds every row of one block row. */
export const DECODE_MAX_ROWS = 16;
/** Threads per workgroup, and keys per step (one key per thread for the scores). */
const WG = 64;
/** Workgroups to aim for: enough to fill a large GPU several times over. */
const TARGET_WORKGROUPS = 1024;

export const DECODE_UNIFORMS = [
  ['heads', 'u32'],
  ['kvHeads', 'u32'],
  /** Query rows Nq, keys Nk, rows between kv heads in k, v (Nk, or a KV cache's capacity). */
  ['n', 'u32'],
  ['nk', 'u32'],
  ['kvs', 'u32'],
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
 * Compile-time: the block, the flags, NR (query rows per workgroup, a power of two ≥ Nq) and the
 * split of the output columns: TC threads per row across columns, RG row groups, so a thread holds
 * ceil(NR / RG) rows × ceil(d4 / TC) vec4 of the output. `half`: q, k, v in f16 (a KV cache of
 * dtype float16), widened at the loads; the partial outputs stay f32.
 */
export class AttentionDecodeProgram extends Program {
  readonly name = 'AttentionDecodeProgram';
  readonly bindings: readonly BindingSpec[];
  override readonly half: boolean;
  readonly uniforms = DECODE_UNIFORMS;
  readonly workgroupSize = WG;
  readonly shaderKey: string;
  private readonly TC: number;
  private readonly RG: number;
  private readonly CPT: number;

  constructor(
    readonly block: number,
    readonly flags: AttnFlags,
    readonly NR: number,
    readonly d4: number,
    half = false,
  ) {
    super();
    this.half = half;
    this.TC = Math.min(WG, d4);
    this.RG = Math.min(NR, Math.floor(WG / this.TC));
    this.CPT = Math.ceil(d4 / this.TC);
    this.shaderKey = `b${block}/${flagsKey(flags)}/nr${NR}/d${d4}${half ? '/f16' : ''}`;
    const e = vec4Elem(half);
    this.bindings = [
      ...attentionInputBindings(e),
      { name: 'po', access: 'read_write', elem: 'vec4<f32>' },
      { name: 'pl', access: 'read_write', elem: 'f32' },
    ];
  }

  body(): string {
    const { NR, TC, RG, CPT } = this;
    const f = this.flags;
    const [q, k, v] = ['q', 'k', 'v'].map((name) => operand(name, this.half));
    const RPT = Math.ceil(NR / RG);
    const bias = f.hasRpe || f.hasKpm || f.hasAm;
    const colExact = CPT * TC === this.d4;
    const rowsOf = range(RPT).map((a) => ({ a, r: `rg + ${a * RG}u`, guard: (a + 1) * RG > NR }));
    const scaled = bias ? '(acc * u.scale + biasAt(bh, b, i0 + r, min(key, u.nk - 1u))) * LOG2E' : 'acc * sc';
    const accDecl = rowsOf.flatMap(({ a }) => range(CPT).map((c) => `var o${a}_${c} = vec4<f32>(0.0);`)).join('\n  ');
    const rescale = rowsOf
      .flatMap(({ a, r, guard }) => range(CPT).map((c) => `o${a}_${c} = o${a}_${c} * al[${guard ? `min(${r}, NRM1)` : r}];`))
      .join('\n        ');
    const vLoads = range(CPT)
      .map((c) => {
        const col = `cg + ${c * TC}u`;
        return colExact || c < CPT - 1
          ? `let w${c} = ${sourceAt(v, `vr + ${col}`)};`
          : `var w${c} = vec4<f32>(0.0); if (${col} < u.d4) { w${c} = ${sourceAt(v, `vr + ${col}`)}; }`;
      })
      .join('\n          ');
    const pvFma = rowsOf
      .flatMap(({ a, r, guard }) => {
        const p = `let p${a} = ps[(${guard ? `min(${r}, NRM1)` : r}) * TK4 + j / 4u][j % 4u];`;
        return [p, ...range(CPT).map((c) => `o${a}_${c} = fma(vec4<f32>(p${a}), w${c}, o${a}_${c});`)];
      })
      .join('\n          ');
    const stores = rowsOf
      .flatMap(({ a, r }) =>
        range(CPT).map((c) => {
          const col = `cg + ${c * TC}u`;
          const conds = [`${r} < nr`, ...(colExact ? [] : [`${col} < u.d4`])];
          return `if (${conds.join(' && ')}) { po[((rowBase + ${r}) * u.chunks + c) * u.d4 + ${col}] = o${a}_${c} * inv[${r}]; }`;
        }),
      )
      .join('\n    ');
    return `
const BLK = ${this.block}u;
const TK = ${WG}u;
const TK4 = ${WG / 4}u;
const NRM1 = ${NR - 1}u;
const MASKED = ${MASKED.toExponential()};
const THRESH = ${THRESH.toExponential()};
const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;
// scores, then P, of row r and step key j at [r·TK/4 + j/4][j % 4]: vec4 elements, since lavapipe's
// compile time grows with the element count of a workgroup array
var<workgroup> ps: array<vec4<f32>, ${(NR * WG) / 4}>;
var<workgroup> keys: array<u32, ${WG}>;
var<workgroup> al: array<f32, ${NR}>;
var<workgroup> inv: array<f32, ${NR}>;
${biasFn({ ...f, general: true })}

fn run(wg: u32, lid: u32) {
  let c = wg % u.chunks;
  let t1 = wg / u.chunks;
  let s = t1 % u.slots;
  let bh = t1 / u.slots;
  let b = bh / u.heads;
  let h = bh % u.heads;
  let qoff = u32(bias[u.offOff + b]);
  // the rows of q in query block row rb: positions [lo, hi), query indices i0 ..
  let rb = qoff / BLK + s;
  let lo = max(rb * BLK, qoff);
  let hi = min(rb * BLK + BLK, qoff + u.n);
  if (lo >= hi || rb >= u.rows) { return; }
  let i0 = lo - qoff;
  let nr = hi - lo;
  let pos0 = lo;
  let rowBase = bh * u.n + i0;
  let list = select(h, bh, u.lbat == 1u) * u.rows + rb;
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
  let kvBase = (b * u.kvHeads + h / (u.heads / u.kvHeads)) * u.kvs;
  let sc = u.scale * LOG2E;
  let cg = lid % ${TC}u;
  let rg = lid / ${TC}u;
  var mrow = MASKED;
  var lrow = 0.0;
  ${accDecl}
  for (var l0 = 0u; l0 < nkeys; l0 += TK) {
    workgroupBarrier();
    {
      let l = l0 + lid;
      let valid0 = l < nkeys;
      var key = 0xffffffffu;
      if (valid0) { key = u32(lut[u.idxOff + ca + l / BLK]) * BLK + l % BLK; }
      let valid = valid0 && key < u.nk;
      let kr = min(key, u.nk - 1u);
      keys[lid] = kr;
      let krow = (kvBase + kr) * u.d4;
      // one row at a time (the key's row is re-read from cache): a loop, not NR unrolled rows,
      // keeps the program small (lavapipe compiles unrolled rows slowly)
      for (var r = 0u; r < nr; r++) {
        var sv = MASKED;
        if (valid) {
          let qrow = (rowBase + r) * u.d4;
          var acc = 0.0;
          for (var dv = 0u; dv < u.d4; dv++) { acc = acc + dot(${sourceAt(q, 'qrow + dv')}, ${sourceAt(k, 'krow + dv')}); }
          sv = ${scaled};
          ${f.causal ? 'sv = select(sv, MASKED, key > pos0 + r);' : ''}
        }
        ps[r * TK4 + lid / 4u][lid % 4u] = select(MASKED, sv, sv > THRESH);
      }
    }
    workgroupBarrier();
    if (lid < ${NR}u) {
      // row lid: the step's max, the rescale of what came before, P = exp2(S − m) in place
      var mx = MASKED;
      for (var j = 0u; j < TK; j++) { mx = max(mx, ps[lid * TK4 + j / 4u][j % 4u]); }
      let mn = max(mrow, mx);
      let a = exp2(mrow - mn);
      var sum = 0.0;
      for (var j = 0u; j < TK; j++) {
        let sv = ps[lid * TK4 + j / 4u][j % 4u];
        let p = select(0.0, exp2(sv - mn), sv > THRESH);
        ps[lid * TK4 + j / 4u][j % 4u] = p;
        sum = sum + p;
      }
      lrow = lrow * a + sum;
      mrow = mn;
      al[lid] = a;
    }
    workgroupBarrier();
    if (rg < ${RG}u) {
      ${rescale}
      let jn = min(TK, nkeys - l0);
      for (var j = 0u; j < jn; j++) {
        let vr = (kvBase + keys[j]) * u.d4;
        ${vLoads}
        ${pvFma}
      }
    }
  }
  if (lid < ${NR}u) {
    inv[lid] = select(0.0, 1.0 / max(lrow, 1e-30), lrow > 0.0);
    if (lid < nr) {
      pl[(rowBase + lid) * u.chunks + c] = select(MASKED, mrow * LN2 + log(max(lrow, 1e-30)), lrow > 0.0);
    }
  }
  workgroupBarrier();
  if (rg < ${RG}u) {
    ${stores}
  }
}
`;
  }
}

/** Whether the split path takes this call: beyond self-attention (so self-attention keeps its bits), few rows. */
export function takesDecodePath(p: AttentionProblem<OperandData>, flags: AttnFlags): boolean {
  return flags.general && p.N <= DECODE_MAX_ROWS;
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
  // a block row holds at most min(N, block) of the rows, and the rows span at most `slots` block rows
  const NR = 2 ** Math.ceil(Math.log2(Math.min(p.N, block)));
  const slots = Math.ceil((p.N - 1) / block) + 1;
  const rows = p.B * p.H * p.N;
  const reach = Math.min(l.maxRowBlocks(), Math.ceil(p.Nk / block));
  const lists = p.B * p.H * slots;
  const wanted = Math.max(1, Math.min(reach, Math.ceil(TARGET_WORKGROUPS / lists)));
  const chunkLen = Math.max(Math.ceil(reach / wanted), Math.ceil(WG / block), 1);
  const chunks = Math.max(1, Math.ceil(reach / chunkLen));
  const po = rec.output('decode partial out', rows * chunks * d4 * 16);
  const pl = rec.output('decode partial lse', rows * chunks * 4);
  const uniforms: UniformValues = {
    heads: p.H, kvHeads: p.Hkv, n: p.N, nk: p.Nk, kvs: p.kvStride, d4, rows: l.rows, lbat: l.batches > 1 ? 1 : 0,
    slots, chunks, chunkLen, scale: p.scale, ptrOff: tables.kvPtr, idxOff: tables.kvIndices,
    rpeOff: bias.rpeOff, kpmOff: bias.kpmOff, amOff: bias.amOff, offOff: bias.offOff,
  };
  rec.dispatch(new AttentionDecodeProgram(block, flags, NR, d4, inp.half), [inp.q, inp.k, inp.v, tables.buffer, bias.buffer, po, pl], uniforms, lists * chunks);
  rec.dispatch(new AttentionDecodeMergeProgram(inp.half), [po, pl, out, stats], { chunks, d4 }, rows);
}
