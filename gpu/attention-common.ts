// What the fused attention kernels (forward, dQ, dK/dV) share: the register-tile shape, its choice
// under the device's workgroup-memory limit, the uniform struct, the additive score bias, and WGSL
// generators for the cooperative tile loads. Loops over a thread's registers are unrolled here in
// JS, so the WGSL indexes its accumulators with constants only (no local-memory spills).
import { beyondSelfAttention, type AttentionProblem, type OperandData } from '../src/backend.js';
import { qOffsetOf, type BiasBuffer, type LayoutTables } from './buffers.js';
import { Program, type BindingSpec, type UniformFields, type UniformValues } from './program.js';
import { errors } from '../src/errors.js';

export const C4 = ['x', 'y', 'z', 'w'] as const;

/**
 * Where a kernel loads vec4<f32> from: a binding read as it is (its name), or any expression of the
 * index (an f16 binding widened at the load: `operand`).
 */
export type Source = string | ((index: string) => string);

/** The WGSL load of `src` at `index`, as vec4<f32>. */
export function sourceAt(src: Source, index: string): string {
  return typeof src === 'function' ? src(index) : `${src}[${index}]`;
}

/** Binding `name` as a Source: read as it is (f32), or f16 widened to f32 at each load (`half`). */
export function operand(name: string, half: boolean): Source {
  return half ? (i) => `vec4<f32>(${name}[${i}])` : name;
}

/** The element of q, k, v, dout and their results' bindings: vec4<f16> in the half programs. */
export const vec4Elem = (half: boolean): 'vec4<f32>' | 'vec4<f16>' => (half ? 'vec4<f16>' : 'vec4<f32>');

/** The forward and decode programs' first bindings, q, k, v, lut, bias (their outputs follow). */
export function attentionInputBindings(q: BindingSpec['elem'], kv: BindingSpec['elem'] = q): BindingSpec[] {
  return [
    { name: 'q', access: 'read', elem: q },
    { name: 'k', access: 'read', elem: kv },
    { name: 'v', access: 'read', elem: kv },
    { name: 'lut', access: 'read', elem: 'i32' },
    { name: 'bias', access: 'read', elem: 'f32' },
  ];
}

/** A store of vec4<f32> `value` into an f16 binding (`half`) or an f32 one. */
export const stored = (value: string, half: boolean): string => (half ? `vec4<f16>(${value})` : value);

/** Bytes per stored value of q, k, v, dout and their results: 2 in the half programs. */
export const elemBytes = (half: boolean): number => (half ? 2 : 4);

/**
 * A workgroup owns BR rows (queries in forward and dQ, keys in dK/dV) and walks the other side in
 * chunks of BC. Thread (ty, tx) holds RM rows × RN columns of the score tile, as RM/4 groups of 4
 * rows strided by TY·4 and RN/4 groups of 4 columns strided by TX·4, and OC vec4 columns of the
 * output rows (column tx + k·TX).
 */
export interface AttnTile {
  readonly BR: number;
  readonly BC: number;
  readonly TY: number;
  readonly TX: number;
  readonly RM: number;
  readonly RN: number;
  /** Head-dim chunk of the score products, in floats (a multiple of 4). */
  readonly DK: number;
  /** Rows of V (or K, dO, Q) staged at a time for the second product. */
  readonly VK: number;
  /** vec4 output columns per thread: ceil(d4 / TX). */
  readonly OC: number;
  /** Forward only: keep all of Qᵀ in workgroup memory for the whole key loop. */
  readonly qResident: boolean;
  /** d4 is a multiple of DK/4 (no guard on the chunk loads). */
  readonly dkExact: boolean;
  /** d4 == OC·TX (no guard on output columns). */
  readonly ocExact: boolean;
}

export type AttnKernel = 'forward' | 'dq' | 'dkdv';

export interface AttnFlags {
  readonly causal: boolean;
  readonly hasRpe: boolean;
  readonly hasKpm: boolean;
  readonly hasAm: boolean;
  /**
   * Beyond self-attention (src/backend.ts beyondSelfAttention): Nk ≠ N, query offsets, partial
   * last blocks, a layout per batch row. Only these calls pay for the clamps, row checks and tail
   * masks; the self-attention programs stay as they are.
   */
  readonly general: boolean;
}

