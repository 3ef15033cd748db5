// Fused block-sparse attention backward (FlashAttention-2's split): the forward runs again for O and
// the log-sum-exp, a pre-pass forms delta = rowsum(dO∘O), then
//   dQ: a workgroup per BR query rows walks the kept blocks of its block row (kv* tables) and
//       recomputes P = exp(s − lse), dS = P∘(dO·Vᵀ − delta)·scale, dQ += dS·K;
//   dK, dV: a workgroup per BR key rows walks the kept blocks of its block column (q* tables,
//       the transpose) and accumulates dV += Pᵀ·dO, dK += dSᵀ·Q.
// Each workgroup owns its output rows, so no atomics.
import type { AttentionBackwardProblem, AttentionGradientData, AttentionProblem, OperandData } from '../src/backend.js';
import {
  attnUniformValues,
  activeQueryRows,
  biasFn,
  C4,
  chooseTile,
  chunkLoop,
  decodeWorkgroup,
  groupedDecode,
  colOf,
  forOut,
  forRows,
  forTile,
  hasBias,
  loadRows,
  loadTransposed,
  outerStep,
  range,
  rowOf,
  rowsStep,
  qIdx,
  qValid,
  elemBytes,
  operand,
  sourceAt,
  stored,
  storeTileT,
  TiledAttentionProgram,
  vec4Elem,
  type AttnFlags,
  type AttnTile,
  type RowMap,
} from './attention-common.js';
import { attnFlags, encodeAttentionForward, outputBytes, uploadAttentionInputs, type AttentionInputs } from './attention-forward.js';
import { encodeMmaBackward, mmaBackwardBlocker, type MmaBackwardTile } from './attention-backward-mma.js';
import { MASKED, padColumns, THRESH, unpadColumns, upload } from './buffers.js';
import { residentBuffer } from './resident.js';
import type { GpuContext, Recorder } from './context.js';
import { Program, type BindingSpec } from './program.js';

const DELTA_WG = 64;

/** delta[row] = Σ_d dO[row, d]·O[row, d], one thread per row (`half`: O and dO in f16, summed in f32). */
export class AttentionDeltaProgram extends Program {
  readonly name = 'AttentionDeltaProgram';
  readonly shaderKey: string;
  readonly workgroupSize = DELTA_WG;
  readonly bindings: readonly BindingSpec[];
  override readonly half: boolean;
  constructor(half = false) {
    super();
    this.half = half;
    this.shaderKey = `wg${DELTA_WG}${half ? '/f16' : ''}`;
    this.bindings = [
      { name: 'o', access: 'read', elem: vec4Elem(half) },
      { name: 'dout', access: 'read', elem: vec4Elem(half) },
      { name: 'stats', access: 'read_write', elem: 'f32' },
    ];
  }
  readonly uniforms = [
    ['rowsTotal', 'u32'],
    ['d4', 'u32'],
    ['deltaOff', 'u32'],
  ] as const;

  body(): string {
    return `
fn run(wg: u32, lid: u32) {
  let row = wg * ${DELTA_WG}u + lid;
  if (row >= u.rowsTotal) { return; }
  var acc = 0.0;
  for (var c = 0u; c < u.d4; c++) {
    acc = acc + dot(${sourceAt(operand('o', this.half), 'row * u.d4 + c')}, ${sourceAt(operand('dout', this.half), 'row * u.d4 + c')});
  }
  stats[u.deltaOff + row] = acc;
}`;
  }
}

/** The gradient programs' bindings, then their output `out` (q, k, v, dout and out in f16 where `half`). */
function gradBindings(out: string, half: boolean): readonly BindingSpec[] {
  const e = vec4Elem(half);
  return [
    { name: 'q', access: 'read', elem: e },
    { name: 'k', access: 'read', elem: e },
    { name: 'v', access: 'read', elem: e },
    { name: 'dout', access: 'read', elem: e },
    { name: 'lut', access: 'read', elem: 'i32' },
    { name: 'bias', access: 'read', elem: 'f32' },
    { name: 'stats', access: 'read', elem: 'f32' },
    { name: out, access: 'read_write', elem: e },
  ];
}

