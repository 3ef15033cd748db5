// The bench: builds the layouts, then runs — CPU at each thread count, the naive baseline, peers,
// and WebGPU last (a GPU device must not be open while CPU kernels are timed: docs/DESIGN.md) — each
// over sequence lengths (smallest first), layouts and directions, within the time budget. The
// result is one BenchResults document; printing and the report are drawn from it.
import { createEngine } from '../src/engine.js';
import { describeLayout } from '../src/layouts/index.js';
import type { Layout } from '../src/types.js';
import { defaultSeqs, UsageError, type BenchOptions } from './args.js';
import { measureCoreCeiling } from './ceiling.js';
import { probeGpuAdapter } from './gpu-probe.js';
import { LAYOUTS, type LayoutName } from './layouts.js';
import { DEFAULT_REPS, measure, wallClock, type Clock, type RepPolicy } from './measure.js';
import { naiveBaseline, type NaiveBaseline } from './naive-baseline.js';
import { allPeers, type Peer } from './peers/index.js';
import { capFor, expectedCost, fmtS, Predictor } from './plan.js';
import { Progress } from './progress.js';
import {
  computeFits, FLOP_FORMULAS, flopsFor, SCHEMA, stats, type BenchResults, type Check, type Impl, type LayoutInfo,
  type Measurement, type Op, type RunInfo, type Skip,
} from './results.js';
import { packageVersion, type Runtime } from './runtime.js';
import { createSimulatedEngine, simulatedNaive, VirtualClock } from './simulate.js';
import { fusedCall, intermediateBytes, makeInputs, maxAbsDiff, unfusedCall, type BenchEngine, type Call, type Inputs } from './workloads.js';

interface RunPlan {
  id: string;
  label: string;
  kind: 'cpu' | 'webgpu' | 'js' | 'peer';
  threads: number;
  weight: number;
  peer?: Peer;
  /** Known before it starts (no adapter, library missing). */
  skipped?: string;
}

interface LayoutEntry {
  name: LayoutName;
  perSeq: Map<number, { layout: Layout; nnz: number; density: number; options: Record<string, unknown> }>;
}

/** Unfused intermediates above this would not fit the 4 GiB of a wasm32 memory beside the inputs. */
const MAX_INTERMEDIATE_BYTES = 3 * 2 ** 30;
/** The fused kernels' share of a run's budget; the unfused pipeline gets the rest. */
const FUSED_SHARE = 0.65;
const OPS: Op[] = ['forward', 'backward'];

export interface BenchEnv {
  rt: Runtime;
  argv: string[];
  /** Where progress goes (stderr); null for none. */
  progressOut: Runtime['stderr'] | null;
  /** Called once the flags and layouts have been checked, before anything is measured. */
  onStart?: () => void;
}

