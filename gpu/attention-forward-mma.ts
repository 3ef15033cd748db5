// Block-sparse attention forward on the GPU's matrix units (WGSL's experimental subgroup matrices,
// `chromium-experimental-subgroup-matrix`): f16 q, k, v; S = Q·Kᵀ and O += P·V as 16×16×16 f16
// multiplies into f32 results; softmax in f32 on the lanes. Each subgroup owns 16·groups query rows
// of one block row, keeps their Q fragments in registers and walks the kept key blocks BC keys at a
// time (K and V read from memory, or staged in workgroup memory and shared by the subgroups):
//   S tiles (result matrices) → workgroup memory → lanes: scale, causal mask, online max and sum,
//   P as f16 → P·V into O, which stays in result matrices across the steps.
// Result matrices are opaque (no per-row scaling in WGSL), so O is rescaled lazily: P is taken
// against a stale max until some row's max grows past 2^RESCALE_LOG2 (FlashAttention-4's trick; P
// stays well inside f16), and only then does O go through workgroup memory for the lanes to scale.
// Each subgroup has its own slice of workgroup memory; the matrix builtins need workgroup-uniform
// control flow, which workgroupUniformLoad of the rescale flag gives.
import type { AttentionProblem, OperandData } from '../src/backend.js';
import { beyondSelfAttention } from '../src/backend.js';
import { ATTN_UNIFORMS, attentionInputBindings, attnUniformValues, decodeWorkgroup } from './attention-common.js';
import { MASKED, THRESH } from './buffers.js';
import type { AttentionInputs, ForwardDispatch } from './attention-forward.js';
import type { GpuContext } from './context.js';
import { each, LEFT, mmaLimits, MmaProgram, PAD, range, RESULT, RIGHT, stageTiles, type MmaLimits } from './mma-program.js';
import type { BindingSpec, UniformFields } from './program.js';

/** The work of one workgroup: row groups of 16 per subgroup, subgroups, keys per step. */
export interface MmaTile {
  readonly groups: number;
  readonly subgroups: number;
  readonly keys: number;
  /** Whether K and V tiles are staged in workgroup memory (coalesced loads shared by the subgroups). */
  readonly stage: boolean;
  /**
   * Staged in two buffers, step by step in turn: a step's staging cannot overwrite tiles the one
   * before is still reading (every subgroup passed that step's first barrier), so a step ends
   * without a barrier.
   */
  readonly double?: boolean;
}

/** The growth of a row's max (log2 domain) past which O is rescaled: P stays ≤ 256. */
const RESCALE_LOG2 = 8;

export class AttentionForwardMmaProgram extends MmaProgram {
  readonly name = 'AttentionForwardMmaProgram';
  readonly uniforms = ATTN_UNIFORMS;
  readonly bindings: readonly BindingSpec[];
  readonly workgroupSize: number;
  readonly shaderKey: string;
  /** Keys per step. */
  readonly BC: number;
  /** Query rows per workgroup: `subgroupsPer` subgroups of `groups` row groups of 16 (each K/V fragment serves every group of its subgroup). */
  readonly BR: number;

  constructor(
    readonly block: number,
    readonly D: number,
    readonly causal: boolean,
    /** Lanes per subgroup (16, 32 or 64). */
    readonly lanes: number,
    /** Whether out is f16 (else f32). */
    readonly halfOut: boolean,
    readonly tile: MmaTile,
  ) {
    super();
    this.BC = tile.keys;
    this.BR = 16 * tile.groups * tile.subgroups;
    this.workgroupSize = lanes * tile.subgroups;
    this.shaderKey = `b${block}/d${D}/c${+causal}/sg${lanes}/o${halfOut ? 'h' : 'f'}/${mmaTileName(tile)}`;
    this.bindings = [
      // bias unread: the forward programs share one binding list (forwardDispatch)
      ...attentionInputBindings('f16', tile.stage ? 'vec4<f16>' : 'f16'),
      { name: 'out', access: 'read_write', elem: halfOut ? 'f16' : 'f32' },
      { name: 'stats', access: 'read_write', elem: 'f32' },
    ];
  }

  /** Bytes of workgroup memory the program declares. */
  static workgroupBytes(D: number, t: MmaTile): number {
    const staged = t.stage ? 2 * t.keys * (D + 2 * PAD) * 2 * (t.double ? 2 : 1) : 0;
    return 16 * t.groups * t.subgroups * ((t.keys + PAD) * 4 + (t.keys + 2 * PAD) * 2) + staged;
  }

