// What sdd, dsd and dds share. The register-tiled core: a workgroup computes a TM × TN tile of C,
// each thread 4 rows × 4 columns (one vec4 per row), staging KT-deep slices of op(A) and op(B) in
// workgroup memory as Aᵀ [KT][TM] and B [KT][TN] so both are read as vec4. The op supplies
// `fn ldA(mm, kk) -> f32` and `fn ldB(kk, nn) -> f32` (tile-local coordinates, zero outside),
// built from the loaders here. Also: the program base (bindings a, b, lut, c; uniform list), the
// block-table walk of dsd and dds, and the host side (upload, one dispatch, readback).
import type { MatmulProblem } from '../src/backend.js';
import { errors } from '../src/errors.js';
import type { LayoutTables } from './buffers.js';
import type { GpuContext } from './context.js';
import { Program, type BindingSpec, type UniformValues } from './program.js';
import { dispatchAndRead, ownUpload } from './sparse-common.js';

export interface MmTile {
  readonly TM: number;
  readonly TN: number;
  readonly KT: number;
}

export const KT = 16;

export function mmThreads(t: MmTile): number {
  return (t.TM / 4) * (t.TN / 4);
}

/** 16, 32 or 64: the smallest tile edge covering `n` (64 past that). */
export function edgeFor(n: number): number {
  return n <= 16 ? 16 : n <= 32 ? 32 : 64;
}

export function mmKey(t: MmTile): string {
  return `${t.TM}x${t.TN}x${t.KT}`;
}

/** The uniforms every matmul program starts with; `runMatmul` fills them. */
export const MM_DIMS = [
  ['heads', 'u32'],
  ['M', 'u32'],
  ['K', 'u32'],
  ['N', 'u32'],
  ['nnz', 'u32'],
] as const;

/** dsd's and dds's uniforms: a grid of mTiles × nTiles tiles per (batch, head), and the table walked. */
export const WALK_UNIFORMS = [
  ...MM_DIMS,
  ['mTiles', 'u32'],
  ['nTiles', 'u32'],
  /** Lists per head in the table walked (R for kv*, C for q*). */
  ['listStride', 'u32'],
  ['ptrOff', 'u32'],
  ['idxOff', 'u32'],
  ['entOff', 'u32'],
] as const;

/** Bindings a, b, lut, c; the key holds block, tile, transposes and the subclass's `keySuffix`. */
export abstract class MatmulProgram extends Program {
  readonly bindings: readonly BindingSpec[];
  readonly workgroupSize: number;
  readonly shaderKey: string;

  constructor(
    readonly block: number,
    readonly tile: MmTile,
    readonly transA: boolean,
    readonly transB: boolean,
    cElem: 'f32' | 'vec4<f32>',
    keySuffix = '',
  ) {
    super();
    this.workgroupSize = mmThreads(tile);
    this.shaderKey = `b${block}/${mmKey(tile)}/tA${+transA}tB${+transB}${keySuffix}`;
    this.bindings = [
      { name: 'a', access: 'read', elem: 'f32' },
      { name: 'b', access: 'read', elem: 'f32' },
      { name: 'lut', access: 'read', elem: 'i32' },
      { name: 'c', access: 'read_write', elem: cElem },
    ];
  }

  /** WGSL: BLK, the tile's constants and workgroup arrays, and `var<private>` u32s named `privates`. */
  protected decls(...privates: string[]): string {
    return `const BLK = ${this.block}u;
${mmDecls(this.tile)}
${privates.map((n) => `var<private> ${n}: u32;`).join('\n')}`;
  }

  /** `mmStep` with each operand walked along its contiguous direction. */
  protected step(): string {
    return mmStep(!this.transA, !this.transB);
  }
}

export function mmDecls(t: MmTile): string {
  return `const TM = ${t.TM}u;
const TN = ${t.TN}u;
const KT = ${t.KT}u;
const TM4 = ${t.TM / 4}u;
const TN4 = ${t.TN / 4}u;
const WG = ${mmThreads(t)}u;
var<workgroup> as_: array<vec4<f32>, ${(t.KT * t.TM) / 4}>;
var<workgroup> bs_: array<vec4<f32>, ${(t.KT * t.TN) / 4}>;`;
}

