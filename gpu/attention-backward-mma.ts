// The backward's products on the matrix units (16×16×16 f16 → f32 subgroup matrices) for f16
// operands, FlashAttention-2's split as in attention-backward.ts, after the same forward and delta:
//   dQ:    a subgroup per 16·groups query rows walks its block row's kept key blocks, `step` keys at
//          a time: S = Q·Kᵀ and dP = dO·Vᵀ (Q and dO held as left matrices), through workgroup
//          memory to the lanes: P = exp2(S·scale·log2 e − lse·log2 e), dS = P∘(dP − delta)·scale
//          as f16, then dQ += dS·K, kept in result matrices;
//   dK, dV: a subgroup per 16·groups key rows walks its block column's query blocks, `step` queries
//          at a time: Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ (K and V held), Pᵀ and dSᵀ as f16, dV += Pᵀ·dO,
//          dK += dSᵀ·Q (GQA: over each query head of the kv head's group in turn).
// With `stage`, the subgroups of a workgroup (consecutive rows of one block) share each step's K and
// V (dQ) or Q and dO (dK/dV) tile, copied to workgroup memory in vec4 loads. No rescaling (the
// forward's lse is final) and no atomics (each subgroup owns its output rows). The shapes are the
// matrix-unit forward's (mmaForwardBlocker): self-attention, no rpe or masks.
import type { AttentionProblem, OperandData } from '../src/backend.js';
import { ATTN_UNIFORMS, attnUniformValues, decodeWorkgroup, groupedDecode } from './attention-common.js';
import type { AttentionInputs } from './attention-forward.js';
import { mmaForwardBlocker } from './attention-forward-mma.js';
import { MASKED, THRESH } from './buffers.js';
import type { GpuContext, Recorder } from './context.js';
import { each, LEFT, mmaLimits, MmaProgram, PAD, RESULT, RIGHT, stageTiles, type MmaLimits } from './mma-program.js';
import type { BindingSpec } from './program.js';

/** A workgroup's work: subgroups of `groups` row groups of 16, the other side's rows per step, staged or read in place. */
export interface MmaBackwardTile {
  readonly groups: number;
  readonly subgroups: number;
  readonly step: number;
  readonly stage: boolean;
}

type Side = 'dq' | 'dkdv';

/** WGSL loading the right-matrix fragment of operand `x` at (row, col) of a step's rows. */
type Load = (x: string, row: number, col: number, colMajor: boolean) => string;

/** The operands a side walks (read a step at a time; staged with `stage`) and those it holds. */
const WALKED: Record<Side, readonly [string, string]> = { dq: ['k', 'v'], dkdv: ['q', 'dout'] };

abstract class AttentionBackwardMmaProgram extends MmaProgram {
  readonly uniforms = ATTN_UNIFORMS;
  readonly workgroupSize: number;
  readonly shaderKey: string;
  /** Rows a workgroup owns; a subgroup's are 16·groups of them. */
  readonly BR: number;
  readonly GR: number;
  readonly bindings: readonly BindingSpec[];
  /** Lanes per row of a 16-row tile, and the tile's columns per lane in a step. */
  protected readonly LPR: number;
  protected readonly CPL: number;

  constructor(
    readonly side: Side,
    readonly block: number,
    readonly D: number,
    readonly causal: boolean,
    readonly lanes: number,
    readonly tile: MmaBackwardTile,
    /** dK/dV of GQA, MQA (kvHeads < heads): a workgroup per kv head's key rows walks each of its query heads' block column in turn, summing in one order. */
    readonly grouped = false,
  ) {
    super();
    this.GR = 16 * tile.groups;
    this.BR = this.GR * tile.subgroups;
    this.workgroupSize = lanes * tile.subgroups;
    this.LPR = lanes / 16;
    this.CPL = tile.step / this.LPR;
    this.shaderKey = `b${block}/d${D}/c${+causal}/sg${lanes}/${mmaBackwardTileName(tile)}${grouped ? '/grouped' : ''}`;
    const walked = WALKED[side];
    const operand = (name: string): BindingSpec => ({ name, access: 'read', elem: tile.stage && walked.includes(name) ? 'vec4<f16>' : 'f16' });
    this.bindings = [
      operand('q'), operand('k'), operand('v'), operand('dout'),
      { name: 'lut', access: 'read', elem: 'i32' },
      { name: 'stats', access: 'read', elem: 'f32' },
      { name: side === 'dq' ? 'dq' : 'dkv', access: 'read_write', elem: 'f16' },
    ];
  }

