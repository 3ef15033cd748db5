// Fused block-sparse attention forward, FlashAttention-style: a workgroup owns BR query rows of one
// block row and walks the kept key blocks of that row (kvPtr/kvIndices), BC keys at a time:
//   S = Q·Kᵀ (register tiles over workgroup-staged Qᵀ and Kᵀ), scale + bias + masks,
//   running max m and sum l per row (online softmax), O = O·α + P·V with P staged as Pᵀ.
// Scores never reach memory; the log-sum-exp m + log l of each row is kept for the backward pass.
import type { AttentionLseData, AttentionProblem, OperandData } from '../src/backend.js';
import {
  attentionInputBindings,
  attnFlags,
  attnUniformValues,
  activeQueryRows,
  biasFn,
  chooseTile,
  chunkLoop,
  decodeWorkgroup,
  colOf,
  forOut,
  forRows,
  forTile,
  hasBias,
  layoutDims,
  loadTransposed,
  outerStep,
  range,
  rowOf,
  rowExpr,
  rowsStep,
  qIdx,
  qValid,
  sourceAt,
  stagePad,
  storeTileT,
  stored,
  TiledAttentionProgram,
  C4,
  elemBytes,
  vec4Elem,
  type AttnFlags,
  type AttnTile,
  type RowMap,
  type Source,
} from './attention-common.js';
import { isHalf, residentBuffer } from './resident.js';
import { residentLayoutTables } from './resident-layout.js';
import { mmaForwardBlocker, mmaForwardDispatch } from './attention-forward-mma.js';
import { encodeAttentionDecode, takesDecodePath } from './attention-decode.js';
import { MASKED, padColumns, THRESH, unpadColumns, upload, uploadBias, type BiasBuffer, type LayoutTables, type RowTables } from './buffers.js';
import type { GpuContext, Recorder } from './context.js';
import type { BindingSpec, Program, UniformValues } from './program.js';

export class AttentionForwardProgram extends TiledAttentionProgram {
  readonly name = 'AttentionForwardProgram';
  readonly bindings: readonly BindingSpec[];
  override readonly subgroups: boolean;

  /**
   * `dChunks`: head-dim chunks of DK (sizes the resident Qᵀ; 0 when Q is not resident). `half`:
   * q, k, v and out in f16 (shader-f16), widened at the loads; everything else as in f32.
   */
  constructor(
    block: number,
    tile: AttnTile,
    flags: AttnFlags,
    useSubgroups: boolean,
    readonly dChunks: number,
    half = false,
  ) {
    super(block, tile, flags, `/sg${+useSubgroups}/qc${tile.qResident ? dChunks : 0}`, half);
    this.subgroups = useSubgroups;
    const e = vec4Elem(half);
    this.bindings = [
      ...attentionInputBindings(e),
      { name: 'out', access: 'read_write', elem: e },
      { name: 'stats', access: 'read_write', elem: 'f32' },
    ];
  }

