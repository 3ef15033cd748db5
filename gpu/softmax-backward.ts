// DeepSpeed's block-sparse softmax backward: dx = y∘(dy − Σ_row y∘dy)·scale, the sum over the kept
// blocks of the token row. A workgroup owns one row: a dot-product pass, a tree sum, a write pass.
import type { SoftmaxBackwardProblem } from '../src/backend.js';
import type { GpuContext } from './context.js';
import { Program, type BindingSpec } from './program.js';
import { ROW_UNIFORMS, ROW_WG, rowConsts, rowUniforms, rowWalk } from './softmax.js';
import { dispatchAndRead, ownUpload } from './sparse-common.js';

export class SoftmaxBackwardProgram extends Program {
  readonly name = 'SoftmaxBackwardProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 'y', access: 'read', elem: 'f32' },
    { name: 'dy', access: 'read', elem: 'f32' },
    { name: 'lut', access: 'read', elem: 'i32' },
    { name: 'dx', access: 'read_write', elem: 'f32' },
  ];
  readonly uniforms = ROW_UNIFORMS;
  readonly workgroupSize = ROW_WG;
  readonly shaderKey: string;

  constructor(readonly block: number) {
    super();
    this.shaderKey = `b${block}/wg${ROW_WG}`;
  }

  body(): string {
    return `
${rowConsts(this.block)}
var<workgroup> rs: array<f32, ${ROW_WG}>;

fn run(wg: u32, lid: u32) {
  ${rowWalk()}
  let rowOff = (b * u.nnz + e0) * BLK * BLK + (i % BLK) * BLK;
  var acc = 0.0;
  for (var t = lid; t < total; t += WG) {
    // Element t sits in block t / BLK, column t % BLK; blocks of one batch are contiguous.
    let at = rowOff + (t / BLK) * BLK * BLK + t % BLK;
    acc = acc + y[at] * dy[at];
  }
  rs[lid] = acc;
  for (var off = WG / 2u; off > 0u; off = off / 2u) {
    workgroupBarrier();
    if (lid < off) { rs[lid] = rs[lid] + rs[lid + off]; }
  }
  workgroupBarrier();
  let dot = rs[0];
  for (var t = lid; t < total; t += WG) {
    let at = rowOff + (t / BLK) * BLK * BLK + t % BLK;
    dx[at] = y[at] * (dy[at] - dot) * u.scale;
  }
}
`;
  }
}

export async function softmaxBackward(ctx: GpuContext, p: SoftmaxBackwardProblem): Promise<Float32Array> {
  const rec = ctx.recorder('softmaxBackward');
  const tables = ctx.layouts.get(p.layout);
  const y = ownUpload(ctx, rec, 'softmaxBackward y (blocks)', p.y);
  const dy = ownUpload(ctx, rec, 'softmaxBackward dy (blocks)', p.dy);
  const bytes = p.y.length * 4;
  const dx = rec.output('softmaxBackward dx (blocks)', bytes);
  return dispatchAndRead(rec, new SoftmaxBackwardProgram(p.layout.block), [y, dy, tables.buffer, dx], rowUniforms(p, tables), p.B * p.H * p.N, {
    buffer: dx,
    bytes,
  });
}