  /** Bytes of workgroup memory: per row the f32 scratch of S (and of the output, 16 columns at a time) and of dP, and the f16 tiles; the staged tiles. */
  static workgroupBytes(side: Side, D: number, t: MmaBackwardTile): number {
    const rows = 16 * t.groups * t.subgroups;
    const halves = side === 'dq' ? 1 : 2;
    const staged = t.stage ? 2 * t.step * (D + 2 * PAD) * 2 : 0;
    return rows * (2 * (t.step + PAD) * 4 + halves * (t.step + 2 * PAD) * 2) + staged;
  }

  protected header(): string {
    const { block, D, BR, GR } = this;
    const S = this.tile.step;
    const halves = this.side === 'dq' ? ['sP'] : ['sP', 'sG'];
    const [a, b] = WALKED[this.side];
    return `
const MASKED = ${MASKED.toExponential()}f;
const THRESH = ${THRESH.toExponential()}f;
const LOG2E = ${Math.LOG2E}f;
const D = ${D}u;
const BLK = ${block}u;
const BR = ${BR}u;
const GR = ${GR}u;
const WS = ${S + PAD}u; // row stride of the f32 scratch of S (then 16 columns of the output at a time) and of dP
const PS = ${S + 2 * PAD}u; // of the f16 tiles: 16-byte rows off the bank period
const KS = ${D + 2 * PAD}u; // of the staged tiles
var<workgroup> sS: array<f32, ${BR * (S + PAD)}>;
var<workgroup> sD: array<f32, ${BR * (S + PAD)}>;
${halves.map((h) => `var<workgroup> ${h}: array<f16, ${BR * (S + 2 * PAD)}>;`).join('\n')}${this.tile.stage ? `
var<workgroup> s_${a}: array<f16, ${S * (D + 2 * PAD)}>;
var<workgroup> s_${b}: array<f16, ${S * (D + 2 * PAD)}>;` : ''}`;
  }

  /** Each subgroup's slices of the scratch, and its lanes' rows and columns in them. */
  protected lanesSetup(): string {
    return `  let sOff = sgi * GR * WS;
  let dOff = sgi * GR * WS;
  let pOff = sgi * GR * PS;
  let lr = lane / ${this.LPR}u;
  let lc = lane % ${this.LPR}u;
  let sBase = sOff + lr * WS + lc;
  let dBase = dOff + lr * WS + lc;
  let pBase = pOff + lr * PS + lc;`;
  }

  /**
   * The step's tiles of the walked operands (rows from `base`·D on) copied to workgroup memory, or
   * nothing; and how the fragment at (row, column) of the step's rows is loaded, as a right matrix.
   */
  protected staging(base: string): { copy: string; load: Load } {
    const [a, b] = WALKED[this.side];
    if (!this.tile.stage) {
      return { copy: '', load: (x, row, col, cm) => `subgroupMatrixLoad<${RIGHT}>(&${x}, ${base} + ${row}u * D + ${col}u, ${cm}, D)` };
    }
    return {
      copy: stageTiles([`s_${a}`, `s_${b}`], [a, b], base, this.tile.step, this.D, this.workgroupSize, 'KS'),
      load: (x, row, col, cm) => `subgroupMatrixLoad<${RIGHT}>(&s_${x}, ${row}u * KS + ${col}u, ${cm}, KS)`,
    };
  }

