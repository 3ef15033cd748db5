// A selected layout kept on the device (selectBlocks with keepOnDevice): the selection's bytes
// [B, H, R, C] (packed four to a u32, rows padded to whole words) and the forward tables the
// attention kernels read, built from them on the device:
//   SelectRowsProgram (select-rows.ts, counts): the blocks each row keeps, into kvPtr[row + 1];
//   LayoutScanProgram: kvPtr as their running sum (one workgroup, tiles read side by side), with
//     nnz and the longest row;
//   LayoutFillProgram: kvIndices (ascending columns) and causalKind per entry, and the row order
//     (a workgroup per row, each thread a run of its words).
// The tables sit in one buffer as LayoutTables describe them: [kvPtr | rowOrder | kvIndices |
// causalKind]. The row order is the slots' own (no longest-first sort on the device), which
// changes when rows run, not what they compute. Only the forward's tables exist (no q* tables):
// the backward does not take such a layout.
import type { ResidentLayoutData } from '../src/backend.js';
import { internal, errors } from '../src/errors.js';
import type { LayoutTables } from './buffers.js';
import { Program, type BindingSpec } from './program.js';
import { exclusiveScanWGSL } from './wgsl-scan.js';

const WG = 64;
const SCAN_WG = 256;
/** Counts a LayoutScanProgram thread sums per tile. */
const SCAN_PER = 8;

export class LayoutScanProgram extends Program {
  readonly name = 'LayoutScanProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 'ptr', access: 'read_write', elem: 'i32' },
    { name: 'stats', access: 'read_write', elem: 'i32' },
  ];
  readonly uniforms = [['n', 'u32']] as const;
  readonly workgroupSize = SCAN_WG;
  readonly shaderKey = `wg${SCAN_WG}x${SCAN_PER}`;

  body(): string {
    return `
const WG = ${SCAN_WG}u;
const PER = ${SCAN_PER}u;
var<workgroup> tile: array<u32, ${SCAN_WG * SCAN_PER}>;
var<workgroup> most: array<u32, WG>;
${exclusiveScanWGSL(SCAN_WG)}

fn run(wg: u32, lid: u32) {
  // tiles of WG·PER counts, read and written side by side; each thread sums PER adjacent ones
  var carry = 0u;
  var mx = 0u;
  for (var base = 0u; base < u.n; base += WG * PER) {
    for (var j = 0u; j < PER; j++) {
      let i = base + j * WG + lid;
      tile[j * WG + lid] = select(0u, u32(ptr[i + 1u]), i < u.n);
    }
    workgroupBarrier();
    var sum = 0u;
    for (var j = 0u; j < PER; j++) {
      let c = tile[lid * PER + j];
      sum += c;
      mx = max(mx, c);
    }
    let sc = exclusiveScan(sum, lid);
    var acc = carry + sc.x;
    for (var j = 0u; j < PER; j++) {
      acc += tile[lid * PER + j];
      tile[lid * PER + j] = acc;
    }
    workgroupBarrier();
    for (var j = 0u; j < PER; j++) {
      let i = base + j * WG + lid;
      if (i < u.n) { ptr[i + 1u] = i32(tile[j * WG + lid]); }
    }
    carry += sc.y;
    workgroupBarrier();
  }
  most[lid] = mx;
  workgroupBarrier();
  if (lid == 0u) {
    var m = 0u;
    for (var j = 0u; j < WG; j++) { m = max(m, most[j]); }
    ptr[0] = 0;
    stats[0] = i32(carry);
    stats[1] = i32(m);
  }
}
`;
  }
}

export class LayoutFillProgram extends Program {
  readonly name = 'LayoutFillProgram';
  readonly bindings: readonly BindingSpec[] = [
    { name: 'words', access: 'read', elem: 'i32' },
    { name: 'ptr', access: 'read', elem: 'i32' },
    { name: 'lut', access: 'read_write', elem: 'i32' },
  ];
  readonly uniforms = [
    ['n', 'u32'],
    ['words_', 'u32'],
    ['rows', 'u32'],
    ['ordOff', 'u32'],
    ['idxOff', 'u32'],
    ['kindOff', 'u32'],
  ] as const;
  readonly workgroupSize = WG;
  readonly shaderKey = `row/wg${WG}`;

