// dsd: C = op(A)·op(B) for block-sparse A, dense B and C. A workgroup owns a TM × TN tile of C in
// block row rb of op(A) and walks that row's kept blocks: the layout's row tables (kv*) for A, its
// column tables (q*, the transpose) for Aᵀ.
import type { MatmulProblem } from '../src/backend.js';
import type { GpuContext } from './context.js';
import {
  blockEdge, edgeFor, ldBlock, ldDense, MatmulProgram, mmInit, mmStoreVec4, runMatmul, walkBlocks, walkKT, walkTile, WALK_UNIFORMS, walkUniforms, type MmTile,
} from './matmul-common.js';

export class DsdProgram extends MatmulProgram {
  readonly name = 'DsdProgram';
  readonly uniforms = WALK_UNIFORMS;

  /** `vecOut`: N is a multiple of 4, so rows of C are stored as vec4. */
  constructor(
    block: number,
    tile: MmTile,
    transA: boolean,
    transB: boolean,
    readonly vecOut: boolean,
  ) {
    super(block, tile, transA, transB, vecOut ? 'vec4<f32>' : 'f32', `/v${+vecOut}`);
  }

  body(): string {
    const store = this.vecOut
      ? `if (n0 + tx * 4u < u.N) {
    let o = ((bh * u.M + row0) * u.N + n0) / 4u + tx;
    ${mmStoreVec4('u.N / 4u')}
  }`
      : `let acc = array<vec4<f32>, 4>(c0, c1, c2, c3);
  for (var i = 0u; i < 4u; i++) {
    for (var q = 0u; q < 4u; q++) {
      let n = n0 + tx * 4u + q;
      if (n < u.N) { c[(bh * u.M + row0 + i) * u.N + n] = acc[i][q]; }
    }
  }`;
    return `
${this.decls('blkBase', 'mOff', 'kOff', 'bBase', 'kGlob', 'n0')}
${ldBlock('A', this.transA)}
${ldDense('B', this.transB, 'kGlob', false)}
fn run(wg: u32, lid: u32) {
  ${walkTile()}
  let m0 = mt * TM;
  let rb = m0 / BLK;
  mOff = m0 % BLK;
  n0 = nt * TN;
  bBase = bh * u.K * u.N;
  ${mmInit()}
  ${walkBlocks('rb', this.transA, this.step())}
  let row0 = m0 + ty * 4u;
  ${store}
}
`;
  }
}

export async function dsd(ctx: GpuContext, p: MatmulProblem): Promise<Float32Array> {
  const L = p.layout;
  const blk = L.block;
  const tile: MmTile = { TM: blockEdge(blk), TN: edgeFor(p.N), KT: walkKT(blk) };
  const mTiles = p.M / tile.TM;
  const nTiles = Math.ceil(p.N / tile.TN);
  return runMatmul(ctx, p, {
    op: 'dsd',
    program: new DsdProgram(blk, tile, p.transA, p.transB, p.N % 4 === 0),
    sparse: 'a',
    outElems: p.B * p.H * p.M * p.N,
    workgroups: p.B * p.H * mTiles * nTiles,
    uniforms: (t) => walkUniforms(p, t, !p.transA, mTiles, nTiles),
  });
}
