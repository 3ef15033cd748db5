// The answer in a few tables, computed from results.json alone: per backend run and layout, the
// fused times at the largest N the dense baseline also reached (so "× dense" is measured, never
// extrapolated), how far the layout went, and its fitted exponent; then thread scaling, CPU vs
// GPU, the naive baseline and the peers.
import { find, type BenchResults, type Measurement, type Op } from './results.js';
import { fmt, type Table } from './table.js';

export interface SummaryRow {
  run: string;
  layout: string;
  N: number;
  density: number;
  fwd?: Measurement;
  bwd?: Measurement;
  vsDenseFwd?: number;
  vsDenseBwd?: number;
  vsUnfusedFwd?: number;
  vsUnfusedBwd?: number;
  maxN?: number;
  exponent?: number;
}

/** Backend runs (cpu-*, webgpu) that measured something, in run order. */
export function kernelRuns(r: BenchResults): BenchResults['runs'] {
  return r.runs.filter((x) => (x.backend === 'cpu' || x.backend === 'webgpu') && r.measurements.some((m) => m.run === x.id));
}

const layoutsOf = (r: BenchResults) => r.layouts.map((l) => l.name);
const measuredNs = (r: BenchResults, run: string, layout: string, impl: string, op: Op) =>
  r.measurements.filter((m) => m.run === run && m.layout === layout && m.impl === impl && m.op === op).map((m) => m.N);

export function summaryRows(r: BenchResults, run: string): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const denseNs = new Set(measuredNs(r, run, 'dense', 'fused', 'forward'));
  for (const layout of layoutsOf(r)) {
    const ns = measuredNs(r, run, layout, 'fused', 'forward');
    if (ns.length === 0) continue;
    // The largest N with dense and this layout measured both ways, else forward only, else any.
    const both = new Set(measuredNs(r, run, 'dense', 'fused', 'backward'));
    const bwdNs = new Set(measuredNs(r, run, layout, 'fused', 'backward'));
    const full = ns.filter((n) => denseNs.has(n) && both.has(n) && bwdNs.has(n));
    const common = ns.filter((n) => denseNs.has(n));
    const N = Math.max(...(full.length > 0 ? full : common.length > 0 ? common : ns));
    const fwd = find(r.measurements, run, layout, 'fused', 'forward', N)!;
    const bwd = find(r.measurements, run, layout, 'fused', 'backward', N);
    const dF = find(r.measurements, run, 'dense', 'fused', 'forward', N);
    const dB = find(r.measurements, run, 'dense', 'fused', 'backward', N);
    const uF = find(r.measurements, run, layout, 'unfused', 'forward', N);
    const uB = find(r.measurements, run, layout, 'unfused', 'backward', N);
    const ratio = (a?: Measurement, b?: Measurement) => (a && b ? a.ms.median / b.ms.median : undefined);
    rows.push({
      run, layout, N, density: fwd.density, fwd, bwd,
      vsDenseFwd: layout === 'dense' ? undefined : ratio(dF, fwd),
      vsDenseBwd: layout === 'dense' ? undefined : ratio(dB, bwd),
      vsUnfusedFwd: ratio(uF, fwd),
      vsUnfusedBwd: ratio(uB, bwd),
      maxN: Math.max(...ns),
      exponent: r.fits.find((f) => f.run === run && f.layout === layout && f.impl === 'fused' && f.op === 'forward')?.exponent,
    });
  }
  return rows;
}

export function summaryTable(rows: SummaryRow[]): Table {
  return {
    headers: ['layout', 'N', 'density', 'fwd ms', 'bwd ms', 'fwd GFLOP/s', '× dense fwd', '× dense bwd', '× unfused fwd', '× unfused bwd', 'max N', 'fit N^k'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: rows.map((s) => [
      s.layout, fmt.n(s.N), fmt.pct(s.density), fmt.ms(s.fwd?.ms.median), fmt.ms(s.bwd?.ms.median), fmt.gflops(s.fwd?.gflops),
      fmt.x(s.vsDenseFwd), fmt.x(s.vsDenseBwd), fmt.x(s.vsUnfusedFwd), fmt.x(s.vsUnfusedBwd), fmt.n(s.maxN), fmt.exp(s.exponent),
    ]),
  };
}

/** Every fused and unfused measurement of one run, for report.md. */
export function fullTable(r: BenchResults, run: string): Table {
  const ms = r.measurements.filter((m) => m.run === run).sort((a, b) =>
    layoutsOf(r).indexOf(a.layout) - layoutsOf(r).indexOf(b.layout) || a.N - b.N || a.impl.localeCompare(b.impl) || a.op.localeCompare(b.op));
  return {
    headers: ['layout', 'N', 'impl', 'op', 'density', 'median ms', 'min ms', 'reps', 'GFLOP/s', 'intermediates', 'RSS after'],
    align: ['l', 'r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: ms.map((m) => [
      m.layout, String(m.N), m.impl, m.op, fmt.pct(m.density), fmt.ms(m.ms.median), fmt.ms(m.ms.min), String(m.reps), fmt.gflops(m.gflops),
      m.intermediateBytes ? fmt.bytes(m.intermediateBytes) : '—', fmt.bytes(m.rssBytes),
    ]),
  };
}

export interface ScalingRow {
  layout: string;
  op: Op;
  N: number;
  base: Measurement;
  others: Array<{ run: string; threads: number; m?: Measurement; speedup?: number }>;
}