export async function runBench(o: BenchOptions, env: BenchEnv): Promise<BenchResults> {
  const { rt } = env;
  const vclock = o.simulate ? new VirtualClock() : null;
  const clock: Clock = vclock ?? wallClock;
  const wallStart = performance.now();
  const machine = rt.machine();
  const threads = o.threads ?? [...new Set([1, machine.parallelism])];
  const seqs = o.seqs ?? defaultSeqs(o.block, o.maxSeq);
  const notes: string[] = [];
  const layouts = buildLayouts(o, seqs);
  env.onStart?.();

  // ---- the runs, in order: CPU first, the GPU last --------------------------------------------
  const runs: RunPlan[] = [];
  if (o.backend !== 'webgpu') {
    for (const t of threads) runs.push({ id: `cpu-${t}t`, label: `cpu · ${t} thread${t === 1 ? '' : 's'}`, kind: 'cpu', threads: t, weight: 1 });
  }
  let naive: NaiveBaseline | null = null;
  if (o.backend !== 'webgpu' && o.naiveMaxSeq >= seqs[0]!) {
    naive = o.simulate ? simulatedNaive(vclock!) : naiveBaseline;
    runs.push({ id: 'js', label: 'naive TypeScript', kind: 'js', threads: 1, weight: 0.2 });
  }
  if (o.peers) {
    // Peers use as many threads as our widest CPU run, and are compared with it.
    for (const peer of await allPeers(Math.max(...threads))) {
      const why = o.simulate ? 'peers are not simulated' : await peer.probe();
      runs.push({ id: `peer-${peer.id}`, label: peer.label, kind: 'peer', threads: 0, weight: why ? 0 : 0.2, peer, ...(why ? { skipped: why } : {}) });
    }
  }
  if (o.backend !== 'cpu') {
    // Mesa's Vulkan loader complains on stderr when this is unset (tools/test.mjs sets it too).
    rt.defaultEnv('XDG_RUNTIME_DIR', '/tmp');
    const probe = o.simulate ? { available: true as const, description: 'simulated' } : await probeGpuAdapter();
    runs.push({
      id: 'webgpu', label: 'webgpu', kind: 'webgpu', threads: 0,
      weight: probe.available ? 0.6 : 0,
      ...(probe.available ? {} : { skipped: `no WebGPU adapter: ${probe.reason}` }),
    });
  }

  // one core's own ceiling, before anything else runs (and never with a GPU device open)
  const ceiling = runs.some((r) => r.kind === 'cpu') && !o.simulate ? await measureCoreCeiling() : null;

  // ---- bookkeeping -----------------------------------------------------------------------------
  const measurements: Measurement[] = [];
  const skipped: Skip[] = [];
  const checks: Check[] = [];
  const runInfos: RunInfo[] = [];
  const predictor = new Predictor();
  const deadKeys = new Set<string>();
  const fusedOutputs = new Map<string, Float32Array[]>(); // run|layout|op at seqs[0], for the checks
  let sampledPeak = rt.rss();
  const budgetMs = o.budget * 1000;
  const start = clock.now();
  const deadline = start + budgetMs;
  const capMs = capFor(o.budget);

  const cellsPerRun = (r: RunPlan) => {
    if (r.skipped) return 0;
    const passes = r.kind === 'cpu' || r.kind === 'webgpu' ? 2 : 1;
    const ns = r.kind === 'js' ? seqs.filter((n) => n <= o.naiveMaxSeq).length : seqs.length;
    const ops = r.kind === 'js' ? naive?.ops.length ?? 1 : r.kind === 'peer' ? r.peer!.ops.length : 2;
    return passes * ns * layouts.length * ops;
  };
  const progress = new Progress(
    env.progressOut ?? rt.stderr,
    runs.reduce((a, r) => a + cellsPerRun(r), 0),
    o.budget,
    env.progressOut !== null,
    () => (clock.now() - start) / 1000,
  );

  let inputsCache: Inputs | null = null;
  const inputsFor = (N: number): Inputs => {
    if (inputsCache?.N !== N) {
      inputsCache = null; // let the previous size go before allocating the next
      inputsCache = o.simulate ? shapeOnlyInputs(o.batch, o.heads, N, o.dim) : makeInputs(o.batch, o.heads, N, o.dim);
    }
    return inputsCache;
  };

  const skip = (s: Skip, key: string) => {
    deadKeys.add(key);
    skipped.push(s);
  };

  // ---- each run ---------------------------------------------------------------------------------
  for (let ri = 0; ri < runs.length; ri++) {
    const run = runs[ri]!;
    const info: RunInfo = { id: run.id, label: run.label, backend: run.kind, ...(run.kind === 'cpu' ? { threads: run.threads } : {}) };
    runInfos.push(info);
    if (run.skipped) {
      info.skipped = run.skipped;
      progress.line(`${run.label}: skipped — ${run.skipped}`);
      continue;
    }
    const weightLeft = runs.slice(ri).filter((r) => !r.skipped).reduce((a, r) => a + r.weight, 0);
    const runStart = clock.now();
    const runBudget = Math.max(0, ((deadline - runStart) * run.weight) / (weightLeft || 1));
    const runDeadline = runStart + runBudget;
    info.budgetS = round(runBudget / 1000, 1);
    progress.line(`${run.label}: up to ${fmtS(runBudget)} of measuring`);

    let engine: BenchEngine | null = null;
    if (run.kind === 'cpu' || run.kind === 'webgpu') {
      try {
        engine = o.simulate
          ? createSimulatedEngine(run.kind, vclock!, run.threads)
          : await createEngine(run.kind === 'cpu' ? { backend: 'cpu', threads: run.threads } : { backend: 'webgpu' });
        info.info = plain(engine.info);
      } catch (e) {
        info.skipped = `could not create the engine: ${(e as Error).message}`;
        progress.line(`${run.label}: skipped — ${info.skipped}`);
        progress.advance(cellsPerRun(run));
        continue;
      }
    } else if (run.kind === 'peer') {
      info.info = plain(run.peer!.info());
    } else if (naive) {
      info.info = { source: naive.source, ops: naive.ops };
    }

    const passes: Array<{ impl: Impl; ops: Op[]; share: number }> =
      run.kind === 'js' ? [{ impl: 'naive', ops: naive!.ops, share: 1 }]
        : run.kind === 'peer' ? [{ impl: `peer:${run.peer!.id}`, ops: [...run.peer!.ops], share: 1 }]
          : [{ impl: 'fused', ops: OPS, share: FUSED_SHARE }, { impl: 'unfused', ops: OPS, share: 1 }];
    // The GPU's first passes run slow (pipeline compilation, clocks ramping up): warm it longer.
    const warmups = run.kind === 'webgpu' ? 3 : 1;

    const cell = async (pass: { impl: Impl }, entry: LayoutEntry, N: number, op: Op, cellDeadline: number, cellCap: number): Promise<void> => {
      const L = entry.perSeq.get(N)!;
      const key = `${run.id}|${entry.name}|${pass.impl}|${op}`;
      const cellLabel = `${run.label} · ${pass.impl} ${op} · ${entry.name} N=${N}`;
      if (deadKeys.has(key)) {
        progress.advance();
        return;
      }
      const base = { run: run.id, layout: entry.name, impl: pass.impl, op, N };
      if (run.kind === 'peer' && run.peer!.kind === 'dense' && entry.name !== 'dense') {
        deadKeys.add(key);
        progress.advance();
        return;
      }
      const inter = intermediateBytes(pass.impl, op, o.batch, L.nnz, o.block);
      if (inter > MAX_INTERMEDIATE_BYTES) {
        skip({ ...base, reason: `would materialise ${(inter / 2 ** 30).toFixed(1)} GiB of score blocks (over ${MAX_INTERMEDIATE_BYTES / 2 ** 30} GiB)` }, key);
        progress.advance();
        return;
      }
      const work = o.batch * L.nnz * o.block * o.block * o.dim;
      const hasSmaller = measurements.some((m) => m.run === run.id && m.layout === entry.name && m.impl === pass.impl && m.op === op);
      const guess = predictor.predict(run.id, run.kind, run.threads, entry.name, pass.impl, op, N, work);
      const policy: RepPolicy = {
        ...DEFAULT_REPS,
        fixedReps: o.reps,
        capMs,
        // Slow enough that a warm-up would cost a rep, and already warm at a smaller size
        // (or plain JavaScript, which a multi-second call warms up by itself).
        warmup: (hasSmaller || run.kind === 'js') && guess.ms > 2 * capMs ? 0 : warmups,
      };
      const cost = expectedCost(guess.ms, policy);
      const now = clock.now();
      const room = Math.min(cellDeadline - now, cellCap);
      if (cost > room) {
        const why = cost > cellCap && cellDeadline - now > cellCap
          ? `predicted ${fmtS(guess.ms)} a call (from ${guess.basis}), ${fmtS(cost)} with warm-up and reps: over the ${fmtS(cellCap)} one measurement may take`
          : `predicted ${fmtS(guess.ms)} a call (from ${guess.basis}), ${fmtS(cost)} with warm-up and reps: only ${fmtS(Math.max(0, cellDeadline - now))} of this layout's share of the budget left`;
        skip({ ...base, reason: why }, key);
        progress.advance();
        return;
      }

      progress.current(cellLabel);
      const x = inputsFor(N);
      try {
        let timed: { samples: number[]; warmup: number; last: Float32Array[]; notes?: string[] };
        if (run.kind === 'peer') {
          const res = await run.peer!.measure(
            { inputs: x, layout: L.layout, layoutName: entry.name, scale: 1 / Math.sqrt(o.dim) },
            op,
            { warmup: policy.warmup, reps: o.reps ?? DEFAULT_REPS.maxReps, capMs },
          );
          if (typeof res === 'string') {
            skip({ ...base, reason: res }, key);
            progress.advance();
            return;
          }
          timed = { samples: res.samples, warmup: res.warmup, last: res.outputs ?? [], notes: res.notes ?? [] };
        } else {
          let call: Call;
          if (pass.impl === 'fused') call = fusedCall(engine!, x, L.layout, op);
          else if (pass.impl === 'unfused') call = await unfusedCall(engine!, x, L.layout, op);
          else call = naive!.prepare(x, L.layout, op);
          timed = await measure(call, clock, policy, cellDeadline);
        }
        const st = stats(timed.samples);
        const rss = rt.rss();
        sampledPeak = Math.max(sampledPeak, rss);
        const flops = flopsFor(op, o.batch, L.nnz, o.block, o.dim);
        const m: Measurement = {
          ...base, B: o.batch, H: o.heads, D: o.dim, block: o.block, nnz: L.nnz, density: L.density, flops,
          ms: mapStats(st, (v) => round(v, 4)), reps: timed.samples.length, warmup: timed.warmup,
          samples: timed.samples.map((v) => round(v, 4)), gflops: round(flops / (st.median * 1e6), 3),
          rssBytes: rss, intermediateBytes: inter,
        };
        const mNotes = [...(timed.notes ?? [])];
        if (timed.samples.length === 1 && o.reps === null) mNotes.push('one timed run: slower than the per-measurement cap');
        if (mNotes.length) m.notes = mNotes;
        measurements.push(m);
        predictor.record({ ...base, work, ms: st.median });
        if (timed.last.length) checkAgainstFused(run.id, entry.name, pass.impl, op, N, timed.last);
        if (pass.impl === 'fused' && N === seqs[0]) fusedOutputs.set(`${run.id}|${entry.name}|${op}`, timed.last);
        if (pass.impl === 'fused' && N === seqs[0] && run.id === runs[0]!.id) fusedOutputs.set(`first|${entry.name}|${op}`, timed.last);
      } catch (e) {
        skip({ ...base, reason: `failed: ${(e as Error).message.split('\n')[0]}` }, key);
        progress.line(`  ${cellLabel}: failed — ${(e as Error).message.split('\n')[0]}`);
      }
      progress.advance();
    };

    // The naive baseline stops at --naive-max-seq (it is there for scale, not for the curve).
    const ladder = run.kind === 'js' ? seqs.filter((n) => n <= o.naiveMaxSeq) : seqs;

    try {
      for (const pass of passes) {
        const passStart = clock.now();
        const passDeadline = passStart + (runDeadline - passStart) * pass.share;
        // One measurement may take a seventh of the run, or half of the naive run: that baseline
        // is wanted at a few small sizes only, where one plain-JavaScript call takes seconds.
        const cellCap = Math.max(3 * capMs, (run.kind === 'js' ? 0.5 : 0.15) * runBudget);
        // Calibration: every layout at the smallest N, sparsest first, so that every later
        // prediction comes from a measurement of the same layout rather than a guess.
        const bySparsity = [...layouts].sort((a, b) => a.perSeq.get(seqs[0]!)!.nnz - b.perSeq.get(seqs[0]!)!.nnz);
        for (const op of pass.ops) for (const entry of bySparsity) await cell(pass, entry, seqs[0]!, op, passDeadline, cellCap);
        // Then each layout climbs the ladder with an equal share of what is left of the pass,
        // dense first: the most expensive, it stops earliest, and what it leaves flows to the
        // sparse layouts' longer N.
        const order = [...layouts].sort((a, b) => Number(b.name === 'dense') - Number(a.name === 'dense'));
        for (let li = 0; li < order.length; li++) {
          const entry = order[li]!;
          const layoutStart = clock.now();
          const layoutDeadline = layoutStart + Math.max(0, passDeadline - layoutStart) / (order.length - li);
          for (const N of ladder.slice(1)) for (const op of pass.ops) await cell(pass, entry, N, op, layoutDeadline, cellCap);
        }
      }
    } finally {
      if (engine) await engine.close();
      if (run.kind === 'peer') await run.peer!.close();
      for (const k of [...fusedOutputs.keys()]) if (k.startsWith(`${run.id}|`)) fusedOutputs.delete(k);
    }
    info.usedS = round((clock.now() - runStart) / 1000, 1);
  }
  progress.finish();

  function checkAgainstFused(run: string, layout: string, impl: Impl, op: Op, N: number, out: Float32Array[]): void {
    if (impl === 'fused' || N !== seqs[0] || o.simulate) return;
    // The naive and peer runs have no fused outputs of their own: they compare with the first CPU run's.
    const ref = fusedOutputs.get(`${run}|${layout}|${op}`) ?? fusedOutputs.get(`first|${layout}|${op}`);
    if (!ref) return;
    const diff = maxAbsDiff(out, ref);
    const maxAbs = ref.reduce((a, t) => t.reduce((b, v) => Math.max(b, Math.abs(v)), a), 0);
    const ok = Number.isFinite(diff) && diff <= 1e-3 * (1 + maxAbs);
    checks.push({ run, layout, impl, op, N, maxAbsDiff: diff, maxAbs, ok });
    if (!ok) notes.push(`${impl} ${op} on ${run} (${layout}, N=${N}) differs from the fused kernels by ${diff} (max |fused| ${maxAbs.toPrecision(3)})`);
  }

  if (o.simulate) notes.push('simulated: the timings come from a cost model, not from running kernels (--simulate)');
  const loadAfter = rt.loadAverage();
  // The load before the run is others' work; after it, it includes this run's own threads.
  const busy = machine.loadAverage[0] ?? 0;
  if (!o.simulate && busy > Math.max(1, machine.cores * 0.5)) {
    notes.push(`the machine was busy when the run started (1-minute load average ${busy} on ${machine.cores} cores): other processes shared the CPU, so timings are noisy and thread scaling is understated`);
  }
  const dead = runInfos.filter((r) => r.skipped);
  for (const r of dead) notes.push(`${r.label} skipped: ${r.skipped}`);

  const maxRss = rt.maxRss();
  return {
    schema: SCHEMA,
    createdAt: new Date().toISOString(),
    argv: env.argv,
    simulated: o.simulate,
    options: { ...o, seqs, threads, capMs },
    machine: { ...machine, loadAverageAfter: loadAfter },
    ceiling,
    runtime: { ...rt.info, blocksparse: (await packageVersion(rt)) ?? 'unknown', dependencies: {} },
    formulas: FLOP_FORMULAS,
    runs: runInfos,
    layouts: layouts.map((l) => layoutInfo(l, o)),
    measurements,
    skipped,
    fits: computeFits(measurements).map((f) => ({ ...f, exponent: round(f.exponent, 3) })),
    checks,
    notes,
    memory: { peakRssBytes: maxRss, sampledPeakRssBytes: Math.max(sampledPeak, rt.rss()) },
    durationS: round((performance.now() - wallStart) / 1000, 2),
  };
}