  body(): string {
    const { block, D, BC, lanes } = this;
    const G = this.tile.groups;
    const GR = 16 * G; // rows per subgroup
    const D16 = D / 16;
    const NJ = BC / 16;
    const LPR = lanes / 16; // lanes per query row
    const CPL = BC / LPR; // score columns per lane
    const WS = BC + PAD; // row stride of the f32 scratch (S, or 16 columns of O at a time)
    const PS = BC + 2 * PAD; // row stride of P (f16): 16-byte rows off the bank period
    const KS = D + 2 * PAD; // row stride of the staged K and V (f16)
    const stage = this.tile.stage;
    const double = stage && this.tile.double === true;
    const half = `${BC * KS}u`; // one staged buffer's halves
    const bo = double ? 'bo + ' : '';
    const xorSteps = range(Math.log2(LPR)).map((i) => 1 << i);
    const rowMax = (v: string) => xorSteps.map((s) => `${v} = max(${v}, subgroupShuffleXor(${v}, ${s}u));`).join(' ');
    const rowSum = (v: string) => xorSteps.map((s) => `${v} = ${v} + subgroupShuffleXor(${v}, ${s}u);`).join(' ');
    const [L, Rt, Res] = [LEFT, RIGHT, RESULT];
    const causal = this.causal;
    // lane (lr, lc) holds row lr of every group, columns lc, lc + LPR, ... (scratch rows padded by PAD)
    const storeO = (dj: number, indent: string) => each(G, (g) => `${indent}subgroupMatrixStore(&sS, sOff + ${g * 16 * WS}u, o${g}_${dj}, false, WS);`);
    const softmax = (g: number) => `      {
${each(CPL, (i) => `        var x${i} = sS[sBase + ${g * 16 * WS + i * LPR}u] * sc;`)}
${causal ? each(CPL, (i) => `        if (diag && key0 + lc + ${i * LPR}u > qpos${g}) { x${i} = MASKED; }`) : ''}
        var mx = max(${range(CPL).map((i) => `x${i}`).reduce((a, b) => `max(${a}, ${b})`)}, MASKED);
        ${rowMax('mx')}
        let grow = mx > m${g} + ${RESCALE_LOG2}.0f;
        if (grow) { rescale = 1u; }
        let mNew = select(m${g}, mx, grow);
        alpha${g} = exp2(m${g} - mNew);
${each(CPL, (i) => `        let p${i} = select(exp2(x${i} - mNew), 0.0f, x${i} <= THRESH);`)}
${each(CPL, (i) => `        sP[pBase + ${g * 16 * PS + i * LPR}u] = f16(p${i});`)}
        var sum = ${range(CPL).map((i) => `p${i}`).join(' + ')};
        ${rowSum('sum')}
        l${g} = l${g} * alpha${g} + sum;
        m${g} = mNew;
      }`;
    return `
const MASKED = ${MASKED.toExponential()}f;
const THRESH = ${THRESH.toExponential()}f;
const D = ${D}u;
const BLK = ${block}u;
const BC = ${BC}u;
const BR = ${this.BR}u;
const WS = ${WS}u;
var<workgroup> sS: array<f32, ${this.BR * WS}>;
var<workgroup> sP: array<f16, ${this.BR * PS}>;
var<workgroup> rescale: u32; // a row of the workgroup grew its max past the lazy bound this step${stage ? `
var<workgroup> sK: array<f16, ${BC * KS * (double ? 2 : 1)}>;
var<workgroup> sV: array<f16, ${BC * KS * (double ? 2 : 1)}>;` : ''}

fn run(wg: u32, lid: u32, lane: u32, sgi: u32) {
  ${decodeWorkgroup('t', 'r')}
  let sc = u.scale * ${Math.LOG2E}f; // scores in the log2 domain (exp2)
  let wrow0 = r * BLK + t * BR; // the workgroup's first query row
  let qrow0 = wrow0 + sgi * ${GR}u; // this subgroup's
  let qb = (bh * u.n + qrow0) * D;
  let sOff = sgi * ${GR * WS}u; // this subgroup's slices of the scratch
  let pOff = sgi * ${GR * PS}u;
${each(G, (g) => each(D16, (kd) => `  let q${g}_${kd} = subgroupMatrixLoad<${L}>(&q, qb + ${g * 16 * D + kd * 16}u, false, D);`))}
  let lr = lane / ${LPR}u; // this lane's row in each group of 16
  let lc = lane % ${LPR}u;
  let sBase = sOff + lr * WS + lc;
  let pBase = pOff + lr * ${PS}u + lc;
${each(G, (g) => `  let qpos${g} = qrow0 + ${g * 16}u + lr;
  var m${g} = MASKED;
  var l${g} = 0.0f;
  var alpha${g} = 1.0f;
${each(D16, (dj) => `  var o${g}_${dj} = ${Res}();`)}`)}
  let e0 = u32(lut[u.ptrOff + hr]);
  let e1 = u32(lut[u.ptrOff + hr + 1u]);
${double ? '  var st = 0u; // steps taken: the staged buffer of a step is st % 2\n' : ''}  for (var e = e0; e < e1; e++) {
    let c = u32(lut[u.idxOff + e]);
    ${causal ? 'if (c > r) { break; }\n    let diag = c == r;' : ''}
    for (var kt = 0u; kt < ${block / BC}u; kt++) {
      let key0 = c * BLK + kt * BC;
      ${causal ? 'if (key0 > wrow0 + BR - 1u) { break; } // above every row of the workgroup' : ''}
      let kb = (kvBase + key0) * D;${double ? `
      let bo = (st & 1u) * ${half};
      st++;` : ''}${stage ? `
${stageTiles(['sK', 'sV'], ['k', 'v'], 'kb', BC, D, this.workgroupSize, `${KS}u`, ['kv', 'vv'], double ? 'bo' : '')}` : ''}
${each(G, (g) => each(NJ, (j) => `      var s${g}_${j} = ${Res}();`))}
${each(D16, (kd) =>
  each(NJ, (j) => `      {
        let kf = ${stage ? `subgroupMatrixLoad<${Rt}>(&sK, ${bo}${j * 16 * KS + kd * 16}u, true, ${KS}u)` : `subgroupMatrixLoad<${Rt}>(&k, kb + ${j * 16 * D + kd * 16}u, true, D)`};
${each(G, (g) => `        s${g}_${j} = subgroupMatrixMultiplyAccumulate(q${g}_${kd}, kf, s${g}_${j});`)}
      }`))}
${each(G, (g) => each(NJ, (j) => `      subgroupMatrixStore(&sS, sOff + ${g * 16 * WS + j * 16}u, s${g}_${j}, false, WS);`))}
      workgroupBarrier();
${each(G, softmax)}
      if (workgroupUniformLoad(&rescale) != 0u) {
        // O through workgroup memory 16 columns at a time, each lane scaling its row by its alpha (1 for rows that kept their max)
${each(D16, (dj) => `${storeO(dj, '        ')}
        workgroupBarrier();
${each(G, (g) => each(16 / LPR, (j) => `        sS[sBase + ${g * 16 * WS + j * LPR}u] *= alpha${g};`))}
        workgroupBarrier();
${each(G, (g) => `        o${g}_${dj} = subgroupMatrixLoad<${Res}>(&sS, sOff + ${g * 16 * WS}u, false, WS);`)}
        workgroupBarrier();`)}
        if (lid == 0u) { rescale = 0u; } // set again only after the next step's first barrier
      }
${each(G, (g) => each(NJ, (kc) => `      let pf${g}_${kc} = subgroupMatrixLoad<${L}>(&sP, pOff + ${g * 16 * PS + kc * 16}u, false, ${PS}u);`))}
${each(D16, (dj) => `      {
${each(NJ, (kc) => `        let vf${kc} = ${stage ? `subgroupMatrixLoad<${Rt}>(&sV, ${bo}${kc * 16 * KS + dj * 16}u, false, ${KS}u)` : `subgroupMatrixLoad<${Rt}>(&v, kb + ${kc * 16 * D + dj * 16}u, false, D)`};`)}
${each(G, (g) => each(NJ, (kc) => `        o${g}_${dj} = subgroupMatrixMultiplyAccumulate(pf${g}_${kc}, vf${kc}, o${g}_${dj});`))}
      }`)}
${stage && !double ? '      workgroupBarrier(); // the staged V is read before the next step overwrites it' : ''}
    }
  }
${each(G, (g) => `  let inv${g} = select(0.0f, 1.0f / l${g}, l${g} > 0.0f);
  if (lc == 0u) { stats[bh * u.n + qpos${g}] = select(MASKED, (m${g} + log2(l${g})) * ${Math.LN2}f, l${g} > 0.0f); }`)}
${each(D16, (dj) => `${storeO(dj, '  ')}
  workgroupBarrier();
${each(G, (g) => `  {
    let ob = (bh * u.n + qpos${g}) * D + ${dj * 16}u + lc;
${each(16 / LPR, (j) => {
  const o = `sS[sBase + ${g * 16 * WS + j * LPR}u]`;
  return `    out[ob + ${j * LPR}u] = ${this.halfOut ? `f16(${o} * inv${g})` : `${o} * inv${g}`};`;
})}
  }`)}
  workgroupBarrier();`)}
}`;
  }
}