/**
 * `fn ldA` / `fn ldB` of dense A (M × K) or B (K × N), read transposed if `trans`, at row / column
 * m0 + mm / n0 + nn and depth `k` + kk; zero past K if `guardK`, else past M / N.
 */
export function ldDense(which: 'A' | 'B', trans: boolean, k: string, guardK: boolean): string {
  const [d, D, args] = which === 'A' ? ['m', 'M', 'mm: u32, kk: u32'] : ['n', 'N', 'kk: u32, nn: u32'];
  const x = which.toLowerCase();
  const kMajor = (which === 'A') === trans; // Aᵀ and B are stored k-major
  return `fn ld${which}(${args}) -> f32 {
  let ${d} = ${d}0 + ${d}${d};
  let k = ${k} + kk;
  if (${guardK ? 'k >= u.K' : `${d} >= u.${D}`}) { return 0.0; }
  return ${x}[${x}Base + ${kMajor ? `k * u.${D} + ${d}` : `${d} * u.K + k`}];
}`;
}

/** `fn ldA` / `fn ldB` of the stored block at blkBase (BLK × BLK, read transposed if `trans`), from kOff along K. */
export function ldBlock(which: 'A' | 'B', trans: boolean): string {
  const [args, row, col] = which === 'A' ? ['mm: u32, kk: u32', 'mOff + mm', 'kOff + kk'] : ['kk: u32, nn: u32', 'kOff + kk', 'nOff + nn'];
  return `fn ld${which}(${args}) -> f32 {
  let row = ${row};
  let col = ${col};
  return ${which.toLowerCase()}[blkBase + ${trans ? 'col * BLK + row' : 'row * BLK + col'}];
}`;
}

/** Declares the thread's coordinates and accumulators c0..c3 (rows ty·4 + i, columns tx·4 ..). */
export function mmInit(): string {
  return `let tx = lid % TN4;
  let ty = lid / TN4;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);`;
}

/**
 * Stages one KT slice and accumulates it. `aAlongK` / `bAlongN`: whether consecutive threads
 * should walk k (resp. n), i.e. whether that is the operand's contiguous direction in memory.
 */
export function mmStep(aAlongK: boolean, bAlongN: boolean): string {
  return `workgroupBarrier();
    for (var idx = lid; idx < TM * KT; idx += WG) {
      let mm = ${aAlongK ? 'idx / KT' : 'idx % TM'};
      let kk = ${aAlongK ? 'idx % KT' : 'idx / TM'};
      as_[kk * TM4 + mm / 4u][mm % 4u] = ldA(mm, kk);
    }
    for (var idx = lid; idx < KT * TN; idx += WG) {
      let nn = ${bAlongN ? 'idx % TN' : 'idx / KT'};
      let kk = ${bAlongN ? 'idx / TN' : 'idx % KT'};
      bs_[kk * TN4 + nn / 4u][nn % 4u] = ldB(kk, nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      let av = as_[kk * TM4 + ty];
      let bv = bs_[kk * TN4 + tx];
      c0 = fma(vec4<f32>(av.x), bv, c0);
      c1 = fma(vec4<f32>(av.y), bv, c1);
      c2 = fma(vec4<f32>(av.z), bv, c2);
      c3 = fma(vec4<f32>(av.w), bv, c3);
    }`;
}

/** Stores c0..c3 as vec4 at c[o], c[o + stride], .. (`stride` in vec4s). */
export function mmStoreVec4(stride: string): string {
  return `c[o] = c0;
  c[o + ${stride}] = c1;
  c[o + 2u * ${stride}] = c2;
  c[o + 3u * ${stride}] = c3;`;
}

/** dsd / dds: splits wg into tile (mt, nt) of (batch bb, head h), bh = bb·heads + h. */
export function walkTile(): string {
  return `let nt = wg % u.nTiles;
  let t1 = wg / u.nTiles;
  let mt = t1 % u.mTiles;
  let bh = t1 / u.mTiles;
  let h = bh % u.heads;
  let bb = bh / u.heads;`;
}

/** The largest divisor of `n` that is a multiple of `step` and at most `max` (0 if none). */
function largestDivisor(n: number, max: number, step: number): number {
  for (let d = Math.min(n, max) - (Math.min(n, max) % step); d > 0; d -= step) if (n % d === 0) return d;
  return 0;
}