/** Builds every layout at every length up front: a config DeepSpeed would reject fails here, as a usage error. */
function buildLayouts(o: BenchOptions, seqs: number[]): LayoutEntry[] {
  return o.layouts.map((name) => {
    const perSeq: LayoutEntry['perSeq'] = new Map();
    for (const N of seqs) {
      let layout: Layout;
      let options: Record<string, unknown>;
      try {
        const config = LAYOUTS[name].config(o.heads, o.block, N);
        layout = config.makeLayout(N);
        options = config.toJSON();
      } catch (e) {
        throw new UsageError(`--config ${name} cannot make a layout for --seq ${N} with --block ${o.block} and --heads ${o.heads}: ${(e as Error).message}`);
      }
      const d = describeLayout(layout);
      perSeq.set(N, { layout, nnz: d.nnz, density: d.density, options });
    }
    return { name, perSeq };
  });
}

function layoutInfo(l: LayoutEntry, o: BenchOptions): LayoutInfo {
  const spec = LAYOUTS[l.name];
  const first = [...l.perSeq.values()][0]!;
  const differs = (opts: Record<string, unknown>) => JSON.stringify(opts) !== JSON.stringify(first.options);
  return {
    name: l.name,
    className: spec.className,
    summary: spec.summary,
    options: { ...first.options, numHeads: o.heads, block: o.block },
    perSeq: [...l.perSeq].map(([N, v]) => ({ N, nnz: v.nnz, density: round(v.density, 6), ...(differs(v.options) ? { options: v.options } : {}) })),
  };
}

function shapeOnlyInputs(B: number, H: number, N: number, D: number): Inputs {
  const t = () => ({ data: new Float32Array(0), shape: [B, H, N, D] });
  return { B, H, N, D, q: t(), k: t(), v: t(), dout: t() };
}

/** engine.info and peers' info as plain JSON (no functions, no typed arrays). */
function plain(x: unknown): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? String(v) : v))) as Record<string, unknown>;
  } catch {
    return { unserialisable: String(x) };
  }
}

function mapStats<T extends object>(s: T, f: (v: number) => number): T {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, f(v as number)])) as T;
}

export function round(v: number, digits: number): number {
  const p = 10 ** digits;
  return Math.round(v * p) / p;
}