  /**
   * The step's two score products into workgroup memory for the lanes: S = A·Xᵀ into sS and
   * dP = B·Yᵀ into sD, from the held left fragments `a`, `b` (a{g}_{kd}) and the walked operands
   * `x`, `y` (read column-major through `load`); then a barrier. dQ: Q·Kᵀ, dO·Vᵀ; dK/dV: K·Qᵀ, V·dOᵀ.
   */
  protected scoresToScratch(a: string, b: string, x: string, y: string, load: Load): string {
    const G = this.tile.groups;
    const NJ = this.tile.step / 16;
    return `${each(G, (g) => each(NJ, (j) => `      var s${g}_${j} = ${RESULT}();\n      var p${g}_${j} = ${RESULT}();`))}
${each(this.D / 16, (kd) =>
  each(NJ, (j) => `      {
        let xf = ${load(x, j * 16, kd * 16, true)};
        let yf = ${load(y, j * 16, kd * 16, true)};
${each(G, (g) => `        s${g}_${j} = subgroupMatrixMultiplyAccumulate(${a}${g}_${kd}, xf, s${g}_${j});\n        p${g}_${j} = subgroupMatrixMultiplyAccumulate(${b}${g}_${kd}, yf, p${g}_${j});`)}
      }`))}
${each(G, (g) => each(NJ, (j) => `      subgroupMatrixStore(&sS, sOff + ${g * 16}u * WS + ${j * 16}u, s${g}_${j}, false, WS);\n      subgroupMatrixStore(&sD, dOff + ${g * 16}u * WS + ${j * 16}u, p${g}_${j}, false, WS);`))}
      workgroupBarrier();`;
  }

  /** The lanes write result matrices `m(g, dj)` to `out` rows `row(g)` from `base`, through sS 16 columns at a time. */
  protected storeRows(m: (g: number, dj: number) => string, out: string, row: (g: number) => string, base = ''): string {
    const G = this.tile.groups;
    const LPR = this.LPR;
    return each(this.D / 16, (dj) => `${each(G, (g) => `  subgroupMatrixStore(&sS, sOff + ${g * 16}u * WS, ${m(g, dj)}, false, WS);`)}
  workgroupBarrier();
${each(G, (g) => `  {
    let ob = ${base}(${row(g)}) * D + ${dj * 16}u + lc;
${each(16 / LPR, (j) => `    ${out}[ob + ${j * LPR}u] = f16(sS[sBase + ${g * 16}u * WS + ${j * LPR}u]);`)}
  }`)}
  workgroupBarrier();`);
  }
}

/** dQ over the row tables. */
export class AttentionDqMmaProgram extends AttentionBackwardMmaProgram {
  readonly name = 'AttentionDqMmaProgram';

  constructor(block: number, D: number, causal: boolean, lanes: number, tile: MmaBackwardTile) {
    super('dq', block, D, causal, lanes, tile);
  }