export function flagsKey(f: AttnFlags): string {
  return `c${+f.causal}r${+f.hasRpe}k${+f.hasKpm}a${+f.hasAm}${f.general ? 'g1' : ''}`;
}

export function tileKey(t: AttnTile): string {
  return `${t.BR}x${t.BC}/${t.TY}x${t.TX}/dk${t.DK}/vk${t.VK}/oc${t.OC}/q${+t.qResident}/e${+t.dkExact}${+t.ocExact}`;
}

/**
 * Padding (vec4) after every 4 staged head-dim rows of a transposed chunk of chunk4 vec4 columns:
 * the staging threads of one warp then hit distinct banks (8 rows × 4 columns, or 16 × 2).
 */
export function stagePad(chunk4: number): number {
  return chunk4 >= 2 ? 8 / Math.min(chunk4, 8) : 0;
}

/** Workgroup memory (bytes) a tile needs in each kernel. */
export function sharedBytes(kernel: AttnKernel, t: AttnTile, d4: number, subgroups: boolean): number {
  const dChunks = Math.ceil(d4 / (t.DK / 4));
  const rowsChunk = t.VK * t.OC * t.TX * 4;
  let floats: number;
  if (kernel === 'forward') {
    // Resident Qᵀ, or the Qᵀ chunk and Kᵀ chunk (padded), sharing one staging array with the V rows.
    const pad = 4 * (t.DK / 4) * stagePad(t.DK / 4);
    const resident = t.qResident ? dChunks * t.DK * t.BR : 0;
    const qk = (t.qResident ? 0 : t.DK * t.BR + pad) + t.DK * t.BC + pad;
    floats = resident + Math.max(qk, rowsChunk) + t.BC * t.BR + (subgroups ? 0 : t.BR * t.TX);
  } else if (kernel === 'dq') {
    floats = Math.max(2 * t.DK * (t.BR + t.BC), rowsChunk) + t.BC * t.BR;
  } else {
    floats = Math.max(2 * t.DK * (t.BR + t.BC), 2 * rowsChunk) + 2 * t.BC * t.BR;
  }
  return floats * 4;
}

export interface TileShape {
  readonly BR: number;
  readonly BC: number;
  readonly TY: number;
  readonly TX: number;
}

/** 128 query rows × 64 keys, 8×4 scores per thread: the fastest forward tile on an H100 when
 * rows are balanced (bench/gpu/attention.ts), but half as many workgroups as 64×64. */
const TALL: TileShape = { BR: 128, BC: 64, TY: 16, TX: 16 };

// Blocks of 16 and 32 take 64-key chunks gathered from consecutive kept blocks (see chunkLoop):
// per-block 16×16 tiles leave most of a workgroup idle and pay a barrier per 16 keys.
const SHAPES: readonly TileShape[] = [
  { BR: 64, BC: 64, TY: 16, TX: 16 },
  { BR: 32, BC: 64, TY: 8, TX: 16 },
  { BR: 32, BC: 32, TY: 8, TX: 8 },
  { BR: 16, BC: 64, TY: 4, TX: 16 },
  { BR: 16, BC: 16, TY: 4, TX: 4 },
];

/** A forced tile (benchmarks, tuning): the shape, and optionally DK, VK and qResident. */
export type TileOverride = TileShape & Partial<Pick<AttnTile, 'DK' | 'VK' | 'qResident'>>;

/**
 * The largest tile that divides the block and fits the device: first the 64×64 tile (256 threads,
 * 4×4 scores each), then 32×32 and 16×16; within a shape, Q resident (forward), then the widest
 * head-dim chunk and V stage that fit. An override fixes the shape (and what else it names).
 */
