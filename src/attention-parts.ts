// Attention past a backend's memory wall (32-bit Wasm memory on the CPU, the largest buffer a
// WebGPU device binds): a call that meets it runs as parts, halves of its batch rows, then (one
// batch row left) halves of its heads (whole groups of query heads with their kv head), each part a
// whole call with its own operands. Every output
// row (forward, dq) and column (dk, dv) is computed by one kernel invocation over the same rows in
// the same order whichever part holds it, so the parts give the bits of one call. Host operands
// only: data a backend already holds (DeviceTensors, keepOnDevice) fits there or was refused when
// uploaded. Shared by both backends; each marks its own wall's errors with `wall`.
import type { AttentionBackwardProblem, AttentionGradientData, AttentionLseData, AttentionProblem, HostData, OperandData } from './backend.js';
import { compileLayout } from './layouts/compile.js';
import { selectedLayout, selectedRows } from './layouts/selected-layout.js';
import type { BatchedLayout, Layout } from './types.js';

const walls = new WeakSet<object>();
/** Marks `e` as a memory wall's error: a call that threw it may fit in parts. */
export function wall<E extends Error>(e: E): E {
  walls.add(e);
  return e;
}
export const isWall = (e: unknown): boolean => typeof e === 'object' && e !== null && walls.has(e);

/** How many parts the last attention call ran as (1: whole); read by the tests of the parts. */
export const lastCallParts = { count: 0 };

type HostProblem = AttentionProblem<HostData> | AttentionBackwardProblem<HostData>;

const isHost = (p: AttentionProblem<OperandData> | AttentionBackwardProblem<OperandData>): boolean =>
  !p.keepOnDevice && [p.q, p.k, p.v, 'dout' in p ? p.dout : p.q].every((x) => x instanceof Float32Array || x instanceof Uint16Array);

/**
 * Batch rows [b0, b1) and heads [h0, h1) of a fitted layout ([H, R, C], shared by the batch rows,
 * or [B, H, R, C]), as a layout of its own; the same layout where the part reads all of it.
 */
function layoutOf(layout: Layout | BatchedLayout, B: number, [b0, b1, h0, h1]: Range): Layout | BatchedLayout {
  const shape = layout.shape as readonly number[];
  const batched = shape.length === 4;
  const [H, R, C] = batched ? shape.slice(1) : shape;
  if (h1 - h0 === H && (!batched || b1 - b0 === B)) return layout;
  const from = ((batched ? b0 * H : 0) + h0) * R * C;
  const to = ((batched ? (b1 - 1) * H : 0) + h1) * R * C;
  const held = selectedRows(layout);
  if (held) return selectedLayout(held.slice(from / C, to / C, [b1 - b0, h1 - h0, R, C]));
  const data = layout.data.slice(from, to);
  return batched ? { block: layout.block, shape: [b1 - b0, h1 - h0, R, C], data } : { block: layout.block, shape: [h1 - h0, R, C], data };
}

/** A part: batch rows [b0, b1), query heads [h0, h1) and the kv heads [kh0, kh1) they read. */
type Range = readonly [b0: number, b1: number, h0: number, h1: number, kh0: number, kh1: number];

function part<P extends HostProblem>(p: P, range: Range): P {
  const [b0, b1, h0, h1, kh0, kh1] = range;
  const { H, Hkv, N, Nk, D } = p;
  // the flat [B, heads, …] range of (b0, first head) … (b1 − 1, last head): contiguous, as either
  // b1 = b0 + 1 or the heads are all of them
  const rows = <T extends HostData>(x: T, heads: number, first: number, end: number, per: number): T =>
    x.subarray((b0 * heads + first) * per, ((b1 - 1) * heads + end) * per) as T;
  const q = <T extends HostData>(x: T, per = N * D) => rows(x, H, h0, h1, per);
  const kv = (x: HostData) => rows(x, Hkv, kh0, kh1, Nk * D);
  const sub = {
    ...p,
    B: b1 - b0,
    H: h1 - h0,
    Hkv: kh1 - kh0,
    q: q(p.q),
    k: kv(p.k),
    v: kv(p.v),
    rpe: p.rpe ? q(p.rpe, N * Nk) : null,
    keyPadding: p.keyPadding ? p.keyPadding.subarray(b0 * Nk, b1 * Nk) : null,
    qOffset: p.qOffset.subarray(b0, b1),
    layout: compileLayout(layoutOf(p.layout.layout, p.B, range)),
  };
  if ('dout' in p) Object.assign(sub, { dout: q(p.dout) });
  return sub as P;
}