  /**
   * Register-prefetched forward: each staged chunk (Qᵀ/Kᵀ head-dim chunks, then the V rows) is
   * fetched into registers one phase ahead, so its global loads overlap the previous phase's
   * products; Q/K and V share one staging array; transposed stages are padded against bank
   * conflicts; scores live in the log2 domain (exp2, log2(e) folded into the scale).
   */
  body(): string {
    const t = this.tile;
    const f = this.flags;
    const WG = t.TX * t.TY;
    const BQ4 = t.BR / 4;
    const BK4 = t.BC / 4;
    const DK4 = t.DK / 4;
    const D4X = t.OC * t.TX;
    const CG = t.RN / 4;
    const PAD = stagePad(DK4);
    const qChunk = t.qResident ? 0 : t.DK * BQ4 + DK4 * PAD;
    const kChunk = t.DK * BK4 + DK4 * PAD;
    const stLen = Math.max(qChunk + kChunk, t.VK * D4X);
    const bias = hasBias(f);
    const sg = this.subgroups;
    const allMax = (ri: number): string =>
      range(CG)
        .map((c) => `max(max(s${ri}_${c}.x, s${ri}_${c}.y), max(s${ri}_${c}.z, s${ri}_${c}.w))`)
        .reduce((a, b) => `max(${a}, ${b})`);
    // Row reductions over the TX threads that share a row: subgroup shuffles when the probe found
    // lanes laid out linearly, else through workgroup memory.
    const reduce = (name: string, op: 'max' | 'add'): string => {
      if (sg) {
        const lines: string[] = [];
        for (let s = 1; s < t.TX; s *= 2) {
          lines.push(
            forRows(t, (ri) =>
              op === 'max'
                ? `${name}${ri} = max(${name}${ri}, subgroupShuffleXor(${name}${ri}, ${s}u));`
                : `${name}${ri} = ${name}${ri} + subgroupShuffleXor(${name}${ri}, ${s}u);`,
            ),
          );
        }
        return lines.join('\n      ');
      }
      const fold = (ri: number): string =>
        range(t.TX)
          .map((x) => `red[(${rowOf(t, ri)}) * ${t.TX}u + ${x}u]`)
          .reduce((a, b) => (op === 'max' ? `max(${a}, ${b})` : `${a} + ${b}`));
      return [
        forRows(t, (ri) => `red[(${rowOf(t, ri)}) * ${t.TX}u + tx] = ${name}${ri};`),
        'workgroupBarrier();',
        forRows(t, (ri) => `${name}${ri} = ${fold(ri)};`),
      ].join('\n      ');
    };
    const loop = chunkLoop(this.block, t, 'kv', f);
    const gen = f.general;
    // general: the tile's rows are absolute positions q0 + rr; q's row is their query index
    const qRows: RowMap = gen ? (rr) => `rowBase + ${qIdx(`q0 + ${rr}`)}` : 'rowBase + q0';
    const nk = gen ? 'u.nk' : 'u.n';
    const sq = t.qResident ? null : stagedTransposed('fq', 'st', '0u', this.src('q'), qRows, t.BR, DK4, WG, !t.dkExact, PAD);
    const sk = stagedTransposed('fk', 'st', `${qChunk}u`, this.src('k'), (rr) => `kvBase + ${loop.row(rr)}`, t.BC, DK4, WG, !t.dkExact, PAD);
    const sv = stagedRows('fv', 'st', '0u', this.src('v'), (rr) => `kvBase + ${loop.row(rr)}`, t.VK, D4X, WG, !t.ocExact);
    const fetchQK = (d0: string) => `${sq ? sq.fetch(d0) : ''}\n        ${sk.fetch(d0)}`;
    const maskLines = forTile(t, (ri, _g, _e, c) =>
      range(4)
        .map((ff) => {
          const i = `q0 + ${rowOf(t, ri)}`;
          const scaled = bias
            ? `(s${ri}_${c}.${C4[ff]} * u.scale + biasAt(bh, b, ${gen ? qIdx(i) : i}, min(j, ${nk} - 1u))) * LOG2E`
            : `s${ri}_${c}.${C4[ff]} * sc`;
          const lines = [`{ let j = ${loop.key(colOf(t, c, ff))};`, `  var sv = ${scaled};`];
          if (loop.gather || gen) lines.push(`  sv = select(sv, MASKED, j >= ${nk});`);
          if (f.causal) lines.push(`  sv = select(sv, MASKED, j > ${i});`);
          lines.push(`  s${ri}_${c}.${C4[ff]} = select(MASKED, sv, sv > THRESH); }`);
          return lines.join('\n        ');
        })
        .join('\n        '),
    );
    const scaleOnly = forTile(t, (ri, _g, _e, c) => `s${ri}_${c} = s${ri}_${c} * sc;`);
    const aRow = t.qResident ? `(d0 * 4u + dd) * BQ4` : `dd * BQ4 + (dd / 4u) * ${PAD}u`;
    return `
const BLK = ${this.block}u;
const BQ = ${t.BR}u;
const BK = ${t.BC}u;
const BR = BQ;
const BC = BK;
const BQ4 = ${BQ4}u;
const BK4 = ${BK4}u;
const TX = ${t.TX}u;
const DK4 = ${DK4}u;
const VK = ${t.VK}u;
const D4X = ${D4X}u;
const MASKED = ${MASKED.toExponential()};
const THRESH = ${THRESH.toExponential()};
const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;
${t.qResident ? `var<workgroup> qs: array<vec4<f32>, ${this.dChunks * t.DK * BQ4}>;` : ''}
var<workgroup> st: array<vec4<f32>, ${stLen}>;
var<workgroup> ps: array<vec4<f32>, ${t.BC * BQ4}>;
${sg ? '' : `var<workgroup> red: array<f32, ${t.BR * t.TX}>;`}
${biasFn(f)}
${loop.decls}

fn run(wg: u32, lid: u32${sg ? ', sgid: u32' : ''}) {
  ${decodeWorkgroup('qt', 'r', gen)}
  let tx = lid % TX;
  let ty = lid / TX;
  let q0 = r * BLK + qt * BQ;
  ${gen ? '// a tile holding none of the rows of q (another batch row\'s offset) does nothing\n  if (q0 + BQ <= qoff || q0 >= qoff + u.n) { return; }' : ''}
  let rowBase = bh * u.n;
  let sc = u.scale * LOG2E;
  ${forRows(t, (ri) => `var m${ri} = MASKED;\n  var l${ri} = 0.0;`)}
  ${forOut(t, (ri, _g, _e, k) => `var o${ri}_${k} = vec4<f32>(0.0);`)}
  ${sq ? sq.decl : ''}
  ${sk.decl}
  ${sv.decl}
  ${t.qResident ? loadTransposed('qs', '0u', this.src('q'), qRows, t.BR, '0u', this.dChunks * DK4, WG, true) : ''}
  ${loop.open}
      ${forTile(t, (ri, _g, _e, c) => `var s${ri}_${c} = vec4<f32>(0.0);`)}
      ${fetchQK('0u')}
      for (var d0 = 0u; d0 < u.d4; d0 += DK4) {
        workgroupBarrier();
        ${sq ? sq.store : ''}
        ${sk.store}
        workgroupBarrier();
        if (d0 + DK4 < u.d4) {
          ${fetchQK('d0 + DK4')}
        }
        for (var dd = 0u; dd < ${t.DK}u; dd++) {
          ${outerStep(t, 's', t.qResident ? 'qs' : 'st', aRow, 'st', `${qChunk}u + dd * BK4 + (dd / 4u) * ${PAD}u`, '')}
        }
      }
      ${sv.fetch('0u')}
      if (needMask) {
        ${maskLines}
      } else {
        ${scaleOnly}
      }
      ${forRows(t, (ri) => `var mx${ri} = ${allMax(ri)};`)}
      ${reduce('mx', 'max')}
      ${forRows(t, (ri) => `let mn${ri} = max(m${ri}, mx${ri});\n      let al${ri} = exp2(m${ri} - mn${ri});\n      m${ri} = mn${ri};\n      l${ri} = l${ri} * al${ri};`)}
      ${forOut(t, (ri, _g, _e, k) => `o${ri}_${k} = o${ri}_${k} * al${ri};`)}
      if (needMask) {
        ${forTile(t, (ri, _g, _e, c) => `s${ri}_${c} = select(vec4<f32>(0.0), exp2(s${ri}_${c} - vec4<f32>(mn${ri})), s${ri}_${c} > vec4<f32>(THRESH));`)}
      } else {
        ${forTile(t, (ri, _g, _e, c) => `s${ri}_${c} = exp2(s${ri}_${c} - vec4<f32>(mn${ri}));`)}
      }
      ${forTile(t, (ri, _g, _e, c) => `l${ri} = l${ri} + dot(s${ri}_${c}, vec4<f32>(1.0));`)}
      ${storeTileT(t, 'ps', 's')}
      for (var v0 = 0u; v0 < BK; v0 += VK) {
        workgroupBarrier();
        ${sv.store}
        workgroupBarrier();
        if (v0 + VK < BK) {
          ${sv.fetch('v0 + VK')}
        }
        for (var jj = 0u; jj < VK; jj++) {
          ${rowsStep(t, 'o', 'ps', '(v0 + jj) * BQ4', 'st', 'jj * D4X', '')}
        }
      }
  ${loop.close}
  workgroupBarrier();
  ${reduce('l', 'add')}
  ${forRows(t, (ri) => `let inv${ri} = select(0.0, 1.0 / max(l${ri}, 1e-30), l${ri} > 0.0);\n  let row${ri} = rowBase + ${gen ? qIdx(`q0 + ${rowOf(t, ri)}`) : `q0 + ${rowOf(t, ri)}`};`)}
  ${forOut(t, (ri, _g, _e, k) => {
    const st = `out[row${ri} * u.d4 + tx + ${k * t.TX}u] = ${stored(`o${ri}_${k} * inv${ri}`, this.half)};`;
    const conds = [...(t.ocExact ? [] : [`tx + ${k * t.TX}u < u.d4`]), ...(gen ? [qValid(`q0 + ${rowOf(t, ri)}`)] : [])];
    return conds.length ? `if (${conds.join(' && ')}) { ${st} }` : st;
  })}
  if (tx == 0u) {
    ${forRows(t, (ri) => {
      const st = `stats[u.lseOff + row${ri}] = select(MASKED, m${ri} * LN2 + log(max(l${ri}, 1e-30)), l${ri} > 0.0);`;
      return gen ? `if (${qValid(`q0 + ${rowOf(t, ri)}`)}) { ${st} }` : st;
    })}
  }
}
`;
  }
}