function header(block: number, t: AttnTile): string {
  return `
const BLK = ${block}u;
const BR = ${t.BR}u;
const BC = ${t.BC}u;
const BR4 = ${t.BR / 4}u;
const BC4 = ${t.BC / 4}u;
const TX = ${t.TX}u;
const DK4 = ${t.DK / 4}u;
const VK = ${t.VK}u;
const D4X = ${t.OC * t.TX}u;
const MASKED = ${MASKED.toExponential()};
const THRESH = ${THRESH.toExponential()};`;
}

/** dQ over the row tables; the thread's rows are queries, its columns keys. */
export class AttentionDqProgram extends TiledAttentionProgram {
  readonly name = 'AttentionDqProgram';
  readonly bindings: readonly BindingSpec[];

  constructor(block: number, tile: AttnTile, flags: AttnFlags, half = false) {
    super(block, tile, flags, '', half);
    this.bindings = gradBindings('dq', half);
  }

  body(): string {
    const t = this.tile;
    const f = this.flags;
    const WG = t.TX * t.TY;
    const BQ4 = t.BR / 4;
    const BK4 = t.BC / 4;
    const DK4 = t.DK / 4;
    const D4X = t.OC * t.TX;
    const QS = 0;
    const KS = t.DK * BQ4;
    const GS = KS + t.DK * BK4;
    const VS = GS + t.DK * BQ4;
    const stLen = Math.max(VS + t.DK * BK4, t.VK * D4X);
    const bias = hasBias(f);
    const loop = chunkLoop(this.block, t, 'kv', f);
    const gen = f.general;
    const nk = gen ? 'u.nk' : 'u.n';
    const qi = (pos: string): string => (gen ? qIdx(pos) : pos);
    const qRows: RowMap = gen ? (rr) => `rowBase + ${qIdx(`q0 + ${rr}`)}` : 'rowBase + q0';
    const masked = forTile(t, (ri, _g, _e, c) =>
      range(4)
        .map((ff) => {
          const i = `q0 + ${rowOf(t, ri)}`;
          return [
            `{ let j = ${loop.key(colOf(t, c, ff))};`,
            `  var sv = s${ri}_${c}.${C4[ff]} * u.scale${bias ? ` + biasAt(bh, b, ${qi(i)}, min(j, ${nk} - 1u))` : ''};`,
            loop.gather || gen ? `  sv = select(sv, MASKED, j >= ${nk});` : '',
            f.causal ? `  sv = select(sv, MASKED, j > ${i});` : '',
            `  s${ri}_${c}.${C4[ff]} = select(0.0, exp(sv - ls${ri}), sv > THRESH); }`,
          ].filter(Boolean).join('\n        ');
        })
        .join('\n        '),
    );
    const plain = forTile(t, (ri, _g, _e, c) => `s${ri}_${c} = exp(s${ri}_${c} * u.scale - vec4<f32>(ls${ri}));`);
    return `${header(this.block, t)}
var<workgroup> st: array<vec4<f32>, ${stLen}>;
var<workgroup> ps: array<vec4<f32>, ${t.BC * BQ4}>;
${biasFn(f)}
${loop.decls}

fn run(wg: u32, lid: u32) {
  ${decodeWorkgroup('qt', 'r', gen)}
  let tx = lid % TX;
  let ty = lid / TX;
  let q0 = r * BLK + qt * BR;
  ${gen ? 'if (q0 + BR <= qoff || q0 >= qoff + u.n) { return; }' : ''}
  let rowBase = bh * u.n;
  ${forRows(t, (ri) => `let ls${ri} = stats[u.lseOff + rowBase + ${qi(`q0 + ${rowOf(t, ri)}`)}];\n  let dl${ri} = stats[u.deltaOff + rowBase + ${qi(`q0 + ${rowOf(t, ri)}`)}];`)}
  ${forOut(t, (ri, _g, _e, k) => `var a${ri}_${k} = vec4<f32>(0.0);`)}
  ${loop.open}
      ${forTile(t, (ri, _g, _e, c) => `var s${ri}_${c} = vec4<f32>(0.0);\n      var dp${ri}_${c} = vec4<f32>(0.0);`)}
      for (var d0 = 0u; d0 < u.d4; d0 += DK4) {
        workgroupBarrier();
        ${loadTransposed('st', `${QS}u`, this.src('q'), qRows, t.BR, 'd0', DK4, WG, !t.dkExact)}
        ${loadTransposed('st', `${KS}u`, this.src('k'), (rr) => `kvBase + ${loop.row(rr)}`, t.BC, 'd0', DK4, WG, !t.dkExact)}
        ${loadTransposed('st', `${GS}u`, this.src('dout'), qRows, t.BR, 'd0', DK4, WG, !t.dkExact)}
        ${loadTransposed('st', `${VS}u`, this.src('v'), (rr) => `kvBase + ${loop.row(rr)}`, t.BC, 'd0', DK4, WG, !t.dkExact)}
        workgroupBarrier();
        for (var dd = 0u; dd < ${t.DK}u; dd++) {
          ${outerStep(t, 's', 'st', `${QS}u + dd * ${BQ4}u`, 'st', `${KS}u + dd * ${BK4}u`, 'x')}
          ${outerStep(t, 'dp', 'st', `${GS}u + dd * ${BQ4}u`, 'st', `${VS}u + dd * ${BK4}u`, 'y')}
        }
      }
      if (needMask) {
        ${masked}
      } else {
        ${plain}
      }
      ${forTile(t, (ri, _g, _e, c) => `s${ri}_${c} = s${ri}_${c} * (dp${ri}_${c} - vec4<f32>(dl${ri})) * u.scale;`)}
      ${storeTileT(t, 'ps', 's')}
      for (var v0 = 0u; v0 < BC; v0 += VK) {
        workgroupBarrier();
        ${loadRows('st', '0u', this.src('k'), (rr) => `kvBase + ${loop.row(`v0 + ${rr}`)}`, t.VK, D4X, WG, !t.ocExact)}
        workgroupBarrier();
        for (var jj = 0u; jj < VK; jj++) {
          ${rowsStep(t, 'a', 'ps', '(v0 + jj) * BR4', 'st', 'jj * D4X', 'x')}
        }
      }
  ${loop.close}
  ${forOut(t, (ri, _g, _e, k) => {
    const st = `dq[(rowBase + ${qi(`q0 + ${rowOf(t, ri)}`)}) * u.d4 + tx + ${k * t.TX}u] = ${stored(`a${ri}_${k}`, this.half)};`;
    const conds = [...(t.ocExact ? [] : [`tx + ${k * t.TX}u < u.d4`]), ...(gen ? [qValid(`q0 + ${rowOf(t, ri)}`)] : [])];
    return conds.length ? `if (${conds.join(' && ')}) { ${st} }` : st;
  })}
}
`;
  }
}

