// Attention past a backend's memory wall (32-bit Wasm memory on the CPU, the largest buffer a
// WebGPU device binds): a call that meets it runs as parts, halves of its batch rows, then (one
// batch row left) halves of its heads, each part a whole call with its own operands. Every output
// row (forward, dq) and column (dk, dv) is computed by one kernel invocation over the same rows in
// the same order whichever part holds it, so the parts give the bits of one call. Host operands
// only: data a backend already holds (DeviceTensors, keepOnDevice) fits there or was refused when
// uploaded. Shared by both backends; each marks its own wall's errors with `wall`.
import type { AttentionBackwardProblem, AttentionGradientData, AttentionProblem, OperandData } from './backend.js';
import { compileLayout } from './layouts/compile.js';
import type { Layout } from './types.js';

const walls = new WeakSet<object>();
/** Marks `e` as a memory wall's error: a call that threw it may fit in parts. */
export function wall<E extends Error>(e: E): E {
  walls.add(e);
  return e;
}
export const isWall = (e: unknown): boolean => typeof e === 'object' && e !== null && walls.has(e);

/** How many parts the last attention call ran as (1: whole); read by the tests of the parts. */
export const lastCallParts = { count: 0 };

type HostProblem = AttentionProblem<Float32Array> | AttentionBackwardProblem<Float32Array>;

const isHost = (p: AttentionProblem<OperandData> | AttentionBackwardProblem<OperandData>): boolean =>
  !p.keepOnDevice && [p.q, p.k, p.v, 'dout' in p ? p.dout : p.q].every((x) => x instanceof Float32Array);

/** Heads [h0, h1) of a [H, R, C] layout, as a layout of its own. */
function headsOf(layout: Layout, h0: number, h1: number): Layout {
  const [, R, C] = layout.shape;
  return { block: layout.block, shape: [h1 - h0, R, C], data: layout.data.slice(h0 * R * C, h1 * R * C) };
}

/** Batch rows [b0, b1) of p, or, with one batch row, heads [h0, h1). */
function part<P extends HostProblem>(p: P, b0: number, b1: number, h0: number, h1: number): P {
  const { H, N, D } = p;
  const heads = h1 - h0;
  // the flat [B, H, …] range of (b0, h0) … (b1 − 1, h1 − 1): contiguous, as either b1 = b0 + 1 or the heads are all of them
  const rows = (x: Float32Array, per: number) => x.subarray((b0 * H + h0) * per, ((b1 - 1) * H + h1) * per);
  const sub = {
    ...p,
    B: b1 - b0,
    H: heads,
    q: rows(p.q, N * D),
    k: rows(p.k, N * D),
    v: rows(p.v, N * D),
    rpe: p.rpe ? rows(p.rpe, N * N) : null,
    keyPadding: p.keyPadding ? p.keyPadding.subarray(b0 * N, b1 * N) : null,
    layout: heads === H ? p.layout : compileLayout(headsOf(p.layout.layout, h0, h1)),
  };
  if ('dout' in p) Object.assign(sub, { dout: rows(p.dout, N * D) });
  return sub as P;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/**
 * run(p), or, where it meets the memory wall, run over halves of p joined by `join`, recursively;
 * the wall's RangeError when a single head of a single batch row does not fit.
 */
async function inParts<P extends HostProblem, R>(p: P, run: (p: P) => Promise<R>, join: (a: R, b: R) => R): Promise<R> {
  try {
    const result = await run(p);
    lastCallParts.count++;
    return result;
  } catch (e) {
    if (!isWall(e) || (p.B === 1 && p.H === 1)) throw e;
  }
  const halves: Array<[number, number, number, number]> = p.B > 1
    ? [[0, p.B >> 1, 0, p.H], [p.B >> 1, p.B, 0, p.H]]
    : [[0, 1, 0, p.H >> 1], [0, 1, p.H >> 1, p.H]];
  const [a, b] = halves.map(([b0, b1, h0, h1]) => part(p, b0, b1, h0, h1));
  const first = await inParts(a!, run, join);
  return join(first, await inParts(b!, run, join));
}

export function forwardInParts(
  p: AttentionProblem<OperandData>,
  run: (p: AttentionProblem<OperandData>) => Promise<OperandData>,
): Promise<OperandData> {
  lastCallParts.count = 0;
  if (!isHost(p)) return run(p);
  return inParts(p as AttentionProblem<Float32Array>, run, (a, b) => concat([a as Float32Array, b as Float32Array]));
}

export function backwardInParts(
  p: AttentionBackwardProblem<OperandData>,
  run: (p: AttentionBackwardProblem<OperandData>) => Promise<AttentionGradientData<OperandData>>,
): Promise<AttentionGradientData<OperandData>> {
  lastCallParts.count = 0;
  if (!isHost(p)) return run(p);
  const cat = (a: OperandData, b: OperandData) => concat([a as Float32Array, b as Float32Array]);
  return inParts(p as AttentionBackwardProblem<Float32Array>, run, (a, b) => ({ dq: cat(a.dq, b.dq), dk: cat(a.dk, b.dk), dv: cat(a.dv, b.dv) }));
}