  body(): string {
    const { block, D, causal, LPR, CPL } = this;
    const G = this.tile.groups;
    const BC = this.tile.step;
    const D16 = D / 16;
    const NJ = BC / 16;
    const { copy, load } = this.staging('kb');
    const lanesStep = (g: number) => `      {
${each(CPL, (i) => `        {
          var x = sS[sBase + ${g * 16}u * WS + ${i * LPR}u] * sc;
          ${causal ? `if (diag && key0 + lc + ${i * LPR}u > qpos${g}) { x = MASKED; }` : ''}
          let p = select(0.0f, exp2(x - ls${g}), x > THRESH);
          sP[pBase + ${g * 16}u * PS + ${i * LPR}u] = f16(p * (sD[dBase + ${g * 16}u * WS + ${i * LPR}u] - dl${g}) * u.scale);
        }`)}
      }`;
    return `${this.header()}

fn run(wg: u32, lid: u32, lane: u32, sgi: u32) {
  ${decodeWorkgroup('t', 'r')}
  let sc = u.scale * LOG2E; // scores in the log2 domain (exp2)
  let w0 = r * BLK + t * BR; // the workgroup's first query row
  let q0 = w0 + sgi * GR; // the subgroup's
  let qb = (bh * u.n + q0) * D;
${each(G, (g) => each(D16, (kd) => `  let q${g}_${kd} = subgroupMatrixLoad<${LEFT}>(&q, qb + ${g * 16 * D + kd * 16}u, false, D);
  let g${g}_${kd} = subgroupMatrixLoad<${LEFT}>(&dout, qb + ${g * 16 * D + kd * 16}u, false, D);`))}
${this.lanesSetup()}
${each(G, (g) => `  let qpos${g} = q0 + ${g * 16}u + lr;
  let ls${g} = stats[u.lseOff + bh * u.n + qpos${g}] * LOG2E;
  let dl${g} = stats[u.deltaOff + bh * u.n + qpos${g}];
${each(D16, (dj) => `  var a${g}_${dj} = ${RESULT}();`)}`)}
  let e0 = u32(lut[u.ptrOff + hr]);
  let e1 = u32(lut[u.ptrOff + hr + 1u]);
  for (var e = e0; e < e1; e++) {
    let c = u32(lut[u.idxOff + e]);
    ${causal ? 'let kind = lut[u.kindOff + e];\n    if (kind == 2) { continue; }\n    let diag = kind == 1;' : ''}
    for (var kt = 0u; kt < ${block / BC}u; kt++) {
      let key0 = c * BLK + kt * ${BC}u;
      ${causal ? 'if (diag && key0 > w0 + BR - 1u) { break; } // after every query of the workgroup' : ''}
      let kb = (kvBase + key0) * D;
${copy}
${this.scoresToScratch('q', 'g', 'k', 'v', load)}
${each(G, lanesStep)}
      workgroupBarrier();
${each(G, (g) => each(NJ, (kc) => `      let ds${g}_${kc} = subgroupMatrixLoad<${LEFT}>(&sP, pOff + ${g * 16}u * PS + ${kc * 16}u, false, PS);`))}
${each(D16, (dj) => `      {
${each(NJ, (kc) => `        let kf${kc} = ${load('k', kc * 16, dj * 16, false)};`)}
${each(G, (g) => each(NJ, (kc) => `        a${g}_${dj} = subgroupMatrixMultiplyAccumulate(ds${g}_${kc}, kf${kc}, a${g}_${dj});`))}
      }`)}
${this.tile.stage ? '      workgroupBarrier(); // the staged K is read before the next step overwrites it' : ''}
    }
  }
${this.storeRows((g, dj) => `a${g}_${dj}`, 'dq', (g) => `bh * u.n + qpos${g}`)}
}
`;
  }
}

/** dK and dV over the transposed tables (the query blocks of each block column). */
export class AttentionDkDvMmaProgram extends AttentionBackwardMmaProgram {
  readonly name = 'AttentionDkDvMmaProgram';

  constructor(block: number, D: number, causal: boolean, lanes: number, tile: MmaBackwardTile, grouped: boolean) {
    super('dkdv', block, D, causal, lanes, tile, grouped);
  }