/** WGSL for staging a tile through registers: `fetch` (global → registers, issued early, so the
 * loads overlap the compute that follows) and `store` (registers → workgroup memory). */
interface Staged {
  readonly decl: string;
  readonly fetch: (d0: string) => string;
  readonly store: string;
}

/**
 * Rows row0(rr), rr < nRows, × vec4 columns [d0, d0 + chunk4) of `src`, transposed into `dst` as
 * loadTransposed does, plus `pad` vec4 after every 4 head-dim rows: element (d, rr) at
 * dst[base + d·nRows/4 + (d/4)·pad + rr/4][rr % 4].
 */
function stagedTransposed(name: string, dst: string, base: string, src: Source, row0: RowMap, nRows: number, chunk4: number, wg: number, guard: boolean, pad: number): Staged {
  const total = nRows * chunk4;
  const n = Math.ceil(total / wg);
  const rows4 = nRows / 4;
  const partial = total % wg !== 0;
  const head = (i: number) => `let idx = lid + ${i * wg}u;\n        let rr = idx / ${chunk4}u;\n        let dv = idx % ${chunk4}u;`;
  const within = (i: number, body: string) => (partial ? `if (lid + ${i * wg}u < ${total}u) { ${body} }` : body);
  return {
    decl: range(n).map((i) => `var ${name}${i} = vec4<f32>(0.0);`).join('\n  '),
    fetch: (d0) =>
      range(n)
        .map((i) => {
          const load = sourceAt(src, `(${rowExpr(row0, 'rr')}) * u.d4 + ${d0} + dv`);
          const body = guard ? `${name}${i} = vec4<f32>(0.0); if (${d0} + dv < u.d4) { ${name}${i} = ${load}; }` : `${name}${i} = ${load};`;
          return `{ ${head(i)}\n        ${within(i, body)} }`;
        })
        .join('\n        '),
    store: range(n)
      .map((i) => {
        const body = `let at = ${base} + dv * ${4 * rows4 + pad}u + rr / 4u;
        let comp = rr % 4u;
        ${dst}[at][comp] = ${name}${i}.x;
        ${dst}[at + ${rows4}u][comp] = ${name}${i}.y;
        ${dst}[at + ${2 * rows4}u][comp] = ${name}${i}.z;
        ${dst}[at + ${3 * rows4}u][comp] = ${name}${i}.w;`;
        return `{ ${head(i)}\n        ${within(i, body)} }`;
      })
      .join('\n        '),
  };
}