export function chooseTile(
  kernel: AttnKernel,
  block: number,
  d4: number,
  maxSharedBytes: number,
  maxInvocations: number,
  subgroups: boolean,
  override?: TileOverride,
  preferTall = false,
): AttnTile {
  // An override applies where its shape divides the block; elsewhere the default choice stands.
  if (override && (block % override.BR !== 0 || (override.BC <= block ? block % override.BC : override.BC % block) !== 0)) {
    override = undefined;
  }
  const shapes: readonly TileShape[] = override ? [override] : preferTall ? [TALL, ...SHAPES] : SHAPES;
  // BR divides the block; BC either divides it or spans whole blocks (gather mode)
  const divides = (s: TileShape) => s.BR <= block && block % s.BR === 0 && (s.BC <= block ? block % s.BC === 0 : s.BC % block === 0);
  if (!override && !SHAPES.some(divides)) throw errors.gpuAttentionBlock(kernel, block);
  for (const s of shapes) {
    const shape = { BR: s.BR, BC: s.BC, TY: s.TY, TX: s.TX };
    const RM = s.BR / s.TY;
    const RN = s.BC / s.TX;
    if (!divides(s)) continue;
    if (RM % 4 !== 0 || RN % 4 !== 0 || s.TX * s.TY > maxInvocations) continue;
    const OC = Math.ceil(d4 / s.TX);
    const qRes = override?.qResident !== undefined ? [override.qResident] : kernel === 'forward' && s !== TALL ? [true, false] : [false];
    for (const qResident of qRes) {
      for (const DK of override?.DK ? [override.DK] : [16, 8, 4]) {
        const vks: number[] = [];
        for (let VK = s.BC; VK >= 4; VK /= 2) vks.push(VK);
        for (const VK of override?.VK ? [override.VK] : vks) {
          const t: AttnTile = {
            ...shape,
            RM,
            RN,
            DK,
            VK,
            OC,
            qResident: qResident && kernel === 'forward',
            dkExact: d4 % (DK / 4) === 0,
            ocExact: d4 === OC * s.TX,
          };
          // Cap the V stage at 16 KiB: beyond that it only costs occupancy.
          if (!override?.VK && VK * OC * s.TX * 16 > 16384 && VK > 4) continue;
          if (sharedBytes(kernel, t, d4, subgroups) <= maxSharedBytes) return t;
        }
      }
    }
  }
  throw errors.gpuNoTile(kernel, override, block, d4 * 4, maxSharedBytes);
}

export const ATTN_UNIFORMS: UniformFields = [
  ['heads', 'u32'],
  ['n', 'u32'],
  ['d4', 'u32'],
  /** Block rows (= block columns) R. */
  ['rows', 'u32'],
  /** Row tiles per block: block / BR. */
  ['tiles', 'u32'],
  ['batches', 'u32'],
  /** The longest-first order of the block rows (or columns) walked, h*R + r. */
  ['ordOff', 'u32'],
  ['scale', 'f32'],
  /** Offsets into the layout-table buffer: forward tables (kv*) or transposed ones (q*). */
  ['ptrOff', 'u32'],
  ['idxOff', 'u32'],
  ['entOff', 'u32'],
  ['kindOff', 'u32'],
  ['rpeOff', 'u32'],
  ['kpmOff', 'u32'],
  ['amOff', 'u32'],
  /** Offsets into the stats buffer ([lse | delta]) and the dK|dV output. */
  ['lseOff', 'u32'],
  ['deltaOff', 'u32'],
  ['dvOff', 'u32'],
  /** Key/value heads (GQA, MQA): query head h reads kv head h / (heads / kvHeads). */
  ['kvHeads', 'u32'],
  /** The general programs (AttnFlags.general): keys Nk, ... */
  ['nk', 'u32'],
  /** ... rows between kv heads in k, v (Nk, or a KV cache's capacity), ... */
  ['kvs', 'u32'],
  /** ... where the per-batch-row query offsets sit in the bias buffer (as floats), ... */
  ['offOff', 'u32'],
  /** ... and 1 for a layout per batch row (slot b·H + h), else 0 (slot h); ... */
  ['lbat', 'u32'],
  /**
   * ... and where span > 0, the block rows row0 … row0 + span − 1 alone, in order, instead of the
   * longest-first order of all R (the forward of queries at an offset: rows before it hold none).
   */
  ['row0', 'u32'],
  ['span', 'u32'],
];