/**
 * The tile edge along a block (sdd's tiles, dsd's TM, dds's TN): the largest multiple of 4 up to
 * 64 that divides `block`, so a tile never straddles two blocks (96 → 48, not 64). The programs
 * read blocks as vec4 rows: a block that is not a multiple of 4 is a RangeError.
 */
export function blockEdge(block: number): number {
  const edge = largestDivisor(block, 64, 4);
  if (edge === 0) throw errors.gpuMatmulBlock(block);
  return edge;
}

/**
 * The K slice of a program that walks blocks (walkBlocks): it divides the block, since ldBlock
 * and the dense operand are not guarded at the block's edge (24 → 12, 40 → 10, not 16). The
 * accumulation runs along k in the same order whatever the slice, so this changes no bits.
 */
export function walkKT(block: number): number {
  return largestDivisor(block, KT, 1);
}

/**
 * dsd / dds: walks list h·listStride + `block` of the table (ptrOff, idxOff): for each kept block,
 * blkBase is its entry's data and `step` runs once per KT slice, kOff within the block and kGlob
 * along K. `viaEntries`: the table is q* (column order), whose entry index is qEntries[t] (entOff);
 * in kv* it is t itself.
 */
export function walkBlocks(block: string, viaEntries: boolean, step: string): string {
  return `let list = h * u.listStride + ${block};
  let t0 = u32(lut[u.ptrOff + list]);
  let t2 = u32(lut[u.ptrOff + list + 1u]);
  for (var t = t0; t < t2; t++) {
    let kb = u32(lut[u.idxOff + t]);
    let e = ${viaEntries ? 'u32(lut[u.entOff + t])' : 't'};
    blkBase = (bb * u.nnz + e) * BLK * BLK;
    for (var kc = 0u; kc < BLK; kc += KT) {
      kOff = kc;
      kGlob = kb * BLK + kc;
      ${step}
    }
  }`;
}

/** dsd / dds: WALK_UNIFORMS after MM_DIMS, walking the row tables (kv*) if `rowTables`, else the column tables (q*). */
export function walkUniforms(p: MatmulProblem, t: LayoutTables, rowTables: boolean, mTiles: number, nTiles: number): UniformValues {
  return {
    mTiles,
    nTiles,
    listStride: rowTables ? p.layout.rows : p.layout.cols,
    ptrOff: rowTables ? t.kvPtr : t.qPtr,
    idxOff: rowTables ? t.kvIndices : t.qIndices,
    entOff: t.qEntries,
  };
}

export interface MatmulPlan {
  /** Names the recorder and buffers. */
  readonly op: 'sdd' | 'dsd' | 'dds';
  readonly program: MatmulProgram;
  /** The operand stored as blocks (it only names buffers). */
  readonly sparse: 'a' | 'b' | 'c';
  /** Elements of C. */
  readonly outElems: number;
  readonly workgroups: number;
  /** The uniforms after MM_DIMS, given the layout's tables. */
  readonly uniforms: (t: LayoutTables) => UniformValues;
}

/** Uploads A and B, runs `plan.program` over (a, b, the layout's tables, c) and reads back C. */
export async function runMatmul(ctx: GpuContext, p: MatmulProblem, plan: MatmulPlan): Promise<Float32Array> {
  const rec = ctx.recorder(`matmul ${plan.op}`);
  const tables = ctx.layouts.get(p.layout);
  const label = (x: 'a' | 'b' | 'c') => `${plan.op} ${x}${plan.sparse === x ? ' (blocks)' : ''}`;
  const a = ownUpload(ctx, rec, label('a'), p.a);
  const b = ownUpload(ctx, rec, label('b'), p.b);
  const bytes = plan.outElems * 4;
  const c = rec.output(label('c'), bytes);
  const dims = { heads: p.H, M: p.M, K: p.K, N: p.N, nnz: p.layout.nnz };
  return dispatchAndRead(rec, plan.program, [a, b, tables.buffer, c], { ...dims, ...plan.uniforms(tables) }, plan.workgroups, {
    buffer: c,
    bytes,
  });
}
