// sdd: C = op(A)·op(B) for dense A and B, kept only on the blocks of the layout. A workgroup owns
// one TM × TN tile of one kept block (b, e) and runs the full inner dimension.
import type { MatmulProblem } from '../src/backend.js';
import type { GpuContext } from './context.js';
import { blockEdge, KT, ldDense, MatmulProgram, MM_DIMS, mmInit, mmStoreVec4, runMatmul, type MmTile } from './matmul-common.js';

export class SddProgram extends MatmulProgram {
  readonly name = 'SddProgram';
  readonly uniforms = [
    ...MM_DIMS,
    /** Tiles per block, and per block row of tiles. */
    ['tiles', 'u32'],
    ['tilesN', 'u32'],
    ['rows', 'u32'],
    ['rowOff', 'u32'],
    ['idxOff', 'u32'],
  ] as const;

  constructor(block: number, tile: MmTile, transA: boolean, transB: boolean) {
    super(block, tile, transA, transB, 'vec4<f32>');
  }

  body(): string {
    return `
${this.decls('aBase', 'bBase', 'm0', 'n0', 'k0')}
${ldDense('A', this.transA, 'k0', true)}
${ldDense('B', this.transB, 'k0', true)}
fn run(wg: u32, lid: u32) {
  let tile = wg % u.tiles;
  let be = wg / u.tiles;
  let e = be % u.nnz;
  let bb = be / u.nnz;
  let hr = u32(lut[u.rowOff + e]);
  let h = hr / u.rows;
  let r = hr % u.rows;
  let cb = u32(lut[u.idxOff + e]);
  let bh = bb * u.heads + h;
  let tm0 = (tile / u.tilesN) * TM;
  let tn0 = (tile % u.tilesN) * TN;
  aBase = bh * u.M * u.K;
  bBase = bh * u.K * u.N;
  m0 = r * BLK + tm0;
  n0 = cb * BLK + tn0;
  ${mmInit()}
  for (var kb = 0u; kb < u.K; kb += KT) {
    k0 = kb;
    ${this.step()}
  }
  let o = (be * BLK + tm0 + ty * 4u) * (BLK / 4u) + tn0 / 4u + tx;
  ${mmStoreVec4('BLK / 4u')}
}
`;
  }
}

export async function sdd(ctx: GpuContext, p: MatmulProblem): Promise<Float32Array> {
  const L = p.layout;
  const blk = L.block;
  const edge = blockEdge(blk);
  const tile: MmTile = { TM: edge, TN: edge, KT };
  const tiles = (blk / edge) * (blk / edge);
  return runMatmul(ctx, p, {
    op: 'sdd',
    program: new SddProgram(blk, tile, p.transA, p.transB),
    sparse: 'c',
    outElems: p.B * L.nnz * blk * blk,
    workgroups: p.B * L.nnz * tiles,
    uniforms: (t) => ({ tiles, tilesN: blk / edge, rows: L.rows, rowOff: t.entryRow, idxOff: t.kvIndices }),
  });
}