/**
 * The block rows that hold queries of some batch row, row0 … row0 + span − 1, where they are fewer
 * than the R a general program would walk (queries at an offset: chunked prefill); else undefined.
 */
export function activeQueryRows(p: AttentionProblem<OperandData>, block: number, R: number): { row0: number; span: number } | undefined {
  if (!attnFlags(p).general) return undefined;
  const row0 = Math.floor(Math.min(...p.qOffset) / block);
  const span = Math.ceil((Math.max(...p.qOffset) + p.N) / block) - row0;
  return span < R ? { row0, span } : undefined;
}

export function attnUniformValues(
  p: AttentionProblem<OperandData>,
  d4: number,
  /** Query (or key) rows a workgroup owns. */
  tile: Pick<AttnTile, 'BR'>,
  tables: LayoutTables,
  bias: BiasBuffer,
  transposed: boolean,
  /** Only these block rows are dispatched (general, not transposed); span 0: all R in the order. */
  active: { row0: number; span: number } = { row0: 0, span: 0 },
): UniformValues {
  const l = layoutDims(p);
  const rows = attnFlags(p).general ? (transposed ? l.cols : l.rows) : p.N / l.block;
  return {
    heads: p.H,
    n: p.N,
    d4,
    rows,
    tiles: l.block / tile.BR,
    batches: p.B,
    ordOff: (transposed ? tables.colOrder : tables.rowOrder)[+p.causal],
    scale: p.scale,
    ptrOff: transposed ? tables.qPtr : tables.kvPtr,
    idxOff: transposed ? tables.qIndices : tables.kvIndices,
    entOff: tables.qEntries,
    kindOff: tables.causalKind,
    rpeOff: bias.rpeOff,
    kpmOff: bias.kpmOff,
    amOff: bias.amOff,
    lseOff: 0,
    deltaOff: p.B * p.H * p.N,
    dvOff: p.B * p.Hkv * p.Nk * d4,
    kvHeads: p.Hkv,
    nk: p.Nk,
    kvs: p.kvStride,
    offOff: bias.offOff,
    lbat: l.batches > 1 ? 1 : 0,
    row0: active.row0,
    span: active.span,
  };
}

/** The layout as the kernels see it: p.residentLayout's where the layout is held on the device, else p.layout's. */
export interface LayoutDims {
  readonly block: number;
  readonly rows: number;
  readonly cols: number;
  /** Layout batch rows (1: shared by the batch rows). */
  readonly batches: number;
  /** The most blocks a block row keeps. */
  maxRowBlocks(): number;
}

export function layoutDims(p: AttentionProblem<OperandData>): LayoutDims {
  const held = p.residentLayout;
  if (held) {
    const [B, , R, C] = held.shape;
    return { block: held.block, rows: R, cols: C, batches: B, maxRowBlocks: () => held.maxRowBlocks };
  }
  const l = p.layout;
  // the compiled row counts': a decode step's fresh selection builds no causal tables
  return { block: l.block, rows: l.rows, cols: l.cols, batches: l.batches, maxRowBlocks: () => l.maxRowBlocks };
}

export function attnFlags(p: AttentionProblem<OperandData>): AttnFlags {
  return { causal: p.causal, hasRpe: !!p.rpe, hasKpm: !!p.keyPadding, hasAm: !!p.attnMask, general: beyondSelfAttention(p) !== null };
}

/**
 * General programs: the query index (into q, dout, stats, masks) of absolute position `pos`,
 * clamped into [0, N) so that loads stay in bounds (rows outside are masked or not stored).
 */
export function qIdx(pos: string): string {
  return `(min(max(${pos}, qoff) - qoff, u.n - 1u))`;
}

/** General programs: whether absolute position `pos` holds one of q's rows. */
export function qValid(pos: string): string {
  return `(${pos} >= qoff && ${pos} < qoff + u.n)`;
}

/**
 * Decodes the workgroup index: row tile fastest, then batch, then the rank of the (head, block
 * row) in the longest-first order, so the longest rows of every head are dispatched first.
 */