  body(): string {
    const { block, D, causal, LPR, CPL } = this;
    const G = this.tile.groups;
    const BQ = this.tile.step;
    const D16 = D / 16;
    const NJ = BQ / 16;
    const { copy, load } = this.staging('qb');
    const lanesStep = each(CPL, (i) => `      {
        let qi = q0 + lc + ${i * LPR}u;
        let ls = stats[u.lseOff + rowBase + qi] * LOG2E;
        let dl = stats[u.deltaOff + rowBase + qi];
${each(G, (g) => `        {
          var x = sS[sBase + ${g * 16}u * WS + ${i * LPR}u] * sc;
          ${causal ? `if (diag && kpos${g} > qi) { x = MASKED; }` : ''}
          let p = select(0.0f, exp2(x - ls), x > THRESH);
          sP[pBase + ${g * 16}u * PS + ${i * LPR}u] = f16(p);
          sG[pBase + ${g * 16}u * PS + ${i * LPR}u] = f16(p * (sD[dBase + ${g * 16}u * WS + ${i * LPR}u] - dl) * u.scale);
        }`)}
      }`);
    return `${this.header()}

fn run(wg: u32, lid: u32, lane: u32, sgi: u32) {
  ${this.grouped ? groupedDecode(false) : decodeWorkgroup('kt', 'c')}
  let sc = u.scale * LOG2E; // scores in the log2 domain (exp2)
  let w0 = c * BLK + kt * BR; // the workgroup's first key row
  let key0 = w0 + sgi * GR; // the subgroup's
  let kb = (kvBase + key0) * D;
${each(G, (g) => each(D16, (kd) => `  let k${g}_${kd} = subgroupMatrixLoad<${LEFT}>(&k, kb + ${g * 16 * D + kd * 16}u, false, D);
  let v${g}_${kd} = subgroupMatrixLoad<${LEFT}>(&v, kb + ${g * 16 * D + kd * 16}u, false, D);`))}
${this.lanesSetup()}
${each(G, (g) => `  let kpos${g} = key0 + ${g * 16}u + lr;
${each(D16, (dj) => `  var gk${g}_${dj} = ${RESULT}();\n  var gv${g}_${dj} = ${RESULT}();`)}`)}
  ${this.grouped ? `for (var jg = 0u; jg < u.heads / u.kvHeads; jg++) {
  let h = g * (u.heads / u.kvHeads) + jg;
  let hr = h * u.rows + c;
  let bh = b * u.heads + h;` : '{'}
  let rowBase = bh * u.n;
  let e0 = u32(lut[u.ptrOff + hr]);
  let e1 = u32(lut[u.ptrOff + hr + 1u]);
  for (var e = e0; e < e1; e++) {
    let rb = u32(lut[u.idxOff + e]);
    ${causal ? 'let kind = lut[u.kindOff + u32(lut[u.entOff + e])];\n    if (kind == 2) { continue; }\n    let diag = kind == 1;' : ''}
    for (var qt = 0u; qt < ${block / BQ}u; qt++) {
      let q0 = rb * BLK + qt * ${BQ}u;
      ${causal ? `if (diag && q0 + ${BQ - 1}u < w0) { continue; } // before every key of the workgroup` : ''}
      let qb = (rowBase + q0) * D;
${copy}
${this.scoresToScratch('k', 'v', 'q', 'dout', load)}
${lanesStep}
      workgroupBarrier();
${each(G, (g) => each(NJ, (kc) => `      let pt${g}_${kc} = subgroupMatrixLoad<${LEFT}>(&sP, pOff + ${g * 16}u * PS + ${kc * 16}u, false, PS);\n      let dst${g}_${kc} = subgroupMatrixLoad<${LEFT}>(&sG, pOff + ${g * 16}u * PS + ${kc * 16}u, false, PS);`))}
${each(D16, (dj) => `      {
${each(NJ, (kc) => `        let gf${kc} = ${load('dout', kc * 16, dj * 16, false)};
        let qf${kc} = ${load('q', kc * 16, dj * 16, false)};`)}
${each(G, (g) => each(NJ, (kc) => `        gv${g}_${dj} = subgroupMatrixMultiplyAccumulate(pt${g}_${kc}, gf${kc}, gv${g}_${dj});\n        gk${g}_${dj} = subgroupMatrixMultiplyAccumulate(dst${g}_${kc}, qf${kc}, gk${g}_${dj});`))}
      }`)}
${this.tile.stage ? '      workgroupBarrier(); // the staged Q and dO are read before the next step overwrites them' : ''}
    }
  }
  }