/** Rows row0(v0 + rr), rr < nRows, × d4x vec4 columns of `src`, as loadRows: dst[base + rr·d4x + cv]. */
function stagedRows(name: string, dst: string, base: string, src: Source, row0: (rr: string) => string, nRows: number, d4x: number, wg: number, guard: boolean): Staged {
  const total = nRows * d4x;
  const n = Math.ceil(total / wg);
  const partial = total % wg !== 0;
  const within = (i: number, body: string) => (partial ? `if (lid + ${i * wg}u < ${total}u) { ${body} }` : body);
  return {
    decl: range(n).map((i) => `var ${name}${i} = vec4<f32>(0.0);`).join('\n  '),
    fetch: (v0) =>
      range(n)
        .map((i) => {
          const load = sourceAt(src, `(${row0(`${v0} + rr`)}) * u.d4 + cv`);
          const body = guard ? `${name}${i} = vec4<f32>(0.0); if (cv < u.d4) { ${name}${i} = ${load}; }` : `${name}${i} = ${load};`;
          return `{ let idx = lid + ${i * wg}u;\n        let rr = idx / ${d4x}u;\n        let cv = idx % ${d4x}u;\n        ${within(i, body)} }`;
        })
        .join('\n        '),
    store: range(n)
      .map((i) => within(i, `${dst}[${base} + lid + ${i * wg}u] = ${name}${i};`))
      .join('\n        '),
  };
}