/**
 * dK and dV over the transposed tables; the thread's rows are keys, its columns queries.
 * `grouped` (GQA, MQA: kvHeads < heads): a workgroup per kv head's key rows, walking the block
 * column of each of the group's query heads in turn (their layout slots), so that dK and dV sum
 * over the group in one fixed order, without atomics.
 */
export class AttentionDkDvProgram extends TiledAttentionProgram {
  readonly name = 'AttentionDkDvProgram';
  readonly bindings: readonly BindingSpec[];

  constructor(block: number, tile: AttnTile, flags: AttnFlags, readonly grouped: boolean, half = false) {
    super(block, tile, flags, grouped ? '/grouped' : '', half);
    this.bindings = gradBindings('dkv', half);
  }

  body(): string {
    const t = this.tile;
    const f = this.flags;
    const WG = t.TX * t.TY;
    const BR4 = t.BR / 4;
    const BC4 = t.BC / 4;
    const DK4 = t.DK / 4;
    const D4X = t.OC * t.TX;
    const KS = 0;
    const QS = t.DK * BR4;
    const VS = QS + t.DK * BC4;
    const GS = VS + t.DK * BR4;
    const stLen = Math.max(GS + t.DK * BC4, 2 * t.VK * D4X);
    const bias = hasBias(f);
    const loop = chunkLoop(this.block, t, 'q', f);
    const gen = f.general;
    const kRows: RowMap = gen ? (rr) => `kvBase + min(j0 + ${rr}, u.nk - 1u)` : 'kvBase + j0';
    const masked = forTile(t, (ri, _g, _e, c) =>
      range(4)
        .map((ff) => {
          const j = `j0 + ${rowOf(t, ri)}`;
          // general: i is an absolute position, masked unless it holds one of q's rows
          return [
            `{ let i = ${loop.key(colOf(t, c, ff))};`,
            `  var sv = s${ri}_${c}.${C4[ff]} * u.scale${bias ? ` + biasAt(bh, b, ${gen ? qIdx('i') : 'min(i, u.n - 1u)'}, ${gen ? `min(${j}, u.nk - 1u)` : j})` : ''};`,
            gen ? `  sv = select(sv, MASKED, !${qValid('i')});` : loop.gather ? '  sv = select(sv, MASKED, i >= u.n);' : '',
            f.causal ? `  sv = select(sv, MASKED, ${j} > i);` : '',
            `  s${ri}_${c}.${C4[ff]} = select(0.0, exp(sv - lq${c}.${C4[ff]}), sv > THRESH); }`,
          ].filter(Boolean).join('\n        ');
        })
        .join('\n        '),
    );
    const plain = forTile(t, (ri, _g, _e, c) => `s${ri}_${c} = exp(s${ri}_${c} * u.scale - lq${c});`);
    const colStats = range(t.RN / 4)
      .map((c) => {
        const at = (off: string, ff: number): string => `stats[${off} + rowBase + ${loop.row(colOf(t, c, ff))}]`;
        return `let lq${c} = vec4<f32>(${range(4).map((ff) => at('u.lseOff', ff)).join(', ')});
      let dl${c} = vec4<f32>(${range(4).map((ff) => at('u.deltaOff', ff)).join(', ')});`;
      })
      .join('\n      ');
    return `${header(this.block, t)}
var<workgroup> st: array<vec4<f32>, ${stLen}>;
var<workgroup> ps: array<vec4<f32>, ${t.BC * BR4}>;
var<workgroup> dss: array<vec4<f32>, ${t.BC * BR4}>;
${biasFn(f)}
${loop.decls}

fn run(wg: u32, lid: u32) {
  ${this.grouped ? groupedDecode(gen) : decodeWorkgroup('kt', 'c', gen)}
  let tx = lid % TX;
  let ty = lid / TX;
  let j0 = c * BLK + kt * BR;
  ${gen ? 'if (j0 >= u.nk) { return; }' : ''}
  ${forOut(t, (ri, _g, _e, k) => `var gk${ri}_${k} = vec4<f32>(0.0);\n  var gv${ri}_${k} = vec4<f32>(0.0);`)}
  ${this.grouped ? `for (var jg = 0u; jg < u.heads / u.kvHeads; jg++) {
  let h = g * (u.heads / u.kvHeads) + jg;
  let hr = ${gen ? '(b * u.lbat * u.heads + h) * u.rows + c' : 'h * u.rows + c'};
  let bh = b * u.heads + h;` : '{'}
  let rowBase = bh * u.n;
  ${loop.open}
      ${forTile(t, (ri, _g, _e, c) => `var s${ri}_${c} = vec4<f32>(0.0);\n      var dp${ri}_${c} = vec4<f32>(0.0);`)}
      for (var d0 = 0u; d0 < u.d4; d0 += DK4) {
        workgroupBarrier();
        ${loadTransposed('st', `${KS}u`, this.src('k'), kRows, t.BR, 'd0', DK4, WG, !t.dkExact)}
        ${loadTransposed('st', `${QS}u`, this.src('q'), (rr) => `rowBase + ${loop.row(rr)}`, t.BC, 'd0', DK4, WG, !t.dkExact)}
        ${loadTransposed('st', `${VS}u`, this.src('v'), kRows, t.BR, 'd0', DK4, WG, !t.dkExact)}
        ${loadTransposed('st', `${GS}u`, this.src('dout'), (rr) => `rowBase + ${loop.row(rr)}`, t.BC, 'd0', DK4, WG, !t.dkExact)}
        workgroupBarrier();
        for (var dd = 0u; dd < ${t.DK}u; dd++) {
          ${outerStep(t, 's', 'st', `${KS}u + dd * ${BR4}u`, 'st', `${QS}u + dd * ${BC4}u`, 'x')}
          ${outerStep(t, 'dp', 'st', `${VS}u + dd * ${BR4}u`, 'st', `${GS}u + dd * ${BC4}u`, 'y')}
        }
      }
      ${colStats}
      if (needMask) {
        ${masked}
      } else {
        ${plain}
      }
      ${forTile(t, (ri, _g, _e, c) => `dp${ri}_${c} = s${ri}_${c} * (dp${ri}_${c} - dl${c}) * u.scale;`)}
      ${storeTileT(t, 'ps', 's')}
      ${storeTileT(t, 'dss', 'dp')}
      for (var v0 = 0u; v0 < BC; v0 += VK) {
        workgroupBarrier();
        ${loadRows('st', '0u', this.src('dout'), (rr) => `rowBase + ${loop.row(`v0 + ${rr}`)}`, t.VK, D4X, WG, !t.ocExact)}
        ${loadRows('st', `${t.VK * D4X}u`, this.src('q'), (rr) => `rowBase + ${loop.row(`v0 + ${rr}`)}`, t.VK, D4X, WG, !t.ocExact)}
        workgroupBarrier();
        for (var ii = 0u; ii < VK; ii++) {
          ${rowsStep(t, 'gv', 'ps', '(v0 + ii) * BR4', 'st', 'ii * D4X', 'x')}
          ${rowsStep(t, 'gk', 'dss', '(v0 + ii) * BR4', 'st', `${t.VK * D4X}u + ii * D4X`, 'y')}
        }
      }
  ${loop.close}
  }
  ${forOut(t, (ri, _g, _e, k) => {
    const at = `(kvBase + j0 + ${rowOf(t, ri)}) * u.d4 + tx + ${k * t.TX}u`;
    const st = `dkv[${at}] = ${stored(`gk${ri}_${k}`, this.half)};\n  dkv[u.dvOff + ${at}] = ${stored(`gv${ri}_${k}`, this.half)};`;
    const conds = [...(t.ocExact ? [] : [`tx + ${k * t.TX}u < u.d4`]), ...(gen ? [`j0 + ${rowOf(t, ri)} < u.nk`] : [])];
    return conds.length ? `if (${conds.join(' && ')}) {\n  ${st}\n  }` : st;
  })}
}
`;
  }
}

/** Encodes forward, delta, dQ and dK/dV; returns dq [B·H·N·d4 vec4] and dk|dv [2·B·Hkv·N·d4 vec4]. */
export function encodeAttentionBackward(
  ctx: GpuContext,
  rec: Recorder,
  p: AttentionProblem<OperandData>,
  inp: AttentionInputs,
  dout: GPUBuffer,
  /** The matrix-unit programs' tile (tuning); default mmaBackwardTile. */
  mmaTile?: MmaBackwardTile,
): { dq: GPUBuffer; dkv: GPUBuffer } {
  const { d4 } = inp;
  const rows = p.B * p.H * p.N;
  const { out, stats } = encodeAttentionForward(ctx, rec, p, inp);
  // half: the forward's out is f16, as dout (delta sums in f32)
  rec.dispatch(new AttentionDeltaProgram(inp.half), [out, dout, stats], { rowsTotal: rows, d4, deltaOff: rows }, Math.ceil(rows / DELTA_WG));

  const dq = rec.output('dq', outputBytes(rows, inp));
  const dkv = rec.output('dk | dv', 2 * outputBytes(p.B * p.Hkv * p.Nk, inp));
  // half floats on the matrix units where the device and the problem allow (mmaBackwardBlocker says why not)
  if (inp.half && !ctx.tileOverrides.dq && !ctx.tileOverrides.dkdv && mmaBackwardBlocker(ctx, p) === null) {
    encodeMmaBackward(ctx, rec, p, inp, dout, stats, dq, dkv, mmaTile);
    return { dq, dkv };
  }
  const block = p.layout.block;
  const flags = attnFlags(p);
  const R = flags.general ? p.layout.rows : p.N / block;
  const C = flags.general ? p.layout.cols : R;
  const { maxComputeWorkgroupStorageSize: shared, maxComputeInvocationsPerWorkgroup: inv } = ctx.limits;
  const dqTile = chooseTile('dq', block, d4, shared, inv, false, ctx.tileOverrides.dq);
  // as the forward: queries at an offset fill only the block rows from it, so dispatch those alone
  const active = activeQueryRows(p, block, R);
  rec.dispatch(
    new AttentionDqProgram(block, dqTile, flags, inp.half),
    [inp.q, inp.k, inp.v, dout, inp.tables.buffer, inp.bias.buffer, stats, dq],
    attnUniformValues(p, d4, dqTile, inp.tables, inp.bias, false, active),
    p.B * p.H * (active?.span ?? R) * (block / dqTile.BR),
  );
  const kvTile = chooseTile('dkdv', block, d4, shared, inv, false, ctx.tileOverrides.dkdv);
  const grouped = p.Hkv !== p.H;
  rec.dispatch(
    new AttentionDkDvProgram(block, kvTile, flags, grouped, inp.half),
    [inp.q, inp.k, inp.v, dout, inp.tables.buffer, inp.bias.buffer, stats, dkv],
    attnUniformValues(p, d4, kvTile, inp.tables, inp.bias, true),
    p.B * (grouped ? p.Hkv : p.H) * C * (block / kvTile.BR),
  );
  return { dq, dkv };
}

export async function attentionBackward(ctx: GpuContext, p: AttentionBackwardProblem<OperandData>): Promise<AttentionGradientData<OperandData>> {
  const rec = ctx.recorder('attentionBackward');
  const inp = uploadAttentionInputs(ctx, rec, p);
  const { d4 } = inp;
  const rows = p.B * p.H * p.N;
  const dout = residentBuffer(p.dout) ?? rec.own(upload(ctx.device, ctx.limits, 'dout', padColumns(p.dout as Float32Array | Uint16Array, rows, p.D, d4 * 4)));
  const { dq, dkv } = encodeAttentionBackward(ctx, rec, p, inp, dout);
  const kvRows = p.B * p.Hkv * p.Nk;
  const half = kvRows * d4 * 4;
  const halfBytes = outputBytes(kvRows, inp);
  const dtype = inp.half ? 'float16' : 'float32';
  if (p.keepOnDevice) {
    // dk and dv share one output buffer; each resident gets its own copy of its half
    rec.disown(dq);
    const [dk, dv] = ['dk', 'dv'].map((label) => rec.output(label, halfBytes));
    rec.disown(dk);
    rec.disown(dv);
    rec.copy(dkv, 0, dk, 0, halfBytes);
    rec.copy(dkv, halfBytes, dv, 0, halfBytes);
    try {
      await rec.run([]);
    } catch (e) {
      for (const b of [dq, dk, dv]) b.destroy();
      throw e;
    }
    return {
      dq: ctx.persist(dq, rows * p.D, p.D, dtype), dk: ctx.persist(dk, kvRows * p.D, p.D, dtype), dv: ctx.persist(dv, kvRows * p.D, p.D, dtype),
    };
  }
  const [dqData, dkvData] = await rec.run([
    { buffer: dq, bytes: outputBytes(rows, inp) },
    { buffer: dkv, bytes: 2 * halfBytes },
  ]);
  const values = (data: ArrayBuffer) => (inp.half ? new Uint16Array(data) : new Float32Array(data));
  const all = values(dkvData);
  return {
    dq: unpadColumns(values(dqData), rows, p.D, d4 * 4),
    dk: unpadColumns(all.slice(0, half), kvRows, p.D, d4 * 4),
    dv: unpadColumns(all.slice(half), kvRows, p.D, d4 * 4),
  };
}