  body(): string {
    // CausalKind (src/layouts/causal-tables.ts): 0 full (c < r), 1 partial (c = r), 2 empty (c > r)
    return `
${exclusiveScanWGSL(WG)}

fn run(wg: u32, lid: u32) {
  // one workgroup per row: thread lid takes a run of its words, and writes its entries after the
  // entries of the runs before it (a scan of the runs' counts)
  let i = wg;
  if (i >= u.n) { return; }
  let per = (u.words_ + ${WG - 1}u) / ${WG}u;
  let w0 = min(u.words_, lid * per);
  let w1 = min(u.words_, w0 + per);
  var count = 0u;
  for (var w = w0; w < w1; w++) { count += countOneBits(bitcast<u32>(words[i * u.words_ + w])); }
  let before = exclusiveScan(count, lid).x;
  let row0 = ptr[i];
  if (lid == 0u) {
    lut[i] = row0;
    lut[u.ordOff + i] = i32(i);
    if (i + 1u == u.n) { lut[u.n] = ptr[u.n]; }
  }
  var e = u32(row0) + before;
  let r = i % u.rows;
  for (var w = w0; w < w1; w++) {
    let v = bitcast<u32>(words[i * u.words_ + w]);
    if (v == 0u) { continue; }
    for (var j = 0u; j < 4u; j++) {
      if (((v >> (8u * j)) & 0xffu) != 0u) {
        let c = w * 4u + j;
        lut[u.idxOff + e] = i32(c);
        lut[u.kindOff + e] = select(select(2, 1, c == r), 0, c < r);
        e++;
      }
    }
  }
}
`;
  }
}

/** Bytes [rows, C] from rows of `words` u32 each (the selection's packing). */
function unpackRows(data: ArrayBuffer, rows: number, C: number, words: number): Uint8Array {
  const bytes = new Uint8Array(data);
  if (C === words * 4) return bytes.slice(0, rows * C);
  const out = new Uint8Array(rows * C);
  for (let i = 0; i < rows; i++) out.set(bytes.subarray(i * words * 4, i * words * 4 + C), i * C);
  return out;
}

export class GpuLayout implements ResidentLayoutData {
  private held: { words: GPUBuffer; tables: LayoutTables } | null;

  constructor(
    words: GPUBuffer,
    tables: LayoutTables,
    readonly block: number,
    readonly shape: readonly [number, number, number, number],
    readonly maxRowBlocks: number,
    /** Shared by everything of one backend: set when it closes. */
    private readonly life: { closed: boolean },
    /** Reads `bytes` of a buffer through the backend's queue of ops (gpu/index.ts). */
    private readonly reader: (b: GPUBuffer, bytes: number) => Promise<ArrayBuffer>,
    /** Where destroy() puts the buffers (the backend's pool). */
    private readonly release: (b: GPUBuffer) => void,
  ) {
    this.held = { words, tables };
  }

  get destroyed(): boolean {
    return this.held === null || this.life.closed;
  }

  get tables(): LayoutTables {
    if (this.destroyed) throw errors.destroyedBeforeRun(); // checked when the call was made
    return this.held!.tables;
  }

  async read(): Promise<Uint8Array> {
    if (this.destroyed) throw errors.destroyedDeviceLayout('the selected layout');
    const [B, H, R, C] = this.shape;
    const words = Math.ceil(C / 4);
    return unpackRows(await this.reader(this.held!.words, B * H * R * words * 4), B * H * R, C, words);
  }

  destroy(): void {
    if (!this.life.closed && this.held) {
      this.release(this.held.words);
      this.release(this.held.tables.buffer);
    }
    this.held = null;
  }
}

/** The forward tables of a layout this backend holds. */
export function residentLayoutTables(x: ResidentLayoutData): LayoutTables {
  if (!(x instanceof GpuLayout)) throw internal('the WebGPU backend got a layout another backend holds');
  return x.tables;
}