export function decodeWorkgroup(tileVar: string, rowVar: string, general = false): string {
  // general: the order covers every slot (b·H + h) of a layout per batch row, else the heads'
  if (general) {
    return `let ${tileVar} = wg % u.tiles;
  let t1 = wg / u.tiles;
  var b = t1 % u.batches;
  var hr = 0u;
  if (u.span > 0u) {
    // the active rows only: k = slot · span + the row's place, slot b·H + h (lbat) or h
    let k = select(t1 / u.batches, t1, u.lbat == 1u);
    hr = (k / u.span) * u.rows + u.row0 + k % u.span;
    if (u.lbat == 1u) { b = hr / (u.heads * u.rows); }
  } else if (u.lbat == 1u) {
    hr = u32(lut[u.ordOff + t1]);
    b = hr / (u.heads * u.rows);
  } else {
    hr = u32(lut[u.ordOff + t1 / u.batches]);
  }
  let h = (hr / u.rows) % u.heads;
  let ${rowVar} = hr % u.rows;
  let bh = b * u.heads + h;
  let kvBase = (b * u.kvHeads + h / (u.heads / u.kvHeads)) * u.kvs; // first row of h's kv head in k, v
  let qoff = ${qOffsetOf('b')};`;
  }
  return `let ${tileVar} = wg % u.tiles;
  let t1 = wg / u.tiles;
  let b = t1 % u.batches;
  let hr = u32(lut[u.ordOff + t1 / u.batches]);
  let h = hr / u.rows;
  let ${rowVar} = hr % u.rows;
  let bh = b * u.heads + h;
  let kvBase = (b * u.kvHeads + h / (u.heads / u.kvHeads)) * u.n; // first row of h's kv head in k, v`;
}

/**
 * The grouped dK/dV program's workgroup: row tile fastest, then batch, then (kv head g, block
 * column c) in natural order (the longest-first orders are per query head).
 */
export function groupedDecode(general: boolean): string {
  return `let kt = wg % u.tiles;
  let t1 = wg / u.tiles;
  let b = t1 % u.batches;
  let gc = t1 / u.batches;
  let g = gc / u.rows;
  let c = gc % u.rows;
  let kvBase = (b * u.kvHeads + g) * u.${general ? 'nk' : 'n'};${general ? `\n  let qoff = ${qOffsetOf('b')};` : ''}`;
}

export interface ChunkLoop {
  /** WGSL opening the walk; inside, `needMask` is a bool and the chunk's rows are known. */
  readonly open: string;
  readonly close: string;
  /** Declarations the walk needs at module scope. */
  readonly decls: string;
  /** Row (within the sequence) of chunk-local index l, always a valid row (for loads). */
  row(l: string): string;
  /** The same, but ≥ u.n where l lies past the end of the list (masked). */
  key(l: string): string;
  /** Whether the chunk may hold rows past the end of the list. */
  readonly gather: boolean;
}

/**
 * The walk over the kept blocks of list `hr` (decodeWorkgroup): its block row's columns for the
 * forward and dQ (side 'kv': ascending columns, so causal drops a suffix and the diagonal comes
 * last), its block column's rows for dK/dV (side 'q': ascending rows, causal drops a prefix and
 * the diagonal comes first), BC rows of the other side at a time.
 * - BC ≤ block: each kept block in BC-row chunks; `k0` is the chunk's first row. Masks only on
 *   diagonal blocks (causal) or with a bias; chunks wholly on the masked side of the diagonal skip.
 * - BC > block (gather): BC / block consecutive kept blocks per chunk, rows looked up per index;
 *   masks on the list's last chunk (a tail past the end, or the diagonal) or with a bias.
 */
