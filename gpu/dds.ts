// dds: C = op(A)·op(B) for dense A, block-sparse B, dense C. A workgroup owns a TM × TN tile of C in
// block column cb of op(B) and walks that column's kept blocks: the layout's column tables (q*)
// for B, its row tables (kv*) for Bᵀ.
import type { MatmulProblem } from '../src/backend.js';
import type { GpuContext } from './context.js';
import {
  blockEdge, edgeFor, ldBlock, ldDense, MatmulProgram, mmInit, runMatmul, walkBlocks, walkKT, walkTile, WALK_UNIFORMS, walkUniforms, type MmTile,
} from './matmul-common.js';

export class DdsProgram extends MatmulProgram {
  readonly name = 'DdsProgram';
  readonly uniforms = WALK_UNIFORMS;

  constructor(block: number, tile: MmTile, transA: boolean, transB: boolean) {
    super(block, tile, transA, transB, 'vec4<f32>');
  }

  body(): string {
    return `
${this.decls('blkBase', 'nOff', 'kOff', 'aBase', 'kGlob', 'm0')}
${ldDense('A', this.transA, 'kGlob', false)}
${ldBlock('B', this.transB)}
fn run(wg: u32, lid: u32) {
  ${walkTile()}
  m0 = mt * TM;
  let n0 = nt * TN;
  let cb = n0 / BLK;
  nOff = n0 % BLK;
  aBase = bh * u.M * u.K;
  ${mmInit()}
  ${walkBlocks('cb', !this.transB, this.step())}
  let acc = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m < u.M) { c[((bh * u.M + m) * u.N + n0) / 4u + tx] = acc[i]; }
  }
}
`;
  }
}

export async function dds(ctx: GpuContext, p: MatmulProblem): Promise<Float32Array> {
  const L = p.layout;
  const blk = L.block;
  const tile: MmTile = { TM: edgeFor(p.M), TN: blockEdge(blk), KT: walkKT(blk) };
  const mTiles = Math.ceil(p.M / tile.TM);
  const nTiles = p.N / tile.TN;
  return runMatmul(ctx, p, {
    op: 'dds',
    program: new DdsProgram(blk, tile, p.transA, p.transB),
    sparse: 'b',
    outElems: p.B * p.H * p.M * p.N,
    workgroups: p.B * p.H * mTiles * nTiles,
    uniforms: (t) => walkUniforms(p, t, p.transB, mTiles, nTiles),
  });
}