export { attnFlags };

/** `T`: the layout tables the kernels read (the decode kernels only the rows': RowTables). */
export interface AttentionInputs<T extends RowTables = LayoutTables> {
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly tables: T;
  readonly bias: BiasBuffer;
  /** Head dim in vec4 (D padded to a multiple of 4). */
  readonly d4: number;
  /** q, k, v (and dout) hold f16 (half-float operands, shader-f16): the half programs run, results in f16. */
  readonly half: boolean;
}

/**
 * Uploads q, k, v (padded to vec4 rows; half-float bits as f16) and the score bias, registering
 * them with the recorder; an operand already on the device (a GpuResident) is bound as it is.
 */
export function uploadAttentionInputs(ctx: GpuContext, rec: Recorder, p: AttentionProblem<OperandData>): AttentionInputs {
  return { ...uploadOperands(ctx, rec, p), tables: p.residentLayout ? residentLayoutTables(p.residentLayout) : ctx.layouts.get(p.layout) };
}

/** uploadAttentionInputs with only the row tables of a host layout (the decode kernels'). */
function uploadDecodeInputs(ctx: GpuContext, rec: Recorder, p: AttentionProblem<OperandData>): AttentionInputs<RowTables> {
  return { ...uploadOperands(ctx, rec, p), tables: p.residentLayout ? residentLayoutTables(p.residentLayout) : ctx.layouts.rowTables(p.layout) };
}

function uploadOperands(ctx: GpuContext, rec: Recorder, p: AttentionProblem<OperandData>): Omit<AttentionInputs, 'tables'> {
  const d4 = Math.ceil(p.D / 4);
  const up = (label: string, x: OperandData, rows: number): GPUBuffer =>
    residentBuffer(x) ?? rec.own(upload(ctx.device, ctx.limits, label, padColumns(x as Float32Array | Uint16Array, rows, p.D, d4 * 4)));
  const bias = uploadBias((label, parts) => rec.input(label, parts), p, attnFlags(p).general ? p.qOffset : undefined);
  const kvRows = p.B * p.Hkv * p.kvStride;
  return {
    q: up('q', p.q, p.B * p.H * p.N), k: up('k', p.k, kvRows), v: up('v', p.v, kvRows), bias, d4, half: isHalf(p.q),
  };
}