export function chunkLoop(block: number, t: AttnTile, side: 'kv' | 'q', f: AttnFlags): ChunkLoop {
  const bias = hasBias(f);
  const g = f.general;
  if (t.BC > block) {
    const G = t.BC / block;
    const trim =
      side === 'kv'
        ? 'while (e1 > e0 && u32(lut[u.idxOff + e1 - 1u]) > r) { e1 = e1 - 1u; }'
        : 'while (e0 < e1 && u32(lut[u.idxOff + e0]) < c) { e0 = e0 + 1u; }';
    const tail = `e + ${G}u > e1`;
    const diag = side === 'kv' ? `e + ${G}u >= e1` : 'e == e0';
    return {
      gather: true,
      decls: `const INVALID = 0xffffffffu;
/** Row of chunk-local index l of the chunk starting at entry e, or INVALID past entry e1. */
fn chunkRow(e: u32, e1: u32, l: u32) -> u32 {
  let ent = e + l / BLK;
  if (ent >= e1) { return INVALID; }
  return u32(lut[u.idxOff + ent]) * BLK + l % BLK;
}`,
      open: `var e0 = u32(lut[u.ptrOff + hr]);
  var e1 = u32(lut[u.ptrOff + hr + 1u]);
  ${f.causal ? trim : ''}
  for (var e = e0; e < e1; e += ${G}u) {
    let needMask = ${bias || g ? 'true' : f.causal ? `${tail} || ${diag}` : tail};`,
      close: '}',
      row: (l) => (g && side === 'q' ? qIdx(`chunkRow(e, e1, ${l})`) : `min(chunkRow(e, e1, ${l}), u.${g ? 'nk' : 'n'} - 1u)`),
      key: (l) => `chunkRow(e, e1, ${l})`,
    };
  }
  const kvSide = side === 'kv';
  const skip = kvSide ? 'kc > qt * BR + BR - 1u' : 'kc + BC - 1u < kt * BR';
  // general: chunks past the keys (kv side) or wholly outside q's rows (q side) add nothing;
  // those that straddle the edge mask
  const outside = kvSide ? 'k0 >= u.nk' : 'k0 + BC <= qoff || k0 >= qoff + u.n';
  const edge = kvSide ? 'k0 + BC > u.nk' : 'k0 < qoff || k0 + BC > qoff + u.n';
  const base = bias ? 'true' : f.causal ? 'kind == 1' : 'false';
  return {
    gather: false,
    decls: '',
    open: `let e0 = u32(lut[u.ptrOff + hr]);
  let e1 = u32(lut[u.ptrOff + hr + 1u]);
  for (var e = e0; e < e1; e++) {
    let cb = u32(lut[u.idxOff + e]);
    ${f.causal ? `let kind = lut[u.kindOff + ${kvSide ? 'e' : 'u32(lut[u.entOff + e])'}];
    if (kind == 2) { continue; }` : ''}
    for (var kc = 0u; kc < BLK; kc += BC) {
      ${f.causal ? `// A chunk wholly on the masked side of a diagonal block adds nothing.
      if (kind == 1 && ${skip}) { continue; }` : ''}
      let k0 = cb * BLK + kc;
      ${g ? `if (${outside}) { continue; }
      let needMask = ${bias ? 'true' : `${base} || ${edge}`};` : `let needMask = ${base};`}`,
    close: '}\n  }',
    row: (l) => (!g ? `k0 + ${l}` : kvSide ? `min(k0 + ${l}, u.nk - 1u)` : qIdx(`k0 + ${l}`)),
    key: (l) => `k0 + ${l}`,
  };
}

export function hasBias(f: AttnFlags): boolean {
  return f.hasRpe || f.hasKpm || f.hasAm;
}

/** `fn biasAt(bh, b, i, j) -> f32`: rpe + kpm + am at query i, key j (sanitized: ≥ MASKED each). */
export function biasFn(f: AttnFlags): string {
  const terms: string[] = [];
  const nk = f.general ? 'u.nk' : 'u.n';
  if (f.hasRpe) terms.push(`bias[u.rpeOff + (bh * u.n + i) * ${nk} + j]`);
  if (f.hasKpm) terms.push(`bias[u.kpmOff + b * ${nk} + j]`);
  if (f.hasAm) terms.push(`bias[u.amOff + i * ${nk} + j]`);
  return `fn biasAt(bh: u32, b: u32, i: u32, j: u32) -> f32 {
  return ${terms.length ? terms.join(' + ') : '0.0'};
}`;
}