/** A tile's name in shader keys and benchmark labels: g(groups)n(subgroups)k(keys), t staged (d: in two buffers). */
export function mmaTileName(t: MmaTile): string {
  return `g${t.groups}n${t.subgroups}k${t.keys}${t.stage ? (t.double ? 'd' : 't') : ''}`;
}

/**
 * The tile for a block and head dim: the first of MMA_TILES (fastest first on the GPU machine:
 * bench/results/issue-16-h200) that fits the block, the device's threads per workgroup and its workgroup memory.
 */
export function mmaTile(block: number, D: number, limits: MmaLimits): MmaTile {
  const fits = (t: MmaTile) =>
    t.keys <= block && 16 * t.groups * t.subgroups <= block &&
    limits.lanes * t.subgroups <= limits.invocations && AttentionForwardMmaProgram.workgroupBytes(D, t) <= limits.bytes;
  return MMA_TILES.find(fits) ?? { groups: 1, subgroups: 1, keys: 16, stage: false };
}

/** The forward's tiles, in the order mmaTile tries them (exported for bench/gpu/mma.ts's sweep). */
export const MMA_TILES: readonly MmaTile[] = [
  // fastest first (bench/results/issue-16-h200/2026-12-03-backward)
  { groups: 1, subgroups: 8, keys: 16, stage: true },
  { groups: 1, subgroups: 4, keys: 64, stage: true },
  { groups: 1, subgroups: 4, keys: 16, stage: true },
  { groups: 2, subgroups: 1, keys: 32, stage: false },
  { groups: 1, subgroups: 1, keys: 32, stage: false },
  { groups: 1, subgroups: 1, keys: 16, stage: false },
];