const TALL_SLOTS = 256;

/** Self-attention: whether the longest row is no longer than the work spread over TALL_SLOTS workgroups. */
function tallPays(p: AttentionProblem<OperandData>): boolean {
  const bal = p.layout.causalTables(p.causal).rowBalance;
  const totalBlocks = bal.mean * p.H * (p.N / p.layout.block) * p.B;
  return bal.max * TALL_SLOTS <= totalBlocks;
}

/** A forward kernel as dispatched: the program, its uniforms and its workgroup count. */
export interface ForwardDispatch {
  readonly program: Program;
  readonly uniforms: UniformValues;
  readonly workgroups: number;
}

/**
 * The one place the prefill forward's kernel is chosen (the backward's recomputation included):
 * for half-float operands (inp.half) the matrix-unit program where mmaForwardBlocker allows it,
 * else the register-tile program, in f32 or its f16 variant (shader-f16 loads and stores, f32
 * products and softmax). Its bindings are q, k, v, lut, bias, out (f16 where inp.half), stats.
 */
export function forwardDispatch(ctx: GpuContext, p: AttentionProblem<OperandData>, inp: AttentionInputs): ForwardDispatch {
  // half floats on the matrix units where the device and the problem allow (mmaForwardBlocker says why not)
  if (inp.half && !ctx.tileOverrides.forward && mmaForwardBlocker(ctx, p) === null) return mmaForwardDispatch(ctx, p, inp, true);
  // Subgroup shuffles reduce across the TX ≤ 16 threads of a row (ctx.subgroupSize is 0 unless
  // the startup probe found subgroups of at least 16 lanes laid out linearly).
  let useSg = ctx.subgroupSize >= 16;
  // The tall tile pays off when the longest row (which one workgroup walks alone) is no longer than
  // the total work spread over the workgroups that run at once (TALL_SLOTS, about 2 per SM on an
  // H100); with longest-first scheduling the rest then packs behind it.
  const flags = attnFlags(p);
  const l = layoutDims(p);
  const preferTall = !flags.general && tallPays(p);
  const pick = (sg: boolean) =>
    chooseTile(
      'forward', l.block, inp.d4, ctx.limits.maxComputeWorkgroupStorageSize, ctx.limits.maxComputeInvocationsPerWorkgroup,
      sg, ctx.tileOverrides.forward, preferTall,
    );
  let tile = pick(useSg);
  // A row's TX threads must share one subgroup (a forced tile may be wider).
  if (useSg && tile.TX > ctx.subgroupSize) {
    useSg = false;
    tile = pick(false);
  }
  const dChunks = Math.ceil(inp.d4 / (tile.DK / 4));
  const R = flags.general ? l.rows : p.N / l.block;
  // queries at an offset (chunked prefill) fill only the block rows from it: dispatch those alone
  const active = activeQueryRows(p, l.block, R);
  return {
    program: new AttentionForwardProgram(l.block, tile, flags, useSg, dChunks, inp.half),
    uniforms: attnUniformValues(p, inp.d4, tile, inp.tables, inp.bias, false, active),
    workgroups: p.B * p.H * (active?.span ?? R) * (l.block / tile.BR),
  };
}

/** The output buffer of q's rows: [rows·d4] vec4 of f32, or of f16 for half-float operands. */
export const outputBytes = (rows: number, inp: { d4: number; half: boolean }): number => rows * inp.d4 * 4 * elemBytes(inp.half);