/** Where staged row rr comes from: a first row (WGSL expression) plus rr, or any expression of rr. */
export type RowMap = string | ((rr: string) => string);

/** The WGSL row index of staged row `rr`. */
export function rowExpr(row: RowMap, rr: string): string {
  return typeof row === 'function' ? row(rr) : `${row} + ${rr}`;
}

/**
 * Stages rows [row0, row0 + nRows) (or row0(rr) for rr < nRows) × vec4 columns [d0, d0 + chunk4) of `src` (row length u.d4)
 * transposed into `dst`: element (d, rr) at dst[base + d·nRows/4 + rr/4][rr % 4], so that a
 * thread reads 4 consecutive rows of one column as one vec4.
 */
export function loadTransposed(
  dst: string,
  base: string,
  src: Source,
  row0: RowMap,
  nRows: number,
  d0: string,
  chunk4: number,
  wg: number,
  guard: boolean,
): string {
  const rows4 = nRows / 4;
  const load = sourceAt(src, `(${rowExpr(row0, 'rr')}) * u.d4 + ${d0} + dv`);
  return `for (var idx = lid; idx < ${nRows * chunk4}u; idx += ${wg}u) {
      let rr = idx / ${chunk4}u;
      let dv = idx % ${chunk4}u;
      ${guard ? `var val = vec4<f32>(0.0);\n      if (${d0} + dv < u.d4) { val = ${load}; }` : `let val = ${load};`}
      let at = ${base} + dv * ${4 * rows4}u + rr / 4u;
      let comp = rr % 4u;
      ${dst}[at][comp] = val.x;
      ${dst}[at + ${rows4}u][comp] = val.y;
      ${dst}[at + ${2 * rows4}u][comp] = val.z;
      ${dst}[at + ${3 * rows4}u][comp] = val.w;
    }`;
}

/** Stages rows [row0, row0 + nRows) of `src` as they are: dst[base + rr·D4X + cv]. */
export function loadRows(dst: string, base: string, src: Source, row0: RowMap, nRows: number, d4x: number, wg: number, guard: boolean): string {
  const load = sourceAt(src, `(${rowExpr(row0, 'rr')}) * u.d4 + cv`);
  return `for (var idx = lid; idx < ${nRows * d4x}u; idx += ${wg}u) {
      let rr = idx / ${d4x}u;
      let cv = idx % ${d4x}u;
      ${guard ? `var val = vec4<f32>(0.0);\n      if (cv < u.d4) { val = ${load}; }` : `let val = ${load};`}
      ${dst}[${base} + idx] = val;
    }`;
}

/** Lines for every (row ri, column group c) pair of a thread's RM × RN tile. */
export function forTile(t: AttnTile, f: (ri: number, g: number, e: number, c: number) => string): string {
  const out: string[] = [];
  for (let ri = 0; ri < t.RM; ri++) for (let c = 0; c < t.RN / 4; c++) out.push(f(ri, ri >> 2, ri & 3, c));
  return out.join('\n');
}

export function forRows(t: AttnTile, f: (ri: number, g: number, e: number) => string): string {
  const out: string[] = [];
  for (let ri = 0; ri < t.RM; ri++) out.push(f(ri, ri >> 2, ri & 3));
  return out.join('\n');
}