${this.storeRows((g, dj) => `gk${g}_${dj}`, 'dkv', (g) => `kvBase + kpos${g}`)}
${this.storeRows((g, dj) => `gv${g}_${dj}`, 'dkv', (g) => `kvBase + kpos${g}`, 'u.dvOff * 4u + ')}
}
`;
  }
}

/** A tile's name in shader keys and benchmark labels: g(groups)n(subgroups)s(step), t staged. */
export function mmaBackwardTileName(t: MmaBackwardTile): string {
  return `g${t.groups}n${t.subgroups}s${t.step}${t.stage ? 't' : ''}`;
}

/** Fastest first on the GPU machine (bench/gpu/mma.ts). */
/** The backward's tiles, in the order mmaBackwardTile tries them (exported for bench/gpu/mma.ts's sweep). */
export const MMA_BACKWARD_TILES: readonly MmaBackwardTile[] = [
  { groups: 1, subgroups: 8, step: 16, stage: true },
  { groups: 1, subgroups: 4, step: 16, stage: true },
  { groups: 1, subgroups: 2, step: 16, stage: true },
  { groups: 1, subgroups: 4, step: 32, stage: true },
  { groups: 1, subgroups: 1, step: 16, stage: false },
  { groups: 1, subgroups: 1, step: 32, stage: false },
];

/** The tile for a block and head dim: the first of MMA_BACKWARD_TILES that fits the block, the device's threads per workgroup and both programs' workgroup memory. */
export function mmaBackwardTile(block: number, D: number, limits: MmaLimits): MmaBackwardTile {
  const fits = (t: MmaBackwardTile) =>
    t.step <= block && 16 * t.groups * t.subgroups <= block && limits.lanes * t.subgroups <= limits.invocations &&
    Math.max(AttentionBackwardMmaProgram.workgroupBytes('dq', D, t), AttentionBackwardMmaProgram.workgroupBytes('dkdv', D, t)) <= limits.bytes;
  return MMA_BACKWARD_TILES.find(fits) ?? MMA_BACKWARD_TILES[MMA_BACKWARD_TILES.length - 1];
}

/**
 * Why problem `p` cannot take the matrix-unit backward on this context, or null when it can: the
 * matrix-unit forward's shapes, and the workgroup memory of both programs.
 */
export function mmaBackwardBlocker(ctx: GpuContext, p: AttentionProblem<OperandData>): string | null {
  const why = mmaForwardBlocker(ctx, p);
  if (why) return why;
  const max = ctx.limits.maxComputeWorkgroupStorageSize;
  const t = mmaBackwardTile(p.layout.block, p.D, mmaLimits(ctx));
  const bytes = Math.max(...(['dq', 'dkdv'] as const).map((s) => AttentionBackwardMmaProgram.workgroupBytes(s, p.D, t)));
  return bytes > max ? `${bytes} bytes of workgroup memory for the backward (the device allows ${max})` : null;
}

/**
 * Encodes dQ and dK|dV on the matrix units (mmaBackwardBlocker(ctx, p) must be null), after the
 * forward's stats and delta: bindings q, k, v, dout (f16), lut, stats, then the f16 output.
 */
export function encodeMmaBackward(
  ctx: GpuContext,
  rec: Recorder,
  p: AttentionProblem<OperandData>,
  inp: AttentionInputs,
  dout: GPUBuffer,
  stats: GPUBuffer,
  dq: GPUBuffer,
  dkv: GPUBuffer,
  /** Tuning; default mmaBackwardTile. */
  tile?: MmaBackwardTile,
): void {
  const block = p.layout.block;
  const t = tile ?? mmaBackwardTile(block, p.D, mmaLimits(ctx));
  const R = p.N / block;
  const operands = [inp.q, inp.k, inp.v, dout, inp.tables.buffer, stats];
  const dqProgram = new AttentionDqMmaProgram(block, p.D, p.causal, ctx.subgroupSize, t);
  rec.dispatch(dqProgram, [...operands, dq], attnUniformValues(p, inp.d4, dqProgram, inp.tables, inp.bias, false), p.B * p.H * R * (block / dqProgram.BR));
  const grouped = p.Hkv !== p.H;
  const kvProgram = new AttentionDkDvMmaProgram(block, p.D, p.causal, ctx.subgroupSize, t, grouped);
  rec.dispatch(kvProgram, [...operands, dkv], attnUniformValues(p, inp.d4, kvProgram, inp.tables, inp.bias, true), p.B * (grouped ? p.Hkv : p.H) * R * (block / kvProgram.BR));
}