/** Encodes the forward pass; returns the output [BH·N·d4 vec4] and stats ([lse | delta], 2·BH·N) buffers. */
export function encodeAttentionForward(
  ctx: GpuContext,
  rec: Recorder,
  p: AttentionProblem<OperandData>,
  inp: AttentionInputs,
): { out: GPUBuffer; stats: GPUBuffer } {
  const rows = p.B * p.H * p.N;
  const d = forwardDispatch(ctx, p, inp);
  const out = rec.output('attention out', outputBytes(rows, inp));
  const stats = rec.output('attention stats (lse | delta)', 2 * rows * 4);
  rec.dispatch(d.program, [inp.q, inp.k, inp.v, inp.tables.buffer, inp.bias.buffer, out, stats], d.uniforms, d.workgroups);
  return { out, stats };
}

export async function attentionForward(ctx: GpuContext, p: AttentionProblem<OperandData>): Promise<OperandData> {
  return (await forward(ctx, p, false)).out;
}

/** The forward and each row's log-sum-exp ([B, H, N], natural log, −∞ for a row with nothing left). */
export async function attentionForwardWithLse(ctx: GpuContext, p: AttentionProblem<OperandData>): Promise<AttentionLseData> {
  const { out, lse } = await forward(ctx, p, true);
  return { out, lse: lse! };
}

/** A few query rows (the forward alone; the backward keeps the prefill programs): split-KV. */
function encodeDecode(rec: Recorder, p: AttentionProblem<OperandData>, inp: AttentionInputs<RowTables>): { out: GPUBuffer; stats: GPUBuffer } {
  const rows = p.B * p.H * p.N;
  const out = rec.output('attention out', outputBytes(rows, inp));
  const stats = rec.output('attention stats (lse | delta)', 2 * rows * 4);
  encodeAttentionDecode(rec, p, attnFlags(p), inp, out, stats);
  return { out, stats };
}

async function forward(ctx: GpuContext, p: AttentionProblem<OperandData>, withLse: boolean): Promise<{ out: OperandData; lse: Float32Array | null }> {
  const rec = ctx.recorder('attention');
  let inp: AttentionInputs<RowTables>;
  let encoded: { out: GPUBuffer; stats: GPUBuffer };
  if (takesDecodePath(p, attnFlags(p))) {
    const d = uploadDecodeInputs(ctx, rec, p);
    [inp, encoded] = [d, encodeDecode(rec, p, d)];
  } else {
    const f = uploadAttentionInputs(ctx, rec, p);
    [inp, encoded] = [f, encodeAttentionForward(ctx, rec, p, f)];
  }
  const rows = p.B * p.H * p.N;
  const { out, stats } = encoded;
  // the stats buffer starts with the lse of every row (then delta, which the forward leaves unset)
  const lseRead = withLse ? [{ buffer: stats, bytes: rows * 4 }] : [];
  if (p.keepOnDevice) {
    rec.disown(out);
    let data: ArrayBuffer[];
    try {
      data = await rec.run(lseRead);
    } catch (e) {
      out.destroy();
      throw e;
    }
    return { out: ctx.persist(out, rows * p.D, p.D, inp.half ? 'float16' : 'float32'), lse: withLse ? lseFromStats(data[0]) : null };
  }
  const [data, lse] = await rec.run([{ buffer: out, bytes: outputBytes(rows, inp) }, ...lseRead]);
  const values = inp.half ? new Uint16Array(data) : new Float32Array(data);
  return { out: unpadColumns(values, rows, p.D, inp.d4 * 4), lse: withLse ? lseFromStats(lse) : null };
}

/** The kernels' lse (natural log already: m·ln 2 + ln l) with the MASKED sentinel of an empty row as −∞. */
function lseFromStats(data: ArrayBuffer): Float32Array {
  const lse = new Float32Array(data);
  for (let i = 0; i < lse.length; i++) if (!(lse[i] > THRESH)) lse[i] = -Infinity;
  return lse;
}
