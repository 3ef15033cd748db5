// Kernel time from timestamp queries, one way for every GPU bench: the calls are encoded back to
// back in one submission (the GPU never idles between them), the first few dropped, and right
// before it unmeasured submissions of the same work run for at least WARM_MS (the timed
// submission's operands already uploaded, so no host work comes between). Without them a row
// measures the state the GPU was left in (its clocks, most likely) after host work (converting or
// drawing operands, float64 checks): rows read up to 2–3× slow at random (bench/results/issue-16-h200:
// the same plain f16 forward timed 6.12 and 13.9 ms in one process).
import type { GpuContext, KernelTiming, Recorder } from '../../gpu/context.js';
import { median } from '../../cli/stats.js';

/** Unmeasured GPU work before each timed submission (wall clock, ms). */
export const WARM_MS = 150;

export interface TimedCalls {
  /** Median over the kept calls of each call's kernel time (the sum of its passes). */
  ms: number;
  minMs: number;
  maxMs: number;
  /** Median per kernel name over the kept calls. */
  perKernel: Record<string, number>;
  /** The passes of one call as they ran: program name and shader key. */
  ran: { kernel: string; key: string }[];
}

/**
 * Times `calls` calls of the op that `prepare` sets up on a recorder (uploads; it returns the
 * encoder of one call), dropping the first `drop`. `prepare` runs once per submission, so each
 * submission owns its buffers as one op of the backend does.
 */
export async function timeCalls(ctx: GpuContext, label: string, prepare: (r: Recorder) => () => void, calls: number, drop: number): Promise<TimedCalls> {
  // the timed submission's uploads first, so that their host time falls before the warm-up, not after it
  const timed = ctx.recorder(label);
  const encode = prepare(timed);
  const t0 = performance.now();
  do {
    const r = ctx.recorder(`${label} (warm-up)`);
    const once = prepare(r);
    for (let i = 0; i < Math.max(1, drop); i++) once();
    await r.run([]);
  } while (performance.now() - t0 < WARM_MS);
  for (let i = 0; i < calls; i++) encode();
  await timed.run([]);
  const ks: readonly KernelTiming[] = ctx.lastTimings?.kernels ?? [];
  if (ks.length === 0 || ks.length % calls !== 0) throw new Error(`${label}: ${ks.length} timed passes for ${calls} calls (no timestamp-query?)`);
  const per = ks.length / calls;
  const kept = ks.slice(drop * per);
  const totals: number[] = [];
  for (let i = 0; i < kept.length; i += per) totals.push(kept.slice(i, i + per).reduce((a, k) => a + k.ms, 0));
  const byKernel: Record<string, number[]> = {};
  for (const k of kept) (byKernel[k.kernel] ??= []).push(k.ms);
  return {
    ms: median(totals),
    minMs: Math.min(...totals),
    maxMs: Math.max(...totals),
    perKernel: Object.fromEntries(Object.entries(byKernel).map(([k, v]) => [k, median(v)])),
    ran: ks.slice(0, per).map((k) => ({ kernel: k.kernel, key: k.key })),
  };
}