export function forOut(t: AttnTile, f: (ri: number, g: number, e: number, k: number) => string): string {
  const out: string[] = [];
  for (let ri = 0; ri < t.RM; ri++) for (let k = 0; k < t.OC; k++) out.push(f(ri, ri >> 2, ri & 3, k));
  return out.join('\n');
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Local row of register row ri (g = ri/4, e = ri%4) of thread ty. */
export function rowOf(t: AttnTile, ri: number): string {
  return `(ty + ${(ri >> 2) * t.TY}u) * 4u + ${ri & 3}u`;
}

/** Local column of register column (c, f) of thread tx. */
export function colOf(t: AttnTile, c: number, f: number): string {
  return `(tx + ${c * t.TX}u) * 4u + ${f}u`;
}

/**
 * Unrolled outer product for one head-dim step: acc{ri}_{c} += A[rows].e · B[cols], reading
 * RM/4 vec4 of rows from `aArr[aRow + ty + g·TY]` and RN/4 vec4 of columns from
 * `bArr[bRow + tx + c·TX]`.
 */
export function outerStep(t: AttnTile, acc: string, aArr: string, aRow: string, bArr: string, bRow: string, tag: string): string {
  const lines: string[] = [];
  for (let g = 0; g < t.RM / 4; g++) lines.push(`let ${tag}a${g} = ${aArr}[${aRow} + ty + ${g * t.TY}u];`);
  for (let c = 0; c < t.RN / 4; c++) lines.push(`let ${tag}b${c} = ${bArr}[${bRow} + tx + ${c * t.TX}u];`);
  lines.push(forTile(t, (ri, g, e, c) => `${acc}${ri}_${c} = fma(vec4<f32>(${tag}a${g}.${C4[e]}), ${tag}b${c}, ${acc}${ri}_${c});`));
  return lines.join('\n          ');
}

/**
 * Unrolled row-times-rows step: out{ri}_{k} += P[rows].e · W[k], P from `pArr[pRow + ty + g·TY]`
 * (4 rows per vec4), W from `wArr[wRow + tx + k·TX]`.
 */
export function rowsStep(t: AttnTile, out: string, pArr: string, pRow: string, wArr: string, wRow: string, tag: string): string {
  const lines: string[] = [];
  for (let g = 0; g < t.RM / 4; g++) lines.push(`let ${tag}p${g} = ${pArr}[${pRow} + ty + ${g * t.TY}u];`);
  for (let k = 0; k < t.OC; k++) lines.push(`let ${tag}w${k} = ${wArr}[${wRow} + tx + ${k * t.TX}u];`);
  lines.push(forOut(t, (ri, g, e, k) => `${out}${ri}_${k} = fma(vec4<f32>(${tag}p${g}.${C4[e]}), ${tag}w${k}, ${out}${ri}_${k});`));
  return lines.join('\n          ');
}

/**
 * Stores a thread's RM × RN register tile `src` transposed into `dst`: for column (c, f), one vec4
 * of 4 rows at dst[col·BR/4 + ty + g·TY] (column-major by the tile's rows).
 */
export function storeTileT(t: AttnTile, dst: string, src: string): string {
  const lines: string[] = [];
  for (let c = 0; c < t.RN / 4; c++) {
    for (let f = 0; f < 4; f++) {
      for (let g = 0; g < t.RM / 4; g++) {
        const parts = [0, 1, 2, 3].map((e) => `${src}${g * 4 + e}_${c}.${C4[f]}`).join(', ');
        lines.push(`${dst}[(${colOf(t, c, f)}) * ${t.BR / 4}u + ty + ${g * t.TY}u] = vec4<f32>(${parts});`);
      }
    }
  }
  return lines.join('\n      ');
}

/**
 * The tiled attention programs (forward, dQ, dK/dV): a workgroup of TX·TY threads per tile, the
 * attention uniforms, and a cache key from the block, the tile and the flags (plus `keySuffix`
 * for a program's own compile-time choices). `half`: q, k, v, dout and the results are f16
 * bindings, widened to f32 at each load (staging, products and softmax stay f32).
 */
export abstract class TiledAttentionProgram extends Program {
  readonly uniforms = ATTN_UNIFORMS;
  readonly workgroupSize: number;
  readonly shaderKey: string;
  override readonly half: boolean;

  constructor(
    readonly block: number,
    readonly tile: AttnTile,
    readonly flags: AttnFlags,
    keySuffix = '',
    half = false,
  ) {
    super();
    this.half = half;
    this.workgroupSize = tile.TX * tile.TY;
    this.shaderKey = `b${block}/${tileKey(tile)}/${flagsKey(flags)}${keySuffix}${half ? '/f16' : ''}`;
  }

  /** Binding `name` as this program loads it (operand). */
  protected src(name: string): Source {
    return operand(name, this.half);
  }
}