/**
 * Why problem `p` cannot take the matrix-unit forward on this context, or null when it can: the
 * self-attention fast path (no masks or rpe), D a multiple of 16 up to 256, block a multiple of 16,
 * and the workgroup memory the tile needs.
 */
export function mmaForwardBlocker(ctx: GpuContext, p: AttentionProblem<OperandData>): string | null {
  if (!ctx.matrix.available) return ctx.matrix.reason;
  if (![16, 32, 64].includes(ctx.subgroupSize)) return `subgroups of ${ctx.subgroupSize || 'unknown'} lanes (16, 32 or 64 needed)`;
  const beyond = beyondSelfAttention(p);
  if (beyond) return `${beyond} (the matrix-unit forward takes self-attention shapes)`;
  if (p.rpe || p.keyPadding || p.attnMask) return 'rpe or masks (the matrix-unit forward takes none)';
  if (p.D % 16 !== 0 || p.D > 256) return `head dim ${p.D} (a multiple of 16 up to 256 needed)`;
  const block = p.layout.block;
  if (block % 16 !== 0) return `block ${block} (a multiple of 16 needed)`;
  const bytes = AttentionForwardMmaProgram.workgroupBytes(p.D, mmaTile(block, p.D, mmaLimits(ctx)));
  if (bytes > ctx.limits.maxComputeWorkgroupStorageSize) return `${bytes} bytes of workgroup memory (the device allows ${ctx.limits.maxComputeWorkgroupStorageSize})`;
  return null;
}

/**
 * The matrix-unit forward as forwardDispatch returns it (mmaForwardBlocker(ctx, p) must be null):
 * bindings q, k, v (f16), lut, bias (unread), out (f16 with `halfOut`, else f32), stats.
 */
export function mmaForwardDispatch(
  ctx: GpuContext,
  p: AttentionProblem<OperandData>,
  inp: AttentionInputs,
  halfOut: boolean,
  /** Tuning; default mmaTile. */
  tile?: MmaTile,
): ForwardDispatch {
  const block = p.layout.block;
  const program = new AttentionForwardMmaProgram(block, p.D, p.causal, ctx.subgroupSize, halfOut, tile ?? mmaTile(block, p.D, mmaLimits(ctx)));
  return {
    program,
    uniforms: attnUniformValues(p, inp.d4, program, inp.tables, inp.bias, false),
    workgroups: p.B * p.H * (p.N / block) * (block / program.BR),
  };
}