/** Fused times at each thread count, at the largest N every CPU run measured. */
export function threadScaling(r: BenchResults): { threads: number[]; rows: ScalingRow[] } | null {
  const cpu = r.runs.filter((x) => x.backend === 'cpu' && !x.skipped && x.threads !== undefined).sort((a, b) => a.threads! - b.threads!);
  if (cpu.length < 2) return null;
  const rows: ScalingRow[] = [];
  for (const layout of layoutsOf(r)) {
    for (const op of ['forward', 'backward'] as Op[]) {
      const sets = cpu.map((c) => new Set(measuredNs(r, c.id, layout, 'fused', op)));
      const common = [...sets[0]!].filter((n) => sets.every((s) => s.has(n)));
      if (common.length === 0) continue;
      const N = Math.max(...common);
      const base = find(r.measurements, cpu[0]!.id, layout, 'fused', op, N)!;
      rows.push({
        layout, op, N, base,
        others: cpu.slice(1).map((c) => {
          const m = find(r.measurements, c.id, layout, 'fused', op, N);
          return { run: c.id, threads: c.threads!, m, speedup: m ? base.ms.median / m.ms.median : undefined };
        }),
      });
    }
  }
  return rows.length ? { threads: cpu.map((c) => c.threads!), rows } : null;
}

export function scalingTable(s: NonNullable<ReturnType<typeof threadScaling>>): Table {
  const more = s.threads.slice(1);
  return {
    headers: ['layout', 'op', 'N', `${s.threads[0]}t ms`, ...more.flatMap((t) => [`${t}t ms`, `${t}t speedup`])],
    align: ['l', 'l', 'r', 'r', ...more.flatMap(() => ['r', 'r'] as const)],
    rows: s.rows.map((x) => [x.layout, x.op, fmt.n(x.N), fmt.ms(x.base.ms.median), ...x.others.flatMap((o) => [fmt.ms(o.m?.ms.median), fmt.x(o.speedup)])]),
  };
}

/** The fastest CPU run against the GPU, fused, at the largest N both measured. */
export function cpuVsGpu(r: BenchResults): Table | null {
  const gpu = r.runs.find((x) => x.backend === 'webgpu' && !x.skipped);
  const cpu = r.runs.filter((x) => x.backend === 'cpu' && !x.skipped).sort((a, b) => (b.threads ?? 0) - (a.threads ?? 0))[0];
  if (!gpu || !cpu) return null;
  const rows: string[][] = [];
  for (const layout of layoutsOf(r)) {
    for (const op of ['forward', 'backward'] as Op[]) {
      const g = new Set(measuredNs(r, gpu.id, layout, 'fused', op));
      const common = measuredNs(r, cpu.id, layout, 'fused', op).filter((n) => g.has(n));
      if (common.length === 0) continue;
      const N = Math.max(...common);
      const c = find(r.measurements, cpu.id, layout, 'fused', op, N)!;
      const w = find(r.measurements, gpu.id, layout, 'fused', op, N)!;
      rows.push([layout, op, fmt.n(N), fmt.ms(c.ms.median), fmt.ms(w.ms.median), fmt.x(c.ms.median / w.ms.median), fmt.gflops(w.gflops)]);
    }
  }
  if (rows.length === 0) return null;
  return {
    headers: ['layout', 'op', 'N', `${cpu.label} ms`, 'webgpu ms', 'GPU speedup', 'GPU GFLOP/s'],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
    rows,
  };
}

/** Baselines that are not our kernels (naive TypeScript, peers) against our fused kernels on the first CPU run. */
export function baselineTable(r: BenchResults): Table | null {
  const firstCpu = r.runs.find((x) => x.backend === 'cpu' && !x.skipped);
  const lastCpu = [...r.runs].reverse().find((x) => x.backend === 'cpu' && !x.skipped);
  const others = r.measurements.filter((m) => m.impl === 'naive' || m.impl.startsWith('peer:'));
  if (others.length === 0) return null;
  // a second pair of columns only when there is a second CPU run to compare with
  const second = lastCpu && lastCpu !== firstCpu ? lastCpu : undefined;
  const rows = others.map((m) => {
    const ours1 = firstCpu ? find(r.measurements, firstCpu.id, m.layout, 'fused', m.op, m.N) : undefined;
    const row = [m.impl, m.layout, m.op, fmt.n(m.N), fmt.ms(m.ms.median), fmt.ms(ours1?.ms.median), fmt.x(ours1 ? m.ms.median / ours1.ms.median : undefined)];
    if (!second) return row;
    const oursN = find(r.measurements, second.id, m.layout, 'fused', m.op, m.N);
    return [...row, fmt.ms(oursN?.ms.median), fmt.x(oursN ? m.ms.median / oursN.ms.median : undefined)];
  });
  const headers = ['baseline', 'layout', 'op', 'N', 'ms', `${firstCpu?.id ?? 'cpu'} fused ms`, 'fused × faster'];
  const align: Table['align'] = ['l', 'l', 'l', 'r', 'r', 'r', 'r'];
  if (second) {
    headers.push(`${second.id} fused ms`, 'fused × faster');
    align.push('r', 'r');
  }
  return { headers, align, rows };
}

/** Skips grouped by reason kind, one line each: "dense fused backward on cpu-1t from N=8192: …". */
export function skipLines(r: BenchResults): string[] {
  return r.skipped.map((s) => `${s.layout} ${s.impl} ${s.op} on ${s.run}, N ≥ ${s.N}: ${s.reason}`);
}
