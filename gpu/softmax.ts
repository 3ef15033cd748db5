// Block-sparse softmax in DeepSpeed's block format: y = softmax(x·scale + rpe + kpm + am) along each
// token row over the kept blocks of its block row (kv* tables); causal masks keys after the query.
// A workgroup owns one token row: an online (max, sum) pass, a tree merge, then the write pass.
// The row set-up (uniforms, WGSL prelude and row walk) is shared with softmax-backward.ts.
import type { SoftmaxBackwardProblem, SoftmaxProblem } from '../src/backend.js';
import { biasFn, flagsKey, type AttnFlags } from './attention-common.js';
import { MASKED, THRESH, uploadBias, type LayoutTables } from './buffers.js';
import type { GpuContext } from './context.js';
import { Program, type BindingSpec } from './program.js';
import { dispatchAndRead, ownUpload } from './sparse-common.js';

export const ROW_WG = 64;

/** The uniforms both row programs start with; `rowUniforms` fills them. */
export const ROW_UNIFORMS = [
  ['heads', 'u32'],
  ['n', 'u32'],
  ['rows', 'u32'],
  ['nnz', 'u32'],
  ['scale', 'f32'],
  ['ptrOff', 'u32'],
] as const;

export function rowUniforms(p: SoftmaxProblem | SoftmaxBackwardProblem, tables: LayoutTables) {
  return { heads: p.H, n: p.N, rows: p.layout.rows, nnz: p.layout.nnz, scale: p.scale, ptrOff: tables.kvPtr };
}

/** WGSL constants BLK and WG. */
export function rowConsts(block: number): string {
  return `const BLK = ${block}u;
const WG = ${ROW_WG}u;`;
}

/** WGSL: workgroup wg's token row i of (b, h), bh = b·heads + h; its kept entries e0 .., `total` elements. */
export function rowWalk(): string {
  return `let i = wg % u.n;
  let bh = wg / u.n;
  let h = bh % u.heads;
  let b = bh / u.heads;
  let list = h * u.rows + i / BLK;
  let e0 = u32(lut[u.ptrOff + list]);
  let total = (u32(lut[u.ptrOff + list + 1u]) - e0) * BLK;`;
}

export class SoftmaxProgram extends Program {
  readonly name = 'SoftmaxProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 'x', access: 'read', elem: 'f32' },
    { name: 'lut', access: 'read', elem: 'i32' },
    { name: 'bias', access: 'read', elem: 'f32' },
    { name: 'y', access: 'read_write', elem: 'f32' },
  ];
  readonly uniforms = [...ROW_UNIFORMS, ['idxOff', 'u32'], ['rpeOff', 'u32'], ['kpmOff', 'u32'], ['amOff', 'u32']] as const;
  readonly workgroupSize = ROW_WG;
  readonly shaderKey: string;

  constructor(
    readonly block: number,
    readonly flags: AttnFlags,
  ) {
    super();
    this.shaderKey = `b${block}/${flagsKey(flags)}/wg${ROW_WG}`;
  }

  body(): string {
    return `
${rowConsts(this.block)}
const MASKED = ${MASKED.toExponential()};
const THRESH = ${THRESH.toExponential()};
var<workgroup> rm: array<f32, ${ROW_WG}>;
var<workgroup> rl: array<f32, ${ROW_WG}>;
${biasFn(this.flags)}

/** The modified score of element t of the row (its entry e0 + t / BLK), MASKED where masked. */
fn score(bh: u32, b: u32, i: u32, e: u32, jj: u32) -> f32 {
  let j = u32(lut[u.idxOff + e]) * BLK + jj;
  let ii = i % BLK;
  let s = x[((b * u.nnz + e) * BLK + ii) * BLK + jj] * u.scale + biasAt(bh, b, i, j);
  ${this.flags.causal ? 'if (j > i) { return MASKED; }' : ''}
  return select(MASKED, s, s > THRESH);
}

fn run(wg: u32, lid: u32) {
  ${rowWalk()}
  var m = MASKED;
  var l = 0.0;
  for (var t = lid; t < total; t += WG) {
    let s = score(bh, b, i, e0 + t / BLK, t % BLK);
    if (s > THRESH) {
      let mn = max(m, s);
      l = l * exp(m - mn) + exp(s - mn);
      m = mn;
    }
  }
  rm[lid] = m;
  rl[lid] = l;
  for (var off = WG / 2u; off > 0u; off = off / 2u) {
    workgroupBarrier();
    if (lid < off) {
      let m2 = rm[lid + off];
      let mn = max(rm[lid], m2);
      rl[lid] = rl[lid] * exp(rm[lid] - mn) + rl[lid + off] * exp(m2 - mn);
      rm[lid] = mn;
    }
  }
  workgroupBarrier();
  let mx = rm[0];
  let sum = rl[0];
  let inv = select(0.0, 1.0 / max(sum, 1e-30), sum > 0.0);
  for (var t = lid; t < total; t += WG) {
    let e = e0 + t / BLK;
    let s = score(bh, b, i, e, t % BLK);
    y[((b * u.nnz + e) * BLK + i % BLK) * BLK + t % BLK] = select(0.0, exp(s - mx) * inv, s > THRESH);
  }
}
`;
  }
}

export async function softmax(ctx: GpuContext, p: SoftmaxProblem): Promise<Float32Array> {
  const rec = ctx.recorder('softmax');
  const tables = ctx.layouts.get(p.layout);
  const x = ownUpload(ctx, rec, 'softmax x (blocks)', p.x);
  const bias = uploadBias((label, parts) => rec.input(label, parts), p);
  const bytes = p.x.length * 4;
  const y = rec.output('softmax y (blocks)', bytes);
  const flags: AttnFlags = { causal: p.causal, hasRpe: bias.hasRpe, hasKpm: bias.hasKpm, hasAm: bias.hasAm, general: false };
  return dispatchAndRead(
    rec,
    new SoftmaxProgram(p.layout.block, flags),
    [x, tables.buffer, bias.buffer, y],
    { ...rowUniforms(p, tables), idxOff: tables.kvIndices, rpeOff: bias.rpeOff, kpmOff: bias.kpmOff, amOff: bias.amOff },
    p.B * p.H * p.N,
    { buffer: y, bytes },
  );
}