/**
 * The two halves of p: of its batch rows while it has several; then of its kv heads with their
 * query heads; with one kv head, of its query heads where the op allows (the forward: each half
 * reads the same kv head; not the backward, whose dk and dv sum over all of them). Null: p is one
 * unit already.
 */
function halves(p: HostProblem, splitsGroups: boolean): [Range, Range] | null {
  const { B, H, Hkv } = p;
  if (B > 1) return [[0, B >> 1, 0, H, 0, Hkv], [B >> 1, B, 0, H, 0, Hkv]];
  const g = H / Hkv;
  if (Hkv > 1) {
    const k = Hkv >> 1;
    return [[0, 1, 0, k * g, 0, k], [0, 1, k * g, H, k, Hkv]];
  }
  if (H > 1 && splitsGroups) return [[0, 1, 0, H >> 1, 0, 1], [0, 1, H >> 1, H, 0, 1]];
  return null;
}

function concat<T extends HostData>(parts: readonly T[]): T {
  const n = parts.reduce((n, x) => n + x.length, 0);
  const out = (parts[0] instanceof Uint16Array ? new Uint16Array(n) : new Float32Array(n)) as T;
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/**
 * run(p), or, where it meets the memory wall, run over halves of p joined by `join`, recursively;
 * the wall's RangeError when a part that cannot be halved does not fit.
 */
async function inParts<P extends HostProblem, R>(p: P, run: (p: P) => Promise<R>, join: (a: R, b: R) => R, splitsGroups: boolean): Promise<R> {
  let split: [Range, Range] | null;
  try {
    const result = await run(p);
    lastCallParts.count++;
    return result;
  } catch (e) {
    if (!isWall(e) || !(split = halves(p, splitsGroups))) throw e;
  }
  const [a, b] = split.map((r) => part(p, r));
  const first = await inParts(a!, run, join, splitsGroups);
  return join(first, await inParts(b!, run, join, splitsGroups));
}

const cat = (a: OperandData, b: OperandData) => concat([a as HostData, b as HostData]);

/** run(p) alone where p holds device data (lastCallParts 1), else inParts. */
function hostInParts<P extends AttentionProblem<OperandData>, R>(p: P, run: (p: P) => Promise<R>, join: (a: R, b: R) => R, splitsGroups: boolean): Promise<R> {
  lastCallParts.count = 0;
  if (!isHost(p)) {
    lastCallParts.count = 1;
    return run(p);
  }
  const host = run as unknown as (p: HostProblem) => Promise<R>;
  return inParts(p as unknown as HostProblem, host, join, splitsGroups);
}

export function forwardInParts(p: AttentionProblem<OperandData>, run: (p: AttentionProblem<OperandData>) => Promise<OperandData>): Promise<OperandData> {
  return hostInParts(p, run, cat, true);
}

export function lseInParts(p: AttentionProblem<OperandData>, run: (p: AttentionProblem<OperandData>) => Promise<AttentionLseData>): Promise<AttentionLseData> {
  return hostInParts(p, run, (a, b) => ({ out: cat(a.out, b.out), lse: concat([a.lse, b.lse]) }), true);
}

export function backwardInParts(
  p: AttentionBackwardProblem<OperandData>,
  run: (p: AttentionBackwardProblem<OperandData>) => Promise<AttentionGradientData<OperandData>>,
): Promise<AttentionGradientData<OperandData>> {
  return hostInParts(p, run, (a, b) => ({ dq: cat(a.dq, b.dq), dk: cat(a.dk, b.dk), dv: cat(a.dv, b.dv) }), false);
}
